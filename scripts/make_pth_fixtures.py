#!/usr/bin/env python3
"""Makes the `.pth` fixtures of the `reasoning-model` crate with the book's own Qwen3Model.

The book's scripts save checkpoints as `torch.save(model.state_dict(), path)` of the
`Qwen3Model` class in its `reasoning_from_scratch` package (chapters 6-8: GRPO and
distillation checkpoints; key names `tok_emb.weight`, `trf_blocks.N.att.W_query.weight`,
`final_norm.scale`, `out_head.weight`). This script builds tiny random models of that class,
saves them the same way, and records the book's forward pass as the reference:

crates/model/tests/fixtures/book-pth/
    tied/model.pth                f32, out_head is tok_emb (the book's `load_weights_into_qwen`
                                  ties them by assignment for 0.6B, so both keys share a storage)
    tied/legacy.pth               the same model in the pre-1.6 (non-zip) torch.save format
    tied/reference.safetensors    input_ids [2, T] (i64), logits [2, T, V] (f32, the book's
                                  forward), greedy_ids [2, T + N] (i64, greedy by repeated full
                                  forwards)
    untied-bf16/model.pth         bf16 (the book's default dtype), its own out_head
    untied-bf16/reference.safetensors   the same for this model, its forward run in f32 on the
                                  bf16 weights (what a loader in f32 must reproduce)
    bad/code.pth                  a state dict (one tensor) with an extra entry whose unpickling
                                  would call os.system (never loaded here; a loader must refuse
                                  it unrun)
    bad/root-code.pth             a file whose root object is such a call
    bad/nested.pth                {"model": {one tensor}, "step": 3}: a training checkpoint, not a
                                  plain state dict
    bad/truncated.pth             the first half of tied/model.pth
    bad/garbage.pth               random bytes

Usage (from the repository root):
    pip install torch reasoning-from-scratch==0.2.0 safetensors
    python3 scripts/make_pth_fixtures.py
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from safetensors.torch import save_file
from reasoning_from_scratch.qwen3 import Qwen3Model

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "model" / "tests" / "fixtures" / "book-pth"

SEQ_LEN = 9
NEW_TOKENS = 8

# Qwen3's shape rules at a tiny size: head_dim (8) != emb_dim / n_heads (32 / 4 = 8 is equal,
# so use 6 heads of 8 with emb 32: q width 48 != 32), GQA 6/2, QK-norm, theta 1e6.
TINY = {
    "vocab_size": 512,  # the embedded model's tokenizer, so xtask tests can run it
    "context_length": 64,
    "emb_dim": 32,
    "n_heads": 6,
    "n_layers": 2,
    "hidden_dim": 48,
    "head_dim": 8,
    "qk_norm": True,
    "n_kv_groups": 2,
    "rope_base": 1_000_000.0,
    "dtype": torch.float32,
}


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Matrices ~ N(0, 0.1²), norm scales ~ 1 + N(0, 0.1²), all rounded to bf16 values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.ndim == 1:
                values = 1.0 + 0.1 * torch.randn(p.shape, generator=gen)
            else:
                values = 0.1 * torch.randn(p.shape, generator=gen)
            p.copy_(values.to(torch.bfloat16).to(torch.float32))


def reference(model: Qwen3Model, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, TINY["vocab_size"], (2, SEQ_LEN), generator=gen)
    with torch.no_grad():
        logits = model(ids).float()
        seq = ids.clone()
        for _ in range(NEW_TOKENS):
            nxt = model(seq)[:, -1, :].argmax(dim=-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    return {"input_ids": ids, "logits": logits.contiguous(), "greedy_ids": seq}


class RunsCode:
    """Unpickling this calls os.system: what a malicious checkpoint carries."""

    def __reduce__(self):
        return (os.system, ("echo this checkpoint ran code > /dev/null",))


def main() -> None:
    for sub in ["tied", "untied-bf16", "bad"]:
        (OUT / sub).mkdir(parents=True, exist_ok=True)

    tied = Qwen3Model(TINY)
    randomise(tied, seed=1)
    tied.out_head.weight = tied.tok_emb.weight  # as the book's loader does for 0.6B
    tied.eval()
    save_file(reference(tied, seed=11), OUT / "tied" / "reference.safetensors")
    torch.save(tied.state_dict(), OUT / "tied" / "model.pth")
    torch.save(
        tied.state_dict(),
        OUT / "tied" / "legacy.pth",
        _use_new_zipfile_serialization=False,
    )

    untied = Qwen3Model(TINY)
    randomise(untied, seed=2)
    untied.eval()
    save_file(reference(untied, seed=12), OUT / "untied-bf16" / "reference.safetensors")
    torch.save(untied.to(torch.bfloat16).state_dict(), OUT / "untied-bf16" / "model.pth")

    # The malformed files need only a tensor or two to be realistic, not the whole model.
    small = {"final_norm.scale": tied.state_dict()["final_norm.scale"]}
    torch.save({**small, "extra": RunsCode()}, OUT / "bad" / "code.pth")
    torch.save(RunsCode(), OUT / "bad" / "root-code.pth")
    torch.save({"model": small, "step": 3}, OUT / "bad" / "nested.pth")
    whole = (OUT / "tied" / "model.pth").read_bytes()
    (OUT / "bad" / "truncated.pth").write_bytes(whole[: len(whole) // 2])
    noise = torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(3))
    (OUT / "bad" / "garbage.pth").write_bytes(noise.to(torch.uint8).numpy().tobytes())

    # Sanity: the files hold what they should (weights_only refuses the code-carrying ones).
    sd = torch.load(OUT / "tied" / "model.pth", weights_only=True)
    assert sd["out_head.weight"].data_ptr() == sd["tok_emb.weight"].data_ptr()
    for bad in ["code.pth", "root-code.pth"]:
        try:
            torch.load(OUT / "bad" / bad, weights_only=True)
        except pickle.UnpicklingError:
            pass
        else:
            raise AssertionError(f"{bad} should not load with weights_only")
    for f in sorted(OUT.rglob("*.*")):
        print(f"{f.relative_to(ROOT)}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
