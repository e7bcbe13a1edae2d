#!/usr/bin/env python3
"""Checks that HF transformers loads a training checkpoint (or final model folder) of ours and
computes the same logits.

    python3 scripts/check_hf_checkpoint.py runs/distill-x/checkpoints/step-000375 [--n 3]

A checkpoint folder written by `cargo xtask distill` / `train-grpo` / `pretrain-tiny` holds
config.json, model.safetensors and the tokenizer files next to the optimizer and trainer state.
This script

1. loads it with `AutoModelForCausalLM.from_pretrained` and fails on any missing, unexpected or
   mismatched weight (the extra optimizer/trainer files must not confuse transformers);
2. loads its tokenizer and chat template with `AutoTokenizer` and renders the book's prompt
   (`render_prompt`, thinking on) for the first --n problems of --data;
3. runs reasoning-rs on the same folder and problems (the `tiny_generate` example of
   reasoning-arith: prompt ids, greedy ids, logits of a full forward pass), and compares:
   prompt ids and greedy ids must be equal, logits within --tol (default 1e-4, f32).

Run it from the repository root. Exits non-zero on any difference.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer

from hf_strict import load_strict

PROMPT = (
    "You are a helpful math assistant.\n"
    "Answer the question and write the final result on a new line as:\n"
    "\\boxed{{ANSWER}}\n\nQuestion:\n{problem}\n\nAnswer:"
)


def ours(folder: Path, data: Path, n: int) -> list:
    """Prompt ids, greedy ids and logits from reasoning-rs, one dict per problem."""
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "reasoning-arith", "--example", "tiny_generate", "--",
         str(folder), str(data), str(n)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", type=Path, default=Path("datasets/arith/test.jsonl"))
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    model = load_strict(args.checkpoint, str(args.checkpoint))
    if model is None:
        return 1
    tok = AutoTokenizer.from_pretrained(args.checkpoint)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    records = [json.loads(l) for l in args.data.read_text().splitlines() if l.strip()][: args.n]
    rust = ours(args.checkpoint, args.data, args.n)
    if len(rust) != len(records):
        print(f"reasoning-rs answered {len(rust)} problems, expected {len(records)}")
        return 1

    failures = 0
    worst = 0.0
    for rec, our in zip(records, rust):
        messages = [{"role": "user", "content": PROMPT.format(problem=rec["problem"])}]
        text = tok.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=True
        )
        prompt_ids = tok(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model.generate(
                torch.tensor([prompt_ids]), max_new_tokens=args.max_new_tokens,
                do_sample=False, eos_token_id=eos, pad_token_id=tok.pad_token_id or 0,
            )
        gen = out[0, len(prompt_ids):].tolist()
        if gen and gen[-1] == eos:
            gen = gen[:-1]
        # Compare logits on our generated sequence, so a divergence still gets a number.
        seq = our["prompt_ids"] + our["generated_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([seq])).logits[0, len(our["prompt_ids"]) - 1:]
        diff = (logits - torch.tensor(our["logits"])).abs().max().item()
        worst = max(worst, diff)
        same_prompt = prompt_ids == our["prompt_ids"]
        same_gen = gen == our["generated_ids"]
        ok = same_prompt and same_gen and diff <= args.tol
        failures += not ok
        print(
            f"{rec.get('unique_id', '?')}: prompt ids {'equal' if same_prompt else 'DIFFER'}, "
            f"{len(gen)} greedy ids {'equal' if same_gen else 'DIFFER'}, "
            f"max |dlogit| {diff:.2e} over {logits.shape[0]} positions -> {'ok' if ok else 'FAIL'}"
        )
    print(
        f"{args.checkpoint}: {type(model).__name__}, {len(records)} problems, "
        f"max |dlogit| {worst:.2e} (tolerance {args.tol:g}): "
        + ("all equal" if failures == 0 else f"{failures} differ")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
