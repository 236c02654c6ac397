"""Cold start: from `make run` to the Generate page fully rendered in Chromium.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/startup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.e2e_support import APP_IDLE, launch_browser, running_app  # noqa: E402


def one_start(browser) -> tuple[float, float]:
    """Seconds until the server answers, and until the page is rendered."""
    page = browser.new_page()
    with tempfile.TemporaryDirectory() as tmp, running_app(Path(tmp) / "data") as (url, proc):
        start = time.perf_counter()  # the command has just been spawned
        served = None
        while True:
            try:
                page.goto(url, timeout=2_000)
                served = time.perf_counter() - start
                break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError("the app exited during start-up") from None
                if time.perf_counter() - start > 60:
                    raise TimeoutError("no answer in 60 s") from None
                time.sleep(0.02)
        page.wait_for_selector(APP_IDLE, timeout=60_000)
        page.get_by_role("heading", name="Generate").wait_for()
        page.get_by_role("button", name="Generate").wait_for()
        rendered = time.perf_counter() - start
    page.close()
    return served, rendered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = launch_browser(p)  # the browser is already open, as a user's would be
        results = [one_start(browser) for _ in range(args.rounds)]
        browser.close()
    served = [r[0] for r in results]
    rendered = [r[1] for r in results]
    print(f"cold start over {args.rounds} rounds (make run -> Generate page rendered in Chromium)")
    print("  server answering : " + ", ".join(f"{s:.2f}" for s in served) + f" s  (median {statistics.median(served):.2f} s)")
    print(
        "  page rendered    : "
        + ", ".join(f"{s:.2f}" for s in rendered)
        + f" s  (median {statistics.median(rendered):.2f} s, target <= 4 s)"
    )


if __name__ == "__main__":
    main()
