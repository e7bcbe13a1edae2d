#!/usr/bin/env python3
"""Checks that HF transformers loads a folder written by `Model::save_hf` as-is.

    python3 scripts/check_hf_export.py EXPORTED_DIR --gguf ORIGINAL.gguf
    python3 scripts/check_hf_export.py EXPORTED_DIR --hf ORIGINAL_HF_DIR

Loads EXPORTED_DIR with `AutoModelForCausalLM.from_pretrained` (which must pick the class named
in its config.json without warnings about missing or unexpected weights), loads the original
with transformers too (its GGUF loader, or the HF folder), and compares the logits of a fixed
token sequence. Prints the largest absolute difference and exits non-zero above the tolerance.
"""

import argparse
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from hf_strict import load_strict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("exported", type=Path)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--gguf", type=Path)
    source.add_argument("--hf", type=Path)
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()

    exported = load_strict(args.exported, str(args.exported))
    if exported is None:
        return 1
    if args.gguf:
        original = AutoModelForCausalLM.from_pretrained(
            str(args.gguf.parent), gguf_file=args.gguf.name, dtype=torch.float32
        )
    else:
        original = AutoModelForCausalLM.from_pretrained(args.hf, dtype=torch.float32)
    vocab = exported.config.vocab_size
    ids = torch.arange(0, 24).reshape(1, 24) * 37 % vocab
    with torch.no_grad():
        a = exported.eval()(ids).logits
        b = original.eval()(ids).logits
    diff = float((a - b).abs().max())
    print(f"{type(exported).__name__}: max |dlogit| vs original = {diff:.3e}")
    return 0 if diff <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
