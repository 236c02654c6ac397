"""History figures: every stats and chart query, and the page in Chromium after a filter change.
Prints a table; asserts nothing. Targets: each query <= 150 ms at 100,000 attempts;
the page rendered after a filter change <= 1.5 s; the page at 1,000,000 attempts is reported.
"first render data" is every query the page runs for a view (table, stats, run success, charts),
one after the other, as its first render does; the plan of the run-success query is printed.

    .venv/bin/python benchmarks/history.py [--sizes 100000,1000000] [--no-browser]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib import history as H  # noqa: E402
from lib import monitoring  # noqa: E402
from lib.store import Store  # noqa: E402

QUERY_TARGET_MS = 150
PAGE_TARGET_S = 1.5
PROVIDERS = ["openai", "wisgate", "evolink", "custom", "sandbox"]
MODELS = ["gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini", "seedream-4-5"]
ERRORS = ["rate_limited", "timeout", "server_error", "content_policy", "model_not_found", "quota_exceeded", "image_fetch_failed"]
WORDS = "fox owl lantern harbour neon desert forest teapot robot city paper boat lighthouse".split()


def seed(store: Store, rows: int, now: float, days: int = 30) -> None:
    """``rows`` attempts over ``days`` days, one run per 1-3 attempts, some runs probes or re-runs."""
    rng = random.Random(11)
    conn = store.db.conn
    runs, attempts = [], []
    i = 0
    while i < len(range(rows)):
        run_id = uuid.uuid4().hex
        start = now - rng.random() * days * 86400
        kind = rng.choices(["generate", "compare", "rerun", "probe"], [70, 15, 5, 10])[0]
        runs.append((run_id, kind, "bench", start, "{}"))
        hops = min(rng.choice([1, 1, 1, 2, 3]), rows - i)
        provider = rng.choice(PROVIDERS)
        for hop in range(hops):
            model = MODELS[(MODELS.index(rng.choice(MODELS)) + hop) % len(MODELS)]
            r = rng.random()
            if r < 0.78:
                status, err, latency = "succeeded", None, int(rng.lognormvariate(10.2, 0.5))
            elif r < 0.80:
                status, err, latency = "cancelled", None, rng.randint(100, 20000)
            else:
                err = rng.choice(ERRORS)
                status, latency = "failed", (180_000 if err == "timeout" else rng.randint(200, 5000))
            images = 1 if status == "succeeded" else 0
            attempts.append(
                (
                    run_id,
                    start + hop * 5,
                    start + hop * 5 + latency / 1000,
                    latency,
                    provider,
                    "https://x.example/v1/images/generations",
                    model,
                    f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}",
                    '{"size": "1024x1024", "quality": "low", "n": 1}',
                    hop + 1,
                    None if hop == 0 else "gpt-image-2",
                    status,
                    err,
                    429 if err == "rate_limited" else None,
                    images,
                    0.006 * images,
                    "size_quality",
                )
            )
            i += 1
    with store._write_lock:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO runs (id, kind, label, created_at, settings) VALUES (?, ?, ?, ?, ?)", runs)
        conn.executemany(
            "INSERT INTO attempts (run_id, started_at, finished_at, latency_ms, provider, url, model, prompt, params, attempt_no, "
            "fallback_from, status, error_type, http_status, image_count, cost_usd, cost_basis) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attempts,
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    # the covering index of m005_history is what the queries read; the stats table tells SQLite so


def timed(fn, repeat: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def first_render(store: Store, view: H.HistoryView, now: float) -> None:
    """Every query History runs to draw a view: the table, both stats tables with run success, the charts."""
    flt, sflt = view.to_filter(now), view.stats_filter(now)
    H.table_page(store, flt, page=1)
    H.totals(H.group_stats(store, sflt, "model"), store.run_outcomes(sflt))
    H.group_stats(store, sflt, "provider")
    H.timeline(store, sflt, by=view.chart_by, now=now)
    H.latency_bins(store, sflt, read_timeout_s=180)
    H.errors_by_provider(store, sflt)


def run_outcomes_plan(store: Store, view: H.HistoryView, now: float) -> str:
    from lib.store.history import run_outcomes_query

    sql, params = run_outcomes_query(view.stats_filter(now))
    return "; ".join(r[3] for r in store.db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())


def queries(store: Store, now: float) -> list[tuple[str, float]]:
    views = {
        "7 days": H.HistoryView(since="7d"),
        "30 days, one model + error type": H.HistoryView(since="30d", models=["gpt-image-2"], error_types=["rate_limited"]),
        "30 days, text in prompt": H.HistoryView(since="30d", text="lighthouse"),
        "all time": H.HistoryView(since="all"),
    }
    out = []
    for name, view in views.items():
        flt, sflt = view.to_filter(now), view.stats_filter(now)
        out += [
            (f"{name}: table page + count", timed(lambda: H.table_page(store, flt, page=1))),
            (f"{name}: stats per model", timed(lambda: H.group_stats(store, sflt, "model"))),
            (f"{name}: stats per provider", timed(lambda: H.group_stats(store, sflt, "provider"))),
            (f"{name}: timeline by status", timed(lambda: H.timeline(store, sflt, by="status", now=now))),
            (f"{name}: timeline by error type", timed(lambda: H.timeline(store, sflt, by="error_type", now=now))),
            (f"{name}: latency bins", timed(lambda: H.latency_bins(store, sflt, read_timeout_s=180))),
            (f"{name}: errors per provider", timed(lambda: H.errors_by_provider(store, sflt))),
            (f"{name}: run success (run outcomes)", timed(lambda: store.run_outcomes(sflt))),
            (f"{name}: first render data", timed(lambda: first_render(store, view, now))),
        ]
    out.append(("monitoring: all five rules", timed(lambda: monitoring.check(store, now=now))))
    return out


def page_after_filter_change(data: Path) -> tuple[float, float]:
    """Seconds from opening /history?since=7d to idle, and from picking a status filter to idle again."""
    from playwright.sync_api import sync_playwright

    from tests.support.e2e_support import APP_IDLE, launch_browser, running_app, wait_for_http

    with running_app(data) as (url, proc):
        wait_for_http(url, proc, timeout=120)
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            page.goto(url + "/history?since=7d")
            page.wait_for_selector(APP_IDLE, timeout=120_000)
            page.get_by_text("attempts match").wait_for(timeout=120_000)
            page.wait_for_selector("[data-testid='stVegaLiteChart']", state="attached", timeout=120_000)  # the last tab drawn
            page.wait_for_selector(APP_IDLE, timeout=120_000)
            first = time.perf_counter() - t0
            changes = []
            for status in ("failed", "succeeded", "cancelled"):
                option = page.get_by_role("option", name=status, exact=True)
                for _ in range(5):  # a rerun still settling can close the list again
                    page.wait_for_selector(APP_IDLE, timeout=120_000)
                    page.get_by_role("combobox", name="Status").click()
                    try:
                        option.wait_for(timeout=5_000)
                        break
                    except Exception:
                        page.keyboard.press("Escape")
                t0 = time.perf_counter()
                option.click()
                page.wait_for_function("() => new URL(location.href).searchParams.getAll('status').length > 0")
                page.wait_for_selector(APP_IDLE, timeout=120_000)
                changes.append(time.perf_counter() - t0)
                page.keyboard.press("Escape")
                remove = page.get_by_role("button", name=f"Delete {status}")
                if remove.count():
                    remove.first.click()
                else:
                    page.locator("[data-testid='stMultiSelect']").filter(has_text="Status").get_by_role("button").first.click()
                page.wait_for_function("() => new URL(location.href).searchParams.getAll('status').length == 0")
                page.wait_for_selector(APP_IDLE, timeout=120_000)
            browser.close()
    return first, statistics.median(changes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-queries", action="store_true", help="only the page in Chromium")
    ap.add_argument("--keep", metavar="DIR", help="seed into DIR/<size> once and reuse it on later runs")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows_out = []
    for size in sizes:
        tmp = Path(args.keep) / str(size) if args.keep else Path(tempfile.mkdtemp(prefix="imagelab-history-bench-"))
        try:
            store = Store(data_dir=tmp)
            now = time.time()
            if store.count_attempts() == 0:
                t0 = time.perf_counter()
                seed(store, size, now)
                print(f"\n{size:,} attempts seeded in {time.perf_counter() - t0:.1f} s", flush=True)
            else:
                now = store.db.execute("SELECT max(started_at) FROM attempts").fetchone()[0]
                print(f"\n{size:,} attempts (reused from {tmp})", flush=True)
            results = [] if args.no_queries else queries(store, now)
            if results:
                print(f"run success plan (7 days): {run_outcomes_plan(store, H.HistoryView(since='7d'), now)}")
                width = max(len(n) for n, _ in results)
                print(f"{'query'.ljust(width)}  median ms  target {QUERY_TARGET_MS} ms")
                for name, ms in results:
                    flag = "ok" if ms <= QUERY_TARGET_MS else "SLOW"
                    print(f"{name.ljust(width)}  {ms:9.1f}  {flag}")
            worst = max((ms for n, ms in results if not n.endswith("first render data")), default=0.0)
            render = next((ms for n, ms in results if n == "7 days: first render data"), None)
            page = None
            if not args.no_browser:
                store.close()
                try:
                    page = page_after_filter_change(tmp)
                    print(f"page in Chromium: first load {page[0]:.2f} s; after a filter change {page[1]:.2f} s (target {PAGE_TARGET_S} s)")
                except Exception as exc:  # report, do not crash the benchmark
                    print(f"page in Chromium: not measured ({type(exc).__name__}: {exc})")
            rows_out.append((size, worst, render, page))
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    print("\nsummary")
    for size, worst, render, page in rows_out:
        page_text = f"page after a filter change {page[1]:.2f} s (first load {page[0]:.2f} s)" if page else "page not measured"
        render_text = f"first render data (7 days) {render:.0f} ms; " if render is not None else ""
        print(f"  {size:>9,} attempts: slowest query {worst:.0f} ms; {render_text}{page_text}")


if __name__ == "__main__":
    main()
