#!/usr/bin/env python3
"""Talks to `cargo xtask serve` with the official `openai` Python package and with `curl`,
as users of OpenAI-compatible servers do, and checks what they get back.

Usage (from the repository root, after a build; `.ci/run` runs it):
    pip install openai
    python3 scripts/check_openai_client.py [--xtask target/debug/xtask] [--model M]

It starts the server on a free loopback port, and stops it with SIGTERM at the end (exit
status 0 expected).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys

import openai


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--xtask", default="target/debug/xtask")
    ap.add_argument("--model", default=None, help="default: the embedded model")
    args = ap.parse_args()
    cmd = [args.xtask, "serve", "--port", "0"] + (["--model", args.model] if args.model else [])
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused")
        model = client.models.list().data[0].id
        print(f"server {url}, model {model}")

        question = [{"role": "user", "content": "What is 23 + 19?"}]
        whole = client.chat.completions.create(
            model=model, messages=question, max_tokens=48, temperature=0.7, seed=11
        )
        again = client.chat.completions.create(
            model=model, messages=question, max_tokens=48, temperature=0.7, seed=11
        )
        message = whole.choices[0].message
        reasoning = (message.model_extra or {}).get("reasoning_content") or ""
        assert message.content == again.choices[0].message.content, "same seed, same text"
        assert whole.usage.completion_tokens > 0
        print(f"chat: finish {whole.choices[0].finish_reason}, {whole.usage.completion_tokens} "
              f"tokens, reasoning {len(reasoning)} chars, content {message.content!r}")

        content, streamed_reasoning, usage = "", "", None
        stream = client.chat.completions.create(
            model=model, messages=question, max_tokens=48, temperature=0.7, seed=11,
            stream=True, stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for c in chunk.choices:
                content += c.delta.content or ""
                streamed_reasoning += (c.delta.model_extra or {}).get("reasoning_content") or ""
        assert content == message.content, (content, message.content)
        assert streamed_reasoning == reasoning
        assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
        print("stream: adds up to the whole reply, usage chunk present")

        many = client.chat.completions.create(
            model=model, messages=question, max_tokens=24, temperature=1.0, n=3, seed=5
        )
        assert len(many.choices) == 3
        completion = client.completions.create(model=model, prompt="12+7=", max_tokens=16,
                                               temperature=0)
        assert completion.choices[0].text is not None
        print(f"n=3: {len(many.choices)} choices; completions: {completion.choices[0].text!r}")

        for kwargs, error in [
            ({"temperature": 5}, openai.BadRequestError),
            ({"model": "no-such-model"}, openai.NotFoundError),
        ]:
            try:
                client.chat.completions.create(
                    **{"model": model, "messages": question, "max_tokens": 4, **kwargs}
                )
            except error as e:
                print(f"{kwargs}: {type(e).__name__} {e.status_code}: {e.body['message'] if isinstance(e.body, dict) else e.body}")
            else:
                raise AssertionError(f"{kwargs} should fail with {error.__name__}")

        curl = subprocess.run(
            ["curl", "-sN", url + "/v1/chat/completions", "-H", "Content-Type: application/json",
             "-d", json.dumps({"messages": question, "max_tokens": 16, "stream": True})],
            capture_output=True, text=True, check=True,
        )
        events = [line[6:] for line in curl.stdout.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and len(events) > 2, events[-3:]
        print(f"curl: {len(events)} server-sent events ending in [DONE]")
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
    assert code == 0, f"the server exited with {code} after SIGTERM"
    print("SIGTERM: clean exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
