#!/usr/bin/env python3
"""Makes the reference fixtures of the `reasoning-model` and `reasoning-gguf` crates.

HF transformers (PyTorch) is the reference implementation; the `gguf` Python package (llama.cpp's
own reader) is the reference dequantiser. Everything written here is small and committed:

crates/model/tests/fixtures/
    qwen3-tied/                 tiny random Qwen3, tied head, head_dim 32 != hidden/heads = 8, f32
    qwen3-tied.gguf             the same weights as a `qwen3` GGUF (BF16 matrices, F32 norms)
    qwen3-untied-bf16/          tiny random Qwen3, untied head, stored bf16 in two shards
    llama-tied/                 tiny random Llama (SmolLM2-like: tied, eps 1e-5, theta 1e5, 3/1 heads)
    llama-tied.gguf             the same weights as a `llama` GGUF (F16), Q/K rows permuted
                                the way llama.cpp's convert_hf_to_gguf.py permutes them
    */reference.safetensors     input_ids [2, T] (i64), logits [2, T, V] (f32, HF forward),
                                greedy_ids [2, T + N] (i64, HF generate, do_sample=False),
                                logits_bf16 (bf16 checkpoint only: HF forward computed in bf16)
    smollm2_reference.json      (needs --assets) SmolLM2 GGUF through transformers' GGUF loader:
                                chat prompts' ids, last-position logits (top 20 and 64 fixed
                                vocabulary positions), 40 greedy tokens

crates/gguf/tests/fixtures/
    all_types.gguf              one [2, 256] tensor of each type F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K
    all_types_expected.safetensors   gguf-py's dequantisation of each (f32)
    smollm2_dequant.json        (needs --assets) per-tensor sums, sums of squares and 8 sample
                                values of gguf-py's dequantisation of every SmolLM2 tensor

Usage (from the repository root):
    python3 scripts/make_model_fixtures.py [--assets /path/to/shared]

Weights of the tiny models are rounded to bf16-representable values (which f16 also represents
exactly at these magnitudes) so that the GGUF copies dequantise to exactly the same f32 weights
as the safetensors copies, and one set of expected logits serves both. Norm weights are random
around 1 (not the HF default of ones) so a missing or misapplied norm weight shows up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
MODEL_FIX = ROOT / "crates" / "model" / "tests" / "fixtures"
GGUF_FIX = ROOT / "crates" / "gguf" / "tests" / "fixtures"

SEQ_LEN = 10
NEW_TOKENS = 12


def round_to_bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(torch.float32)


def randomise(model: torch.nn.Module, seed: int, std: float) -> None:
    """Fills every parameter: matrices ~ N(0, std), norm weights ~ 1 + N(0, 0.1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:
                values = 1.0 + 0.1 * torch.randn(p.shape, generator=gen)
            else:
                values = std * torch.randn(p.shape, generator=gen)
            p.copy_(round_to_bf16(values))
    # Values below f16's normal range would round differently in the F16 GGUF copy.
    for name, p in model.named_parameters():
        small = (p.abs() < 6.2e-5) & (p != 0)
        if small.any():
            with torch.no_grad():
                p[small] = 0.0


def greedy(model, ids: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Greedy continuation by repeated full forwards; also returns the smallest top-1 margin."""
    out = ids.clone()
    margin = float("inf")
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            logits = model(out).logits[:, -1, :].float()
            top = torch.topk(logits, 2, dim=-1).values
            margin = min(margin, float((top[:, 0] - top[:, 1]).min()))
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
    return out, margin


def tiny_model(kind: str, cfg: dict, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    if kind == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(**cfg))
    else:
        model = LlamaForCausalLM(LlamaConfig(**cfg))
    model = model.float().eval()
    randomise(model, seed, std=0.15)
    if cfg["tie_word_embeddings"]:
        model.tie_weights()
    return model


def write_reference(folder: Path, seed: int, vocab: int, bf16: bool) -> None:
    """Reference outputs of the checkpoint as saved, reloaded by transformers in float32.

    Reloading (rather than reusing the in-memory model) also keeps RoPE's `inv_freq` buffer in
    f32: `model.to(torch.bfloat16)` rounds it, and `.float()` does not restore it.
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, vocab, (2, SEQ_LEN), generator=gen)
    with torch.no_grad():
        logits = model(ids).logits.float()
    greedy_ids, margin = greedy(model, ids)
    assert margin > 1e-3, f"{folder.name}: greedy top-1 margin {margin} too small; change the seed"
    tensors = {
        "input_ids": ids.to(torch.int64).contiguous(),
        "logits": logits.contiguous(),
        "greedy_ids": greedy_ids.to(torch.int64).contiguous(),
    }
    if bf16:
        model16 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
        with torch.no_grad():
            tensors["logits_bf16"] = model16(ids).logits.float().contiguous()
    save_file(tensors, str(folder / "reference.safetensors"))
    print(f"{folder.name}: logits {tuple(logits.shape)}, min greedy margin {margin:.4f}")


def save_hf(model, folder: Path, dtype: torch.dtype, shard: str | None) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    model.to(dtype)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(folder, **kwargs)
    model.float()
    # generation_config.json is not part of what the Rust side reads.
    (folder / "generation_config.json").unlink(missing_ok=True)


# --- GGUF copies of the tiny models -------------------------------------------------------

GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def gguf_name(hf: str) -> str:
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")  # model.layers.N.<module...>.weight
    layer, module = parts[2], ".".join(parts[3:-1])
    return f"blk.{layer}.{GGUF_NAMES[module]}.weight"


def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf.py LlamaModel.permute: split halves -> interleaved pairs."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def write_gguf(model, cfg: dict, arch: str, path: Path, matrix_type: str) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_head_count_kv(cfg["num_key_value_heads"])
    writer.add_rope_freq_base(cfg["rope_theta"])
    writer.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    writer.add_vocab_size(cfg["vocab_size"])
    if arch == "qwen3":
        writer.add_key_length(cfg["head_dim"])
        writer.add_value_length(cfg["head_dim"])
    else:
        writer.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    names = set()
    for hf, p in model.state_dict().items():
        if cfg["tie_word_embeddings"] and hf == "lm_head.weight":
            continue
        if hf in names:
            continue
        names.add(hf)
        w = p.detach().float().numpy()
        if arch == "llama" and hf.endswith("q_proj.weight"):
            w = llama_permute(w, cfg["num_attention_heads"])
        if arch == "llama" and hf.endswith("k_proj.weight"):
            w = llama_permute(w, cfg["num_key_value_heads"])
        name = gguf_name(hf)
        if w.ndim == 1:
            writer.add_tensor(name, w.astype(np.float32))
        elif matrix_type == "F16":
            writer.add_tensor(name, w.astype(np.float16))
        else:
            q = gguf.quants.quantize(w.astype(np.float32), gguf.GGMLQuantizationType.BF16)
            # quantize() returns the raw bytes (uint8), whose shape gguf-py converts itself.
            writer.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.BF16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# The tiny models: folder name, architecture, config, seed (weights and reference inputs), the
# dtype their HF folder is saved in, its shard size (None: one file) and the matrix type of the
# GGUF copy (None: no GGUF copy).
TINY_MODELS = [
    (
        "qwen3-tied", "qwen3",
        dict(
            vocab_size=160, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
            rope_theta=1e6, max_position_embeddings=512, tie_word_embeddings=True,
        ),
        11, torch.float32, None, "BF16",
    ),
    (
        "qwen3-untied-bf16", "qwen3",
        dict(
            vocab_size=160, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6,
            rope_theta=1e4, max_position_embeddings=512, tie_word_embeddings=False,
        ),
        12, torch.bfloat16, "100KB", None,
    ),
    (
        "llama-tied", "llama",
        dict(
            vocab_size=160, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=3, num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=1e5,
            max_position_embeddings=512, tie_word_embeddings=True,
        ),
        13, torch.float32, None, "F16",
    ),
]


def tiny_fixtures() -> None:
    MODEL_FIX.mkdir(parents=True, exist_ok=True)
    for name, arch, cfg, seed, dtype, shard, gguf_type in TINY_MODELS:
        model = tiny_model(arch, cfg, seed=seed)
        folder = MODEL_FIX / name
        save_hf(model, folder, dtype, shard)
        if shard is not None:
            assert (folder / "model.safetensors.index.json").exists(), "expected a sharded checkpoint"
        write_reference(folder, seed, cfg["vocab_size"], bf16=dtype == torch.bfloat16)
        if gguf_type is not None:
            write_gguf(model, cfg, arch, MODEL_FIX / f"{name}.gguf", gguf_type)


# --- Dequantisation references ------------------------------------------------------------


def random_blocks(qtype, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Random raw blocks with finite, moderate f16 scale fields."""
    import gguf

    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)

    def put_f16(offset: int) -> None:
        vals = rng.uniform(-0.05, 0.05, size=n_blocks).astype(np.float16)
        raw[:, offset : offset + 2] = vals.view(np.uint8).reshape(n_blocks, 2)

    T = gguf.GGMLQuantizationType
    if qtype in (T.Q8_0, T.Q4_0):
        put_f16(0)
    elif qtype in (T.Q4_1, T.Q4_K):
        put_f16(0)
        put_f16(2)
    elif qtype == T.Q6_K:
        put_f16(208)
    return raw


def gguf_type_fixtures() -> None:
    import gguf

    GGUF_FIX.mkdir(parents=True, exist_ok=True)
    T = gguf.GGMLQuantizationType
    rng = np.random.default_rng(7)
    shape = (2, 256)
    writer = gguf.GGUFWriter(str(GGUF_FIX / "all_types.gguf"), "test")
    expected = {}
    for qtype in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q6_K]:
        name = f"t_{qtype.name.lower()}"
        if qtype == T.F32:
            values = rng.normal(size=shape).astype(np.float32)
            writer.add_tensor(name, values)
            expected[name] = values
            continue
        if qtype == T.F16:
            values = rng.normal(size=shape).astype(np.float16)
            writer.add_tensor(name, values)
            expected[name] = values.astype(np.float32)
            continue
        if qtype == T.BF16:
            raw = gguf.quants.quantize(rng.normal(size=shape).astype(np.float32), qtype)
        else:
            block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
            n_blocks = shape[0] * shape[1] // block_size
            raw = random_blocks(qtype, n_blocks, rng).reshape(shape[0], -1)
        # uint8 block bytes carry their byte shape; gguf-py converts it to the element shape.
        raw_shape = None if raw.dtype == np.uint8 else shape
        writer.add_tensor(name, raw, raw_shape=raw_shape, raw_dtype=qtype)
        expected[name] = gguf.quants.dequantize(raw, qtype).reshape(shape).astype(np.float32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    save_file(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in expected.items()},
        str(GGUF_FIX / "all_types_expected.safetensors"),
    )
    print(f"all_types.gguf: {len(expected)} tensors")


def smollm2_dequant(gguf_path: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    stats = {}
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
        idx = np.linspace(0, values.size - 1, 8).astype(np.int64)
        stats[t.name] = {
            "type": t.tensor_type.name,
            "shape": [int(d) for d in reversed(t.shape)],
            "sum": float(values.sum()),
            "sum_sq": float((values * values).sum()),
            "sample_index": [int(i) for i in idx],
            "sample": [float(values[i]) for i in idx],
        }
    out = GGUF_FIX / "smollm2_dequant.json"
    out.write_text(json.dumps({"file": gguf_path.name, "tensors": stats}, indent=1) + "\n")
    print(f"{out.name}: {len(stats)} tensors")


SMOLLM2_PROMPTS = [
    "What is 12 + 35?",
    "Name the capital of France.",
    "Write a haiku about the sea.",
    "If a train travels 60 miles in 1.5 hours, what is its average speed?",
]


def smollm2_reference(gguf_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    fixed = [int(i) for i in np.linspace(0, vocab - 1, 64).astype(np.int64)]
    cases = []
    for prompt in SMOLLM2_PROMPTS:
        text = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        ids = tok(text, add_special_tokens=False)["input_ids"]
        x = torch.tensor([ids])
        with torch.no_grad():
            last = model(x).logits[0, -1].float()
            out = model.generate(
                x, attention_mask=torch.ones_like(x), max_new_tokens=40, do_sample=False,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else 2,
            )
        top = torch.topk(last, 20)
        cases.append({
            "prompt": prompt,
            "text": text,
            "input_ids": ids,
            "top_ids": [int(i) for i in top.indices],
            "top_logits": [float(v) for v in top.values],
            "fixed_ids": fixed,
            "fixed_logits": [float(last[i]) for i in fixed],
            "logits_mean": float(last.mean()),
            "logits_std": float(last.std()),
            "greedy_ids": [int(i) for i in out[0, len(ids):]],
            "greedy_text": tok.decode(out[0, len(ids):]),
        })
        print(f"smollm2: {prompt!r} -> {cases[-1]['greedy_text']!r}")
    out = MODEL_FIX / "smollm2_reference.json"
    import transformers

    out.write_text(json.dumps({
        "file": name,
        "reference": f"transformers {transformers.__version__} GGUF loader, float32, torch {torch.__version__}",
        "cases": cases,
    }, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=Path, default=os.environ.get("REASONING_ASSETS"),
                        help="the shared assets folder (default: $REASONING_ASSETS)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    tiny_fixtures()
    gguf_type_fixtures()
    if args.assets:
        gguf_path = Path(args.assets) / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
        smollm2_dequant(gguf_path)
        smollm2_reference(gguf_path)
    else:
        print("no --assets / REASONING_ASSETS: SmolLM2 references not regenerated")


if __name__ == "__main__":
    main()
