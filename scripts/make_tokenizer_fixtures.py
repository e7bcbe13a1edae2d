#!/usr/bin/env python3
"""Make the reference fixtures of the tokenizer crate (crates/tokenizer/tests/fixtures/).

The Rust tests compare `reasoning_tokenizer` against these files:

  qwen3_encode.json    ids of TRICKY strings from Python `tokenizers` on the Qwen3 tokenizer.json,
                       with `decode(ids)` with and without skip_special_tokens
  qwen3_chat.json      transformers' apply_chat_template on the Qwen3 tokenizer_config.json
                       (thinking on/off/unset, generation prompt, system, multi-turn with <think>)
  smollm2_encode.json  ids of the same strings for the SmolLM2 GGUF from llama.cpp's
                       `llama-tokenize` (the reference) and from transformers' GGUF loader
  smollm2_chat.json    transformers' apply_chat_template with the GGUF's tokenizer.chat_template

Nothing of the tokenizers themselves is written: only our own test strings, ids and prompts.

Usage (run once; needs transformers, tokenizers, gguf, and a llama.cpp `llama-tokenize` built
CPU-only outside the repository, see docs/tokenizer.md):

    REASONING_ASSETS=/path/to/shared python3 scripts/make_tokenizer_fixtures.py \
        --llama-tokenize /work/llamacpp-build/bin/llama-tokenize --llama-cpp-version c392e5094
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Strings chosen to hit the places where tokenizers disagree: digit grouping, whitespace
# runs before digits and at the ends, newlines, contractions in both cases, multi-byte UTF-8
# (emoji with modifiers and ZWJ, CJK, combining marks, decomposed accents for NFC), LaTeX,
# code, and special tokens written inside the text.
TRICKY = [
    "Hello world",
    "2025",
    "12345678901234567890",
    "3.14159 and -0.5e-10",
    "  12",
    "a   7 b\t\t9",
    "x  1  22   333",
    "The answer is $\\boxed{\\frac{3}{4}}$.",
    "\\int_0^1 x^2\\,dx = \\frac{1}{3}",
    "\\begin{align} a &= b \\\\ c &= d \\end{align}",
    "Question: If $x^2 + 3x - 4 = 0$, find all $x$.\nAnswer: $x = 1$ or $x = -4$.",
    "def f(x):\n    return x**2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    '{"key": [1, 2, 3], "nested": {"a": null}}',
    "https://example.com/path?q=1&r=2#frag",
    "😊👍🏽🇺🇸 emoji",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "🧮",
    "中文分词测试：你好，世界！",
    "日本語のテキストとカタカナ",
    "한국어 텍스트",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more",
    "<|im_end|><|im_end|>",
    "<|im_start",
    "<think>\nLet me think.\n</think>\n\nThe answer is 4.",
    "<think></think>",
    "   leading spaces",
    "trailing spaces   ",
    "\n\n\nnewlines\n\n",
    "mixed \r\n line endings\r\n",
    "tabs\tand\t\tmore\ttabs",
    "don't you're I'll we've they'd it's",
    "DON'T YOU'RE I'LL",
    "Ünïcödé àccents naïve café",
    "cafe\u0301 decomposed",
    "ﬁ ligature ① ½ ² numerals",
    "1,000,000.00 $5 €10 ¥20",
    "x=1;y=22;z=333;w=4444",
    "Ω≈ç√∫˜µ≤≥÷ ∑∏∂∇",
    "a\u00a0b nbsp and zero\u200bwidth",
    "𝔸𝕓𝕔 math alphanumerics",
    "ṩ̷̨ combining marks",
    " ",
    "",
]

THINK = "<think>\nThe user wants 2+2. That is 4.\n</think>\n\nThe answer is 4."

# (name, messages, add_generation_prompt, enable_thinking or None for unset)
QWEN3_CHAT = [
    ("user_generation_prompt_thinking_unset", [{"role": "user", "content": "What is 2+2?"}], True, None),
    ("user_generation_prompt_thinking_off", [{"role": "user", "content": "What is 2+2?"}], True, False),
    ("user_generation_prompt_thinking_on", [{"role": "user", "content": "What is 2+2?"}], True, True),
    ("user_without_generation_prompt", [{"role": "user", "content": "What is 2+2?"}], False, None),
    (
        "system_and_user",
        [{"role": "system", "content": "You are a careful math tutor."}, {"role": "user", "content": "Solve $x^2=4$."}],
        True,
        None,
    ),
    (
        "multi_turn_drops_earlier_thinking",
        [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": THINK},
            {"role": "user", "content": "And 3+3?"},
        ],
        True,
        None,
    ),
    (
        "multi_turn_thinking_off",
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": THINK},
            {"role": "user", "content": "And 3+3?"},
        ],
        True,
        False,
    ),
    (
        "last_assistant_keeps_thinking",
        [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": THINK}],
        False,
        None,
    ),
    (
        "assistant_think_without_newlines",
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>short</think>Hello!"}],
        False,
        None,
    ),
    (
        "assistant_without_think_after_last_query",
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
        False,
        None,
    ),
    (
        "two_assistant_turns_after_last_query",
        [
            {"role": "user", "content": "Count."},
            {"role": "assistant", "content": "<think>\nfirst\n</think>\n\nOne."},
            {"role": "assistant", "content": "<think>\nsecond\n</think>\n\nTwo."},
        ],
        True,
        None,
    ),
    (
        "system_not_first_is_a_turn",
        [
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "Now answer in French."},
            {"role": "user", "content": "Bonjour?"},
        ],
        True,
        None,
    ),
    (
        "unicode_and_latex_content",
        [{"role": "user", "content": "Compute $\\frac{1}{2}+\\frac{1}{3}$ 😊 中文"}],
        True,
        False,
    ),
]

SMOLLM2_CHAT = [
    ("user_generation_prompt", [{"role": "user", "content": "What is 2+2?"}], True, None),
    (
        "system_and_user",
        [{"role": "system", "content": "You are a careful math tutor."}, {"role": "user", "content": "Solve $x^2=4$."}],
        True,
        None,
    ),
    (
        "multi_turn_without_generation_prompt",
        [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
        ],
        False,
        None,
    ),
]


def write(path: Path, value) -> None:
    """Writes pretty JSON through a temporary file and a rename."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"wrote {path}")


