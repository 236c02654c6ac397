"""Compare: grid wall times against the sandbox with a fixed 2 s latency, and
the page's responsiveness in Chromium while 64 cells run. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/compare.py [--latency 2] [--skip-browser]

Targets: 8 cells with 8 parallel requests <= 1.15x one generation alone;
16 cells with 4 in parallel <= 4.3x (a sequential playground takes 8x and 16x).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import compare as K  # noqa: E402
from lib.generation import ClientSettings  # noqa: E402
from lib.jobs import JobRunner  # noqa: E402
from lib.store import Store  # noqa: E402
from tests.support.e2e_support import ROOT, free_port  # noqa: E402

TARGET = K.Target("sandbox", "gpt-image-2")


def grid_wall(store: Store, server, cells: int, parallel: int, size: str = "1024x1024") -> float:
    """Seconds from submitting a grid of ``cells`` rows (one target) to its last cell recorded."""
    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=max(parallel, 1), reserved_workers=0)  # one owner, as the CLI
    try:
        plan = K.build_plan(prompts=[f"benchmark cell {i}" for i in range(cells)], targets=[TARGET], shared={"size": size})
        settings = ClientSettings(provider="sandbox", base_url=server.base_url, max_retries=0, rate_per_s=1000.0, max_concurrency=parallel)
        start = time.perf_counter()
        cid, batch = K.start(store, runner, plan, lambda pid: settings)
        batch.wait()
        wall = time.perf_counter() - start
        view = K.load(store, cid)
        bad = [c.error_type for c in view.cells.values() if not c.ok]
        if bad:
            raise RuntimeError(f"cells failed: {bad}")
        return wall
    finally:
        runner.shutdown(5)


def page_responsiveness(rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    from tests.support.e2e_support import APP_IDLE, launch_browser, running_app, wait_for_http

    with tempfile.TemporaryDirectory() as tmp, running_app(Path(tmp) / "data") as (url, proc), sync_playwright() as p:
        wait_for_http(url, proc)
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(url + "/compare")
        page.get_by_label("Prompts, one per line").wait_for(timeout=60_000)

        def pick(label: str, option: str) -> None:
            page.get_by_role("combobox", name=label).click()
            page.get_by_role("option").filter(has_text=option).first.click()
            page.wait_for_timeout(300)
            page.wait_for_selector(APP_IDLE)

        page.wait_for_timeout(1000)
        page.wait_for_selector(APP_IDLE)
        latency = page.get_by_role("combobox", name="Latency")  # the app's own sandbox at 5 s: 64 cells stay busy a while
        latency.scroll_into_view_if_needed()
        latency.click()
        page.keyboard.type("5 s")
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        page.wait_for_selector(APP_IDLE)
        page.get_by_label("Prompts, one per line").fill("\n".join(f"a lighthouse, variation {i}" for i in range(16)))
        pick("Also vary (optional)", "Quality")
        values = page.get_by_role("combobox", name="Values to compare")
        for value in ("low", "high"):
            values.click()
            page.get_by_role("option").filter(has_text=re.compile(f"^{value}$")).first.click()
            page.wait_for_selector(APP_IDLE)
        page.keyboard.press("Escape")
        page.get_by_text("16 rows x 2 targets x 2 quality values = 64 cells").wait_for(timeout=10_000)
        page.get_by_role("button", name="Run the grid").click()
        page.wait_for_url(re.compile("comparison="), timeout=30_000)
        permalink = page.url
        page.locator(".st-key-cell-r0c0v0").wait_for(timeout=30_000)

        tab_ms, page_ms, reattach_ms, seen = [], [], [], []

        def counts() -> str:
            return page.locator("[data-testid='stCaptionContainer']").filter(has_text="64 cells").first.inner_text().split("·")[-1].strip()

        for _ in range(rounds):
            seen.append(counts())
            for label, key in (("quality high", "r0c0v1"), ("quality low", "r0c0v0")):
                start = time.perf_counter()
                page.get_by_role("tab", name=label).click()
                page.locator(f".st-key-cell-{key}").wait_for(state="visible", timeout=30_000)
                tab_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="History").click()
            page.get_by_role("heading", name="History").wait_for(timeout=30_000)
            page_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            page.goto(permalink)
            page.locator(".st-key-cell-r0c0v0").wait_for(state="visible", timeout=30_000)
            reattach_ms.append((time.perf_counter() - start) * 1000)
        seen.append(counts())
        browser.close()
    print("page while 64 cells run (app sandbox at 5 s, 4 parallel); cells at each round: " + " | ".join(seen))
    print(
        f"  switch tabs of the grid:      median {statistics.median(tab_ms):7.0f} ms   max {max(tab_ms):7.0f} ms   ({len(tab_ms)} switches)"
    )
    print(f"  switch to History:            median {statistics.median(page_ms):7.0f} ms   max {max(page_ms):7.0f} ms")
    print(f"  reopen the grid by permalink: median {statistics.median(reattach_ms):7.0f} ms   max {max(reattach_ms):7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--sizes", default="1024x1024,256x256", help="image sizes to run the grids at (drawing and decoding cost CPU)")
    parser.add_argument("--rounds", type=int, default=3, help="browser rounds")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    # The sandbox runs in a process of its own, as a provider would: drawing its images must not
    # compete with the client for this process's interpreter lock.
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lib.sandbox", "--port", str(port), "--latency", str(args.latency)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = SimpleNamespace(base_url=f"http://127.0.0.1:{port}/v1")
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.05)
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "imagelab.db")
            grid_wall(store, server, 1, 1)  # warm: imports, first connection, first image
            for size in args.sizes.split(","):
                one = statistics.median(grid_wall(store, server, 1, 1, size) for _ in range(3))
                results[size] = (one, grid_wall(store, server, 8, 8, size), grid_wall(store, server, 16, 4, size))
    finally:
        proc.terminate()
        proc.wait(10)
    print(
        f"sandbox latency fixed at {args.latency:.1f} s (sandbox in its own process); load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for size, (one, eight, sixteen) in results.items():
        print(f"{size} images:")
        print(f"  one generation alone:      {one:6.2f} s   (median of 3)")
        print(f"  8 cells, 8 in parallel:    {eight:6.2f} s   {eight / one:5.2f}x one   (target <= 1.15x; sequential 8x)")
        print(f"  16 cells, 4 in parallel:   {sixteen:6.2f} s   {sixteen / one:5.2f}x one   (target <= 4.3x; sequential 16x)")
    if not args.skip_browser:
        page_responsiveness(args.rounds)


if __name__ == "__main__":
    main()
