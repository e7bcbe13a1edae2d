#!/usr/bin/env python3
"""The PyTorch side of `cargo xtask bench suite --compare-pytorch` (docs/performance.md).

Runs one workload with the PyTorch reference and prints one JSON object (the last line of
stdout) with the same fields the Rust side reports, so the two can be divided:

  generate   prefill `--prompt-tokens` random ids for `--batch` rows, then greedy-decode
             `--new-tokens` more through the KV cache; the host reads every step's argmax ids
             (as a generation loop must, for stop checks and streaming). Reports tokens/s of
             each phase (median over `--repeats` runs after a short warm-up) and peak RSS.
  sample     `--num-samples` sampled continuations (T 0.8, top-p 0.9, no stop) of one prompt:
             one at a time, then as one batch sharing the prompt's prefill.
  sft-step   one supervised fine-tuning step (book chapter 8): forward, masked next-token
             cross-entropy over the answer tokens, backward, global-norm clip 1.0, AdamW.
  grpo-step  one GRPO step (book chapter 6, G rollouts of one prompt): sample G continuations
             (T 0.8, top-p 0.9) with a shared prefill, then the sequence log-probabilities of
             the G rollouts with gradients, loss -(1/G) sum_i A_i sum_t log p, backward, clip,
             AdamW. Advantages are fixed (+-1 alternating): the reward is not timed.

Models:
  --gguf PATH            HF transformers' LlamaForCausalLM loaded from the GGUF with its
                         `gguf_file` loader (dequantised to the same f32 weights ours use).
  --random qwen3-0.6b    a straightforward PyTorch Qwen3 (below) with a preallocated KV cache
                         and `scaled_dot_product_attention`, seeded random weights.

Threads: `torch.set_num_threads(--threads)` (2 by default, the Rust side uses the same number).

Device: `--device cpu` (default) or `--device cuda` (the GPU side of `cargo xtask bench suite
--device wgpu --compare-pytorch --pytorch-device cuda`; needs a CUDA build of torch). On CUDA
every timed region ends with `torch.cuda.synchronize()`, and `peak_gpu_mb` reports
`torch.cuda.max_memory_allocated`.

Install (CPU-only torch is enough):
  python3 -m pip install -r scripts/requirements-bench.txt
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


# The device every tensor lives on (`--device`).
DEV = torch.device("cpu")


def sync():
    """Waits for queued GPU work, so a timer read after it measures the work."""
    if DEV.type == "cuda":
        torch.cuda.synchronize()


# --------------------------------------------------------------------------------------------
# A straightforward Qwen3 (book chapter 2) with a preallocated KV cache.
# --------------------------------------------------------------------------------------------

QWEN3_0_6B = dict(
    vocab_size=151_936,
    hidden_size=1024,
    intermediate_size=3072,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    max_position_embeddings=40_960,
)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return x32.to(dtype) * self.weight


def rope_tables(head_dim: int, theta: float, positions: int):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.arange(positions, dtype=torch.float32)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    # x: [b, h, t, d]; cos/sin: [t, d]
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv, self.d = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        hid = c["hidden_size"]
        self.q_proj = nn.Linear(hid, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(hid, self.kv * self.d, bias=False)
        self.v_proj = nn.Linear(hid, self.kv * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, hid, bias=False)
        self.q_norm = RMSNorm(self.d, c["rms_norm_eps"])
        self.k_norm = RMSNorm(self.d, c["rms_norm_eps"])

    def forward(self, x, cos, sin, cache, start):
        b, t, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(b, t, self.h, self.d)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x).view(b, t, self.kv, self.d)).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv, self.d).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            kc, vc = cache
            kc[:, :, start : start + t] = k
            vc[:, :, start : start + t] = v
            k, v = kc[:, :, : start + t], vc[:, :, : start + t]
        # Prefill from position 0 is causal; one new token sees every cached key.
        out = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, enable_gqa=True)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.h * self.d))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        hid, ffn, eps = c["hidden_size"], c["intermediate_size"], c["rms_norm_eps"]
        self.input_layernorm = RMSNorm(hid, eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(hid, eps)
        self.gate_proj = nn.Linear(hid, ffn, bias=False)
        self.up_proj = nn.Linear(hid, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, hid, bias=False)

    def forward(self, x, cos, sin, cache, start):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache, start)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Qwen3(nn.Module):
    """Qwen3 with tied embeddings; `forward(ids, caches, start)` returns logits of every position."""

    def __init__(self, c, rope_positions: int):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        cos, sin = rope_tables(c["head_dim"], c["rope_theta"], rope_positions)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def new_cache(self, batch: int, capacity: int):
        shape = (batch, self.c["num_key_value_heads"], capacity, self.c["head_dim"])
        dtype = self.embed_tokens.weight.dtype
        return [
            (torch.empty(shape, dtype=dtype, device=DEV), torch.empty(shape, dtype=dtype, device=DEV))
            for _ in self.layers
        ]

    def forward(self, ids, caches=None, start: int = 0, keep: int = 0):
        """Logits of the last `keep` positions (all when 0)."""
        t = ids.shape[1]
        cos, sin = self.cos[start : start + t], self.sin[start : start + t]
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i], start)
        x = self.norm(x)
        if keep:
            x = x[:, -keep:]
        return (x @ self.embed_tokens.weight.T).float()


def random_qwen3(dtype, rope_positions: int, seed: int):
    torch.manual_seed(seed)
    model = Qwen3(QWEN3_0_6B, rope_positions)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.02)
    return model.to(dtype).to(DEV).eval()


# --------------------------------------------------------------------------------------------
# The HF model behind one interface: prefill / step with a cache, full forward for training.
# --------------------------------------------------------------------------------------------


class Runner:
    """Wraps either model: `prefill(ids) -> (logits_last, state)`, `step(ids, state)`."""

    def __init__(self, args, dtype):
        self.kind = "gguf" if args.gguf else "qwen3"
        if args.gguf:
            from transformers import AutoModelForCausalLM

            path = Path(args.gguf)
            self.model = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=dtype
            ).to(DEV)
            self.name = f"transformers {path.name}"
            self.vocab = self.model.config.vocab_size
        else:
            positions = args.prompt_tokens + args.new_tokens + 8
            self.model = random_qwen3(dtype, positions, args.seed)
            self.name = f"pytorch qwen3-0.6b (random weights)"
            self.vocab = QWEN3_0_6B["vocab_size"]

    def prefill(self, ids, capacity: int):
        if self.kind == "gguf":
            from transformers import DynamicCache

            cache = DynamicCache()
            out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
            return out.logits[:, -1].float(), (cache, ids.shape[1])
        caches = self.model.new_cache(ids.shape[0], capacity)
        logits = self.model(ids, caches, 0, keep=1)
        return logits[:, -1], (caches, ids.shape[1])

    def step(self, ids, state):
        cache, pos = state
        if self.kind == "gguf":
            out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
            return out.logits[:, -1].float(), (cache, pos + ids.shape[1])
        logits = self.model(ids, cache, pos, keep=1)
        return logits[:, -1], (cache, pos + ids.shape[1])

    def repeat(self, state, n: int):
        cache, pos = state
        if self.kind == "gguf":
            cache.batch_repeat_interleave(n)
            return cache, pos
        return [(k.repeat_interleave(n, 0), v.repeat_interleave(n, 0)) for k, v in cache], pos

    def logits_last(self, ids, keep: int):
        """Logits of the last `keep` positions of a full (training) forward pass: only the
        scored positions go through the output head, as on the Rust side."""
        if self.kind == "gguf":
            return self.model(input_ids=ids, use_cache=False, logits_to_keep=keep).logits.float()
        return self.model(ids, keep=keep)


# --------------------------------------------------------------------------------------------
# Workloads.
# --------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_ids(gen, rows: int, length: int, vocab: int):
    """Drawn on the host (the same ids on every device), then moved to `DEV`."""
    return torch.randint(0, vocab, (rows, length), generator=gen).to(DEV)


def sampling_generator(seed: int):
    """The generator `torch.multinomial` needs: one on the device the logits live on."""
    return torch.Generator(device=DEV).manual_seed(seed)


def sample_top_p(logits, gen, temperature=0.8, top_p=0.9):
    probs = torch.softmax(logits / temperature, dim=-1)
    sorted_p, order = torch.sort(probs, dim=-1, descending=True)
    cum = sorted_p.cumsum(-1)
    sorted_p[(cum - sorted_p) > top_p] = 0.0
    pick = torch.multinomial(sorted_p, 1, generator=gen)
    return order.gather(-1, pick)


@torch.inference_mode()
def greedy_run(r: Runner, prompts, new_tokens: int):
    start = time.perf_counter()
    logits, state = r.prefill(prompts, prompts.shape[1] + new_tokens)
    nxt = logits.argmax(-1, keepdim=True)
    nxt.tolist()
    prefill = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(new_tokens - 1):
        logits, state = r.step(nxt, state)
        nxt = logits.argmax(-1, keepdim=True)
        nxt.tolist()  # the host needs every id (stop checks, streaming)
    decode = time.perf_counter() - start
    return prefill, decode


def bench_generate(args, r: Runner):
    gen = torch.Generator().manual_seed(args.seed)
    prompts = random_ids(gen, args.batch, args.prompt_tokens, r.vocab)
    greedy_run(r, prompts[:, :16], 4)  # warm-up: allocations, thread pool
    runs = []
    for _ in range(args.repeats):
        prefill, decode = greedy_run(r, prompts, args.new_tokens + 1)
        runs.append(
            dict(
                prefill_seconds=prefill,
                decode_seconds=decode,
                prefill_tokens_per_s=args.batch * args.prompt_tokens / prefill,
                decode_tokens_per_s=args.batch * args.new_tokens / decode,
            )
        )
    return dict(
        prefill_tokens_per_s=statistics.median(x["prefill_tokens_per_s"] for x in runs),
        decode_tokens_per_s=statistics.median(x["decode_tokens_per_s"] for x in runs),
        runs=runs,
    )


@torch.inference_mode()
def sampled_rows(r: Runner, prompt, n: int, new_tokens: int, gen):
    """n sampled continuations of one prompt sharing one prefill; returns generated tokens."""
    logits, state = r.prefill(prompt, prompt.shape[1] + new_tokens)
    if n > 1:
        state = r.repeat(state, n)
        logits = logits.repeat_interleave(n, 0)
    out = []
    nxt = sample_top_p(logits, gen)
    out.append(nxt)
    nxt.tolist()
    for _ in range(new_tokens - 1):
        logits, state = r.step(nxt, state)
        nxt = sample_top_p(logits, gen)
        nxt.tolist()
        out.append(nxt)
    return torch.cat(out, dim=1)


def bench_sample(args, r: Runner):
    prompt = random_ids(torch.Generator().manual_seed(args.seed), 1, args.prompt_tokens, r.vocab)
    gen = sampling_generator(args.seed)
    n = args.num_samples
    sampled_rows(r, prompt[:, :8], 2, 4, gen)  # warm-up
    seq, bat = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(n):
            sampled_rows(r, prompt, 1, args.new_tokens, gen)
        seq.append(n * args.new_tokens / (time.perf_counter() - start))
        start = time.perf_counter()
        sampled_rows(r, prompt, n, args.new_tokens, gen)
        bat.append(n * args.new_tokens / (time.perf_counter() - start))
    s, b = statistics.median(seq), statistics.median(bat)
    return dict(sequential_tokens_per_s=s, batched_tokens_per_s=b, speedup=b / s)


def train_step(r: Runner, opt, ids, weights, start: int):
    """Masked next-token loss over positions start.. (weights [B, T-start]); backward; step."""
    logits = r.logits_last(ids[:, :-1], ids.shape[1] - 1 - start)
    logp = torch.log_softmax(logits, dim=-1)
    picked = logp.gather(-1, ids[:, start + 1 :, None]).squeeze(-1)
    loss = -(picked * weights).sum()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(r.model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss)


def bench_sft(args, r: Runner):
    """Batch of `--batch` sequences of `--seq` tokens: `--prompt-tokens` prompt, the rest answer."""
    gen = torch.Generator().manual_seed(args.seed)
    r.model.train()
    opt = torch.optim.AdamW(r.model.parameters(), lr=1e-5)
    b, t, p = args.batch, args.seq, args.prompt_tokens
    ids = random_ids(gen, b, t, r.vocab)
    start = p - 1
    weights = torch.full((b, t - 1 - start), 1.0 / (b * (t - p)), device=DEV)
    train_step(r, opt, ids, weights, start)  # warm-up (optimizer state allocation)
    times = []
    for _ in range(args.repeats):
        sync()
        t0 = time.perf_counter()
        train_step(r, opt, ids, weights, start)
        sync()
        times.append(time.perf_counter() - t0)
    return dict(step_seconds=statistics.median(times), steps=times, tokens=b * (t - 1))


def bench_grpo(args, r: Runner):
    g = args.num_samples
    prompt = random_ids(torch.Generator().manual_seed(args.seed), 1, args.prompt_tokens, r.vocab)
    gen = sampling_generator(args.seed)
    opt = torch.optim.AdamW(r.model.parameters(), lr=1e-5)
    adv = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(g)], device=DEV)

    def step():
        r.model.eval()
        sync()
        t0 = time.perf_counter()
        rollouts = sampled_rows(r, prompt, g, args.new_tokens, gen)
        t1 = time.perf_counter()
        r.model.train()
        ids = torch.cat([prompt.repeat(g, 1), rollouts], dim=1)
        p = prompt.shape[1]
        logits = r.logits_last(ids[:, :-1], ids.shape[1] - p)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, p:, None]).squeeze(-1)
        loss = -(adv * logp.sum(-1)).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(r.model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        t2 = time.perf_counter()
        return t2 - t0, t1 - t0, t2 - t1

    step()  # warm-up
    runs = [step() for _ in range(args.repeats)]
    return dict(
        step_seconds=statistics.median(x[0] for x in runs),
        rollout_seconds=statistics.median(x[1] for x in runs),
        update_seconds=statistics.median(x[2] for x in runs),
        steps=[x[0] for x in runs],
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=["generate", "sample", "sft-step", "grpo-step"])
    model = ap.add_mutually_exclusive_group(required=True)
    model.add_argument("--gguf", help="GGUF file loaded with transformers' gguf_file loader")
    model.add_argument("--random", choices=["qwen3-0.6b"], help="random-weight architecture")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--num-samples", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256, help="sft-step: tokens per sequence")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()

    global DEV
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: this torch has no usable CUDA device (torch.cuda.is_available() is False)")
    DEV = torch.device(args.device)
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "f32" else torch.bfloat16
    load_start = time.perf_counter()
    r = Runner(args, dtype)
    load_seconds = time.perf_counter() - load_start
    work = {
        "generate": bench_generate,
        "sample": bench_sample,
        "sft-step": bench_sft,
        "grpo-step": bench_grpo,
    }[args.workload]
    result = work(args, r)
    result.update(
        workload=args.workload,
        model=r.name,
        dtype=args.dtype,
        batch=args.batch,
        prompt_tokens=args.prompt_tokens,
        new_tokens=args.new_tokens,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        load_seconds=load_seconds,
        peak_rss_mb=peak_rss_mb(),
        device=args.device,
        gpu=torch.cuda.get_device_name(DEV) if DEV.type == "cuda" else None,
        peak_gpu_mb=torch.cuda.max_memory_allocated(DEV) / 2**20 if DEV.type == "cuda" else None,
        load_average=os.getloadavg()[0],
    )
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