def chat_cases(tok, cases):
    out = []
    for name, messages, add_gen, thinking in cases:
        kwargs = {} if thinking is None else {"enable_thinking": thinking}
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_gen, **kwargs)
        ids = tok.encode(text, add_special_tokens=False)
        out.append(
            {
                "name": name,
                "messages": messages,
                "add_generation_prompt": add_gen,
                "enable_thinking": thinking,
                "text": text,
                "ids": ids,
            }
        )
    return out


def llama_cpp_ids(binary: str, gguf: Path, text: str):
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(text.encode("utf-8"))
        name = f.name
    try:
        res = subprocess.run(
            [binary, "-m", str(gguf), "-f", name, "--ids", "--no-escape", "--log-disable"],
            capture_output=True,
            check=True,
        )
    finally:
        os.unlink(name)
    return json.loads(res.stdout.decode().strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", default=os.environ.get("REASONING_ASSETS"), help="the shared assets folder")
    ap.add_argument("--llama-tokenize", required=True, help="path to llama.cpp's llama-tokenize binary")
    ap.add_argument("--llama-cpp-version", default="unknown", help="llama.cpp commit the binary was built from")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "crates/tokenizer/tests/fixtures"))
    args = ap.parse_args()
    if not args.assets:
        ap.error("set REASONING_ASSETS or pass --assets")
    assets, out = Path(args.assets), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import tokenizers
    import transformers
    from transformers import AutoTokenizer

    versions = {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__}

    # Qwen3: tokenizer.json through Python tokenizers, chat template through transformers.
    qwen_dir = assets / "qwen3"
    qwen = tokenizers.Tokenizer.from_file(str(qwen_dir / "tokenizer.json"))
    cases = []
    for text in TRICKY:
        ids = qwen.encode(text).ids
        cases.append(
            {
                "text": text,
                "ids": ids,
                "decoded": qwen.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": qwen.decode(ids, skip_special_tokens=True),
            }
        )
    write(out / "qwen3_encode.json", {"reference": "Python tokenizers Tokenizer.encode", **versions, "cases": cases})
    qwen_hf = AutoTokenizer.from_pretrained(str(qwen_dir))
    write(
        out / "qwen3_chat.json",
        {"reference": "transformers apply_chat_template", **versions, "cases": chat_cases(qwen_hf, QWEN3_CHAT)},
    )

    # SmolLM2 GGUF: llama.cpp is the reference; transformers' GGUF loader is recorded beside it.
    gguf = assets / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    smol_hf = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    cases = []
    for text in TRICKY:
        cases.append(
            {
                "text": text,
                "llama_cpp_ids": llama_cpp_ids(args.llama_tokenize, gguf, text),
                "transformers_ids": smol_hf.encode(text, add_special_tokens=True),
            }
        )
    write(
        out / "smollm2_encode.json",
        {
            "reference": "llama.cpp llama-tokenize --ids --no-escape (parse special on, BOS as the model asks)",
            "llama_cpp": args.llama_cpp_version,
            **versions,
            "cases": cases,
        },
    )
    write(
        out / "smollm2_chat.json",
        {"reference": "transformers apply_chat_template (GGUF loader)", **versions, "cases": chat_cases(smol_hf, SMOLLM2_CHAT)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
