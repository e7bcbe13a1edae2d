#!/usr/bin/env python3
"""Makes the MMLU reference of `reasoning-eval`: HF transformers' answers to MMLU questions.

The model is SmolLM2-135M-Instruct from its GGUF file, loaded by transformers' own GGUF reader
(dequantised to f32), with the tokenizer transformers builds from the same file, corrected to
llama.cpp's (and SmolLM2's own tokenizer.json's) pre-tokenizer: every digit on its own before
the byte-level split. transformers' GGUF loader drops that step (docs/tokenizer.md), which
changes the ids of a space run before a digit ("θ=  0.47"). Each question
is scored the three ways of the book's appendix F (chF/02_mmlu), one question at a time, with
no batching and no padding, written here from the book's description:

    prompt    = question, "A. <choice 0>" .. "D. <choice 3>" on their own lines, "Answer: "
    letter    greedy generation of up to 8 tokens (stopping at EOS); the prediction is the
              first character, upper-cased, among A-D in the decoded new tokens
    logprob   one forward pass of the prompt; the score of letter L is the next-token
              log-probability of the first token of encode(prompt + L) that differs from
              encode(prompt); the prediction is the first best score in A-D order
    teacher   the score of letter L is the mean log-probability of the tokens of
    forcing   encode(prompt + "L. <choice>") after its common prefix with encode(prompt),
              each conditioned on the whole prompt and the earlier answer tokens

Output (committed, no MMLU text in it): crates/eval/tests/fixtures/mmlu_smollm2_reference.json
with, for each question, its 0-based index in the data file, its subject, the gold letter,
the prompt's token count and each method's prediction (and scores, where the method has them).

Usage (from the repository root; needs torch, transformers, gguf, accelerate):
    python3 scripts/make_mmlu_reference.py --assets ../shared \
        [--subjects high_school_mathematics,abstract_algebra]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

LETTERS = "ABCD"


def format_prompt(q: dict) -> str:
    lines = [q["question"]] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(q["choices"])]
    return "\n".join(lines) + "\nAnswer: "


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def new_ids(tok, prompt: str, prompt_ids: list[int], continuation: str) -> list[int]:
    full = tok(prompt + continuation, add_special_tokens=False)["input_ids"]
    ids = full[common_prefix(full, prompt_ids):]
    if not ids:
        raise ValueError(f"{continuation!r} adds no token to the prompt")
    return ids


def first_best(scores: list[float]) -> int:
    best = 0
    for i, s in enumerate(scores):
        if s > scores[best]:
            best = i
    return best


@torch.no_grad()
def score(model, tok, q: dict) -> dict:
    prompt = format_prompt(q)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    x = torch.tensor([prompt_ids])

    # Method 1: greedy generation, first A-D letter.
    eos = tok.eos_token_id
    out = model.generate(
        x, attention_mask=torch.ones_like(x), max_new_tokens=8, do_sample=False,
        eos_token_id=eos, pad_token_id=eos,
    )[0, len(prompt_ids):].tolist()
    if eos in out:
        out = out[: out.index(eos)]
    letter = None
    for t in out:
        for ch in tok.decode([t]):
            if ch.upper() in LETTERS:
                letter = ch.upper()
                break
        if letter:
            break

    # Method 2: next-token log-probabilities of the letters' first new tokens.
    last = torch.log_softmax(model(x).logits[0, -1].double(), dim=-1)
    letter_ids = [new_ids(tok, prompt, prompt_ids, L)[0] for L in LETTERS]
    logprob = [float(last[i]) for i in letter_ids]

    # Method 3: teacher-forced mean log-probability of "L. <choice>".
    teacher = []
    for L, choice in zip(LETTERS, q["choices"]):
        answer = new_ids(tok, prompt, prompt_ids, f"{L}. {choice}")
        seq = torch.tensor([prompt_ids + answer[:-1]])
        logp = torch.log_softmax(model(seq).logits[0].double(), dim=-1)
        rows = logp[len(prompt_ids) - 1 : len(prompt_ids) - 1 + len(answer)]
        picked = rows.gather(1, torch.tensor(answer).unsqueeze(1))
        teacher.append(float(picked.mean()))

    return {
        "prompt_tokens": len(prompt_ids),
        "letter_pred": letter,
        "generated_ids": out,
        "logprob_letter_ids": letter_ids,
        "logprob_scores": logprob,
        "logprob_pred": LETTERS[first_best(logprob)],
        "teacher_forcing_scores": teacher,
        "teacher_forcing_pred": LETTERS[first_best(teacher)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=Path, required=True, help="the shared assets folder")
    parser.add_argument("--subjects", default="high_school_mathematics,abstract_algebra")
    parser.add_argument(
        "--out", type=Path,
        default=Path("crates/eval/tests/fixtures/mmlu_smollm2_reference.json"),
    )
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    gguf = args.assets / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    from tokenizers import pre_tokenizers

    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), tok.backend_tokenizer.pre_tokenizer]
    )
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    subjects = args.subjects.split(",")
    questions = []
    with open(args.assets / "datasets" / "mmlu_test.jsonl") as f:
        for index, line in enumerate(f):
            q = json.loads(line)
            if q["subject"] in subjects:
                questions.append((index, q))
    start = time.time()
    records = []
    for n, (index, q) in enumerate(questions):
        r = {"index": index, "subject": q["subject"], "gold": LETTERS[q["answer"]]}
        r.update(score(model, tok, q))
        records.append(r)
        if (n + 1) % 50 == 0:
            print(f"{n + 1}/{len(questions)} in {time.time() - start:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": gguf.name,
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "subjects": subjects,
        "questions": records,
    }
    lines = ",\n".join(json.dumps(r) for r in records)
    head = json.dumps({k: v for k, v in payload.items() if k != "questions"})[:-1]
    args.out.write_text(f'{head}, "questions": [\n{lines}\n]}}\n')
    for method in ("letter", "logprob", "teacher_forcing"):
        acc = sum(r[f"{method}_pred"] == r["gold"] for r in records) / len(records)
        print(f"{method}: {acc:.4f}")
    print(f"{len(records)} questions in {time.time() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
