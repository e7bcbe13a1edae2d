#!/usr/bin/env bash
# Re-measures the book's chapter-4 and chapter-5 tables on the embedded tiny model's test split
# (docs/inference.md). Each line is one `cargo xtask` run with its own run folder under
# $OUT (default runs/inference-scaling); the summary rows are collected into $OUT/table.md.
# Usage: scripts/measure_inference_scaling.sh [LIMIT]       (LIMIT problems, default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT="${1:-200}"
OUT="${OUT:-runs/inference-scaling}"
mkdir -p "$OUT"
run() {
    local name="$1"; shift
    echo "== $name: cargo xtask $*" >&2
    cargo xtask "$@" --limit "$LIMIT" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
    python3 - "$OUT/$name/summary.json" "$name" "$*" >> "$OUT/table.md" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
tok = s.get("avg_generated_tokens", s.get("avg_gen_tokens", float("nan")))
print(f"| {sys.argv[2]} | `{sys.argv[3]}` | {100*s['accuracy']:.1f}% | {s['seconds']:.1f} s | {tok:.1f} |")
PY
}
echo "| method | command | accuracy | time | avg generated tokens |" > "$OUT/table.md"
echo "|---|---|---|---|---|" >> "$OUT/table.md"
run greedy-direct       evaluate --no-think
run greedy-think        evaluate
run greedy-cot-prompt   evaluate --prompt cot
run topp-direct         self-consistency --num-samples 1 --no-think
run topp-think          self-consistency --num-samples 1
for n in 3 5 10; do
    run "sc$n-direct"   self-consistency --num-samples "$n" --no-think
    run "sc$n-think"    self-consistency --num-samples "$n"
    run "sc$n-cot"      self-consistency --num-samples "$n" --cot
done
for s in heuristic logprob avg-logprob; do
    run "bon5-$s"       best-of-n --num-samples 5 --scorer "$s"
done
for s in none heuristic logprob; do
    run "refine1-$s"    self-refine --iterations 1 --scorer "$s"
done
cat "$OUT/table.md"
