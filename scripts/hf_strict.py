"""Loading a model folder with HF transformers, strictly: any missing, unexpected or mismatched
weight is an error. Shared by the check_hf_*.py scripts (run from the repository root)."""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM


def load_strict(folder: Path, label: str):
    """The model in `folder` (f32, eval mode), or None after printing what transformers
    reported as loading problems, prefixed by `label`. Torch computes on 2 threads from here
    on, as the Rust side does on this machine."""
    torch.set_num_threads(2)
    model, info = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, output_loading_info=True
    )
    problems = {k: v for k, v in info.items() if v}
    if problems:
        print(f"{label}: transformers reports loading problems: {problems}")
        return None
    return model.eval()
