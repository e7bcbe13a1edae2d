"""Check the embedded tiny model against HF transformers.

Loads models/tiny-arith with transformers (Qwen3ForCausalLM + its tokenizer and chat
template), generates greedily for the first test problems, and compares with reasoning-rs:

- the rendered chat prompt's token ids (transformers' apply_chat_template vs ours),
- the greedily generated ids (must be identical),
- the logits of a full forward pass at every generated position (max abs difference <= 1e-4).

Our side comes from `cargo run -p reasoning-arith --example tiny_generate`, so run this from
the repository root:

    python scripts/check_tiny_model.py [--model models/tiny-arith] [--n 5]

With --write-fixture it also writes crates/distill/tests/fixtures/tiny_hf_reference.json (the
transformers ids and a few logit rows per problem), which the Rust test
`tiny_model_matches_the_transformers_reference` compares against without Python. Regenerate the
fixture whenever the shipped model changes.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import AutoTokenizer, Qwen3ForCausalLM

TOL = 1e-4


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/tiny-arith")
    ap.add_argument("--data", default="datasets/arith/test.jsonl")
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--write-fixture", action="store_true")
    args = ap.parse_args()

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = Qwen3ForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    records = [json.loads(line) for line in Path(args.data).read_text().splitlines()[: args.n]]

    ours_text = subprocess.run(
        ["cargo", "run", "-q", "-p", "reasoning-arith", "--example", "tiny_generate", "--",
         args.model, args.data, str(args.n)],
        check=True, capture_output=True, text=True,
    ).stdout
    ours = [json.loads(line) for line in ours_text.splitlines()]
    assert len(ours) == len(records), f"reasoning-rs returned {len(ours)} results for {len(records)} problems"

    prompt_template = (
        "You are a helpful math assistant.\n"
        "Answer the question and write the final result on a new line as:\n"
        "\\boxed{{ANSWER}}\n\nQuestion:\n{problem}\n\nAnswer:"
    )
    fixture = []
    failures = 0
    for rec, our in zip(records, ours):
        messages = [{"role": "user", "content": prompt_template.format(problem=rec["problem"])}]
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=True)
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model.generate(
                torch.tensor([prompt_ids]), max_new_tokens=128, do_sample=False,
                eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id,
            )
        gen = out[0, len(prompt_ids):].tolist()
        if gen and gen[-1] == tok.convert_tokens_to_ids("<|im_end|>"):
            gen = gen[:-1]
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids + gen])).logits[0, len(prompt_ids) - 1:]
        diff = (logits - torch.tensor(our["logits"])).abs().max().item() if our["generated_ids"] == gen else float("nan")
        ok = prompt_ids == our["prompt_ids"] and gen == our["generated_ids"] and diff <= TOL
        failures += not ok
        print(f"{rec['unique_id']}: prompt ids {'equal' if prompt_ids == our['prompt_ids'] else 'DIFFER'}, "
              f"generated {len(gen)} ids {'equal' if gen == our['generated_ids'] else 'DIFFER'}, "
              f"max |logit diff| {diff:.2e} -> {'ok' if ok else 'FAIL'}  {tok.decode(gen)!r}")
        rows = sorted({0, len(gen) // 2, len(gen)})
        fixture.append({
            "unique_id": rec["unique_id"],
            "prompt_ids": prompt_ids,
            "generated_ids": gen,
            "logit_rows": {str(r): logits[r].tolist() for r in rows},
        })
    if args.write_fixture:
        path = Path("crates/distill/tests/fixtures/tiny_hf_reference.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "model": args.model,
            "transformers_check": f"{len(records)} problems, tolerance {TOL}",
            "problems": fixture,
        }) + "\n")
        print(f"wrote {path}")
    print("all equal" if failures == 0 else f"{failures} of {len(records)} problems differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
