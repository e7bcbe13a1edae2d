"""Reference numbers for reasoning-train's AdamW and global-norm clipping, from PyTorch.

Writes crates/train/tests/fixtures/adamw_torch.json: two parameters, four steps of given
gradients (two large enough to be clipped), a changing learning rate and weight decay 0.1.
Each step records torch's pre-clip global norm (clip_grad_norm_) and the parameters after
torch.optim.AdamW.step(). The Rust test feeds the same gradients to our AdamW and compares.

Run from the repository root:  python scripts/make_train_fixtures.py
"""

import json
from pathlib import Path

import torch

torch.manual_seed(0)
OUT = Path("crates/train/tests/fixtures/adamw_torch.json")

w = torch.nn.Parameter(torch.randn(3, 2))
b = torch.nn.Parameter(torch.randn(4))
init = {"w": w.detach().tolist(), "b": b.detach().tolist()}
config = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1, "max_norm": 1.0}
opt = torch.optim.AdamW([w, b], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)

lrs = [1e-2, 2e-2, 1.5e-2, 5e-3]
scales = [0.1, 3.0, 0.2, 5.0]  # steps 2 and 4 exceed max_norm and get clipped
steps = []
for lr, scale in zip(lrs, scales):
    gw = torch.randn(3, 2) * scale
    gb = torch.randn(4) * scale
    w.grad, b.grad = gw.clone(), gb.clone()
    norm = torch.nn.utils.clip_grad_norm_([w, b], config["max_norm"])
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    steps.append({
        "lr": lr,
        "grads": {"w": gw.tolist(), "b": gb.tolist()},
        "pre_clip_norm": norm.item(),
        "params": {"w": w.detach().tolist(), "b": b.detach().tolist()},
    })

OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps({
    "torch_version": torch.__version__,
    "config": config,
    "init": init,
    "steps": steps,
}, indent=1) + "\n")
print(OUT)
