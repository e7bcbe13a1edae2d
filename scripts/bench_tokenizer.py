#!/usr/bin/env python3
"""Python side of the tokenizer benchmark (crates/tokenizer/examples/tokenizer_bench.rs).

Measures the same steps on the same texts (MATH-500 problems and solutions): load, encode,
decode (Python `tokenizers`, one text at a time), and chat-template rendering (transformers).
Best of three runs per step.

    python3 scripts/bench_tokenizer.py ../shared/qwen3 ../shared/datasets/math500_test.json
"""

import json
import sys
import time


def best(f):
    times = []
    for _ in range(3):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    folder, dataset = sys.argv[1], sys.argv[2]
    import tokenizers
    from transformers import AutoTokenizer

    rows = json.load(open(dataset, encoding="utf-8"))
    texts = [t for r in rows for t in (r["problem"], r["solution"])]
    t = time.perf_counter()
    tok = tokenizers.Tokenizer.from_file(f"{folder}/tokenizer.json")
    load_s = time.perf_counter() - t
    ids = [tok.encode(x).ids for x in texts]
    n = sum(map(len, ids))
    encode_s = best(lambda: [tok.encode(x).ids for x in texts])
    decode_s = best(lambda: [tok.decode(i, skip_special_tokens=False) for i in ids])
    hf = AutoTokenizer.from_pretrained(folder)
    chat_s = best(
        lambda: [
            hf.apply_chat_template([{"role": "user", "content": r["problem"]}], tokenize=False, add_generation_prompt=True)
            for r in rows
        ]
    )
    print(f"python tokenizers {tokenizers.__version__} {folder}: {len(texts)} texts, {n} tokens")
    print(f"load            {load_s * 1e3:8.1f} ms")
    print(f"encode          {encode_s * 1e3:8.1f} ms  {n / encode_s / 1e6:6.2f} M tokens/s")
    print(f"decode          {decode_s * 1e3:8.1f} ms  {n / decode_s / 1e6:6.2f} M tokens/s")
    print(f"chat template   {chat_s * 1e3:8.1f} ms  {chat_s / len(rows) * 1e6:6.1f} us/prompt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
