"""Compare this crate with the book's chapter-3 grader (rasbt/reasoning-from-scratch).

1. normalize_text: the book's Python function and ours on every MATH-500 answer, every
   extracted answer and the first 300 characters of every saved response.
2. grading: the book's extract_final_candidate + grade_answer against ours (from
   `cargo xtask evaluate-json --out`) on the 1000 saved responses; lists every disagreement.

Usage, from the workspace root (needs sympy; the book's checkout only on PYTHONPATH):

    cargo xtask evaluate-json --input "$REASONING_ASSETS/datasets/math500_model_outputs.jsonl" \
        --out /tmp/labeled.jsonl
    PYTHONPATH=/path/to/reasoning-from-scratch python3 crates/verifier/scripts/compare_with_book.py \
        --labeled /tmp/labeled.jsonl
"""

import argparse
import json
import os
import subprocess

from reasoning_from_scratch.ch03 import extract_final_candidate, grade_answer, normalize_text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--labeled", required=True, help="labeled.jsonl from cargo xtask evaluate-json")
    parser.add_argument("--assets", default=os.environ.get("REASONING_ASSETS", "../shared"))
    args = parser.parse_args()

    datasets = os.path.join(args.assets, "datasets")
    with open(os.path.join(datasets, "math500_test.json"), encoding="utf-8") as f:
        texts = [r["answer"] for r in json.load(f)]
    with open(os.path.join(datasets, "math500_model_outputs.jsonl"), encoding="utf-8") as f:
        responses = [json.loads(line) for line in f if line.strip()]
    for r in responses:
        texts.append(extract_final_candidate(r["generated_text"]))
        texts.append(r["generated_text"][:300])

    ours = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "reasoning-verifier", "--example", "normalize_lines"],
        input="".join(json.dumps(t) + "\n" for t in texts),
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    differ = [(t, normalize_text(t), json.loads(o)) for t, o in zip(texts, ours) if normalize_text(t) != json.loads(o)]
    print(f"normalize_text: {len(texts)} strings, {len(differ)} differ")
    for t, book, mine in differ[:20]:
        print(f"  {t[:60]!r}: book {book[:40]!r}, ours {mine[:40]!r}")

    with open(args.labeled, encoding="utf-8") as f:
        labeled = {r["id"]: r for r in (json.loads(line) for line in f if line.strip())}
    book_correct = ours_correct = 0
    disagreements = []
    for r in responses:
        book = bool(grade_answer(extract_final_candidate(r["generated_text"]), r["gtruth_answer"]))
        mine = labeled[r["id"]]["correct"]
        book_correct += book
        ours_correct += mine
        if book != mine:
            disagreements.append((r["id"], book, r["gtruth_answer"], labeled[r["id"]]["extracted"]))
    print(f"grading: book {book_correct}/{len(responses)}, ours {ours_correct}/{len(responses)}, "
          f"{len(disagreements)} disagreements")
    for rid, book, gt, extracted in disagreements:
        print(f"  {rid}: book says {book}; reference {gt!r}, extracted {extracted[:50]!r}")


if __name__ == "__main__":
    main()
