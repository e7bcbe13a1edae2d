"""PyTorch side of the tiny-model benchmark: the same SFT step and greedy generation as
`cargo run -p reasoning-arith --example bench_tiny`, with HF transformers' Qwen3.

Builds a randomly initialised Qwen3ForCausalLM with models/tiny-arith's config, makes the same
kind of batches (32 chat-templated arithmetic examples, 80% reasoning style, loss on answer
tokens, per-example mean, batches grouped by length), and times forward + backward + global
clipping + torch AdamW. Then times greedy generation of 64 test prompts (left-padded batch,
KV cache) and of one prompt. Threads: torch.set_num_threads(N) with N from --threads.

    python scripts/bench_tiny_torch.py [--steps 20] [--threads 2]
"""

import argparse
import json
import random
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

PROMPT = ("You are a helpful math assistant.\nAnswer the question and write the final result on a new line as:\n"
          "\\boxed{{ANSWER}}\n\nQuestion:\n{p}\n\nAnswer:")


def example(tok, rec, reasoning):
    msgs = [{"role": "user", "content": PROMPT.format(p=rec["problem"])}]
    prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=reasoning)
    steps = "\n".join(l for l in rec["solution"].split("\n") if not l.startswith("\\boxed"))
    target = f"<think>\n{steps}\n</think>\n\n\\boxed{{{rec['answer']}}}" if reasoning else f"\\boxed{{{rec['answer']}}}"
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    t = tok(target, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    return p + t, len(p)


def batch_loss(model, batch):
    width = max(len(ids) for ids, _ in batch) - 1
    inputs = torch.zeros(len(batch), width, dtype=torch.long)
    weights = torch.zeros(len(batch), width)
    targets = torch.zeros(len(batch), width, dtype=torch.long)
    for i, (ids, p) in enumerate(batch):
        inputs[i, : len(ids) - 1] = torch.tensor(ids[:-1])
        targets[i, : len(ids) - 1] = torch.tensor(ids[1:])
        n = len(ids) - p
        weights[i, p - 1: len(ids) - 1] = 1.0 / (n * len(batch))
    logp = torch.log_softmax(model(inputs).logits, dim=-1)
    nll = -logp.gather(2, targets.unsqueeze(-1)).squeeze(-1)
    return (nll * weights).sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-arith")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    tok = AutoTokenizer.from_pretrained(args.model)
    config = Qwen3Config.from_pretrained(args.model)
    model = Qwen3ForCausalLM(config)
    records = [json.loads(l) for l in Path("datasets/arith/train.jsonl").read_text().splitlines()[:4000]]
    examples = [example(tok, r, random.random() < 0.8) for r in records]
    order = list(range(len(examples)))
    random.shuffle(order)
    batches = [order[i:i + 32] for i in range(0, 32 * 16 * (len(order) // (32 * 16)), 32)]
    # Group by length within windows of 16 batches, as the Rust trainer does.
    grouped = []
    for w in range(0, len(batches), 16):
        window = sorted(sum(batches[w:w + 16], []), key=lambda i: len(examples[i][0]))
        grouped += [window[i:i + 32] for i in range(0, len(window), 32)]
    random.shuffle(grouped)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.1)
    model.train()
    times, rates = [], []
    for step in range(args.steps):
        batch = [examples[i] for i in grouped[step % len(grouped)]]
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = batch_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step >= 2:
            times.append(dt)
            rates.append(sum(len(ids) - 1 for ids, _ in batch) / dt)
    times.sort()
    rates.sort()
    print(f"torch {torch.__version__}, {args.threads} threads: sft median {times[len(times)//2]:.3f} s/step, "
          f"median {rates[len(rates)//2]:.0f} input tokens/s per step")

    model.eval()
    tests = [json.loads(l) for l in Path("datasets/arith/test.jsonl").read_text().splitlines()[:64]]
    prompts = [tok.apply_chat_template([{"role": "user", "content": PROMPT.format(p=r["problem"])}], tokenize=False,
                                       add_generation_prompt=True) for r in tests]
    tok.padding_side = "left"
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    for name, n in [("greedy, 1 prompt", 1), ("greedy, 64 prompts", 64)]:
        enc = tok(prompts[:n], return_tensors="pt", padding=True, add_special_tokens=False)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=64, do_sample=False, eos_token_id=eos, pad_token_id=tok.pad_token_id)
        dt = time.perf_counter() - t0
        new = out[:, enc["input_ids"].shape[1]:]
        tokens = int(sum(min(int((row == eos).nonzero()[0]) + 1 if (row == eos).any() else len(row), len(row)) for row in new))
        print(f"torch generate {name}: {tokens} tokens in {dt:.2f} s = {tokens / dt:.0f} tokens/s")


if __name__ == "__main__":
    main()
