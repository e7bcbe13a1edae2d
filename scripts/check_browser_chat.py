#!/usr/bin/env python3
"""Drives the chat page of `cargo xtask serve` in a real headless Chromium (appendix G).

It loads `/`, sends a question, watches streamed text arrive, expands the think block, sends a
second turn (the first is sent back as history), and fails if the page makes any request that
leaves the server's loopback address. It saves a screenshot.

Usage (from the repository root, after a build; `.ci/run` runs it):
    apt-get install chromium chromium-driver && pip install selenium
    python3 scripts/check_browser_chat.py [--xtask target/debug/xtask] [--model M]
        [--screenshot docs/img/chat.png]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def wait_for(what, check, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--xtask", default="target/debug/xtask")
    ap.add_argument("--model", default=None)
    ap.add_argument("--screenshot", default=None)
    ap.add_argument("--question", default="What is 23 + 19?")
    ap.add_argument("--follow-up", default="And what is 7 + 8?")
    ap.add_argument("--max-tokens", type=int, default=96, help="typed into the page's field")
    ap.add_argument("--require-streaming", action="store_true",
                    help="fail unless text is seen before the first reply ends (a slow model)")
    args = ap.parse_args()
    cmd = [args.xtask, "serve", "--port", "0"] + (["--model", args.model] if args.model else [])
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    driver = None
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1100,900", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.get(url + "/")
        wait_for("the model name", lambda: driver.find_element(By.ID, "model").text not in ("", "…"))
        model = driver.find_element(By.ID, "model").text
        print(f"page loaded from {url}, model {model}")
        driver.find_element(By.ID, "max_tokens").send_keys(str(args.max_tokens))
        box = driver.find_element(By.ID, "input")
        box.send_keys(args.question)
        box.send_keys(Keys.ENTER)
        def streamed():
            for e in driver.find_elements(By.CSS_SELECTOR, ".msg.assistant"):
                think = e.find_element(By.CSS_SELECTOR, ".think div").get_attribute("textContent")
                answer = e.find_element(By.CSS_SELECTOR, ".answer").get_attribute("textContent")
                if think or answer:
                    return e
            return None

        first = wait_for("streamed text", streamed)
        seen_streaming = first.find_element(By.CSS_SELECTOR, ".stats").text == ""
        wait_for("the first reply to finish",
                 lambda: first.find_element(By.CSS_SELECTOR, ".stats").text != "")
        stats = first.find_element(By.CSS_SELECTOR, ".stats").text
        assert seen_streaming or not args.require_streaming, "no text was seen mid-reply"
        think = first.find_element(By.CSS_SELECTOR, ".think")
        thought = think.find_element(By.CSS_SELECTOR, "div").get_attribute("textContent")
        if thought:
            think.find_element(By.TAG_NAME, "summary").click()
            wait_for("the think block to open", lambda: think.get_attribute("open") is not None)
        answer = first.find_element(By.CSS_SELECTOR, ".answer").get_attribute("textContent")
        print(f"reply 1: {stats}; text seen before the reply ended: {seen_streaming}; think "
              f"block {len(thought)} chars, expanded: {bool(thought)}; answer {answer!r}")
        box.send_keys(args.follow_up)
        box.send_keys(Keys.ENTER)
        wait_for("the second reply", lambda: len(driver.find_elements(By.CSS_SELECTOR, ".msg.assistant .stats")) == 2
                 and driver.find_elements(By.CSS_SELECTOR, ".msg.assistant .stats")[1].text != "")
        print(f"reply 2: {driver.find_elements(By.CSS_SELECTOR, '.msg.assistant .stats')[1].text}")
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
            print(f"screenshot: {args.screenshot}")
        # Every request the page made stayed on the server's address.
        requests = []
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                requests.append(message["params"]["request"]["url"])
        outside = [r for r in requests if not r.startswith(url) and not r.startswith("data:")]
        assert not outside, f"requests that left the loopback server: {outside}"
        bodies = [r for r in requests if r.endswith("/v1/chat/completions")]
        assert len(bodies) == 2, requests
        print(f"{len(requests)} requests, all to {url}")
    finally:
        if driver is not None:
            driver.quit()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
