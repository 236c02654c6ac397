"""The hostile provider, probe by probe: time and peak memory against the targets; then the
app's memory over a 4-cell streaming grid against endless partial images.

Each probe runs in a fresh subprocess (its own peak RSS, read with
``resource.getrusage``) against the hostile provider served over loopback by
this process (tests/hostile_provider.py). Limits are configured low so that
slow probes end soon: read timeout 5 s (the whole answer), download deadline
5 s, task deadline 5 s. Targets:

- every probe ends in under 2x its configured limit;
- peak memory under 600 MB, whatever the provider sends;
- no attempt row left pending;
- no 8-character run of the key, in any case, in the data directory (DB, WAL,
  logs, images) or in what the child printed;
- per probe, also the progress events stored (bounded however much was sent) and
  the images kept (never more than asked for).

The grids: a fresh process runs a 4-cell comparison (the JobRunner, 4 in parallel)
sampling its resident memory, before, the peak during, and after the grid ended
(target: under 600 MB during, back near the baseline after): once streaming against
endless ~1 MB partial images, once against four answers just under the answer cap
at the same time (one large answer is held at a time; the others wait their turn).

Prints tables; asserts nothing (exit 0 either way).

    .venv/bin/python benchmarks/hostile.py [--probe NAME ...] [--bomb-gb 4] [--no-grid]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "sk-bench-" + "Wq3" * 13 + "Zx7K"
READ_TIMEOUT_S = 5.0
DOWNLOAD_TIMEOUT_S = 5.0
TASK_DEADLINE_S = 5.0
MEMORY_TARGET_MB = 600
# One attempt per probe (its limit is then the limit of one request), except where
# retries are the point: an absurd Retry-After must be neither waited for nor retried.
RETRIES = {"retry_after_huge": 3, "retry_after_inf": 3, "retry_after_date": 3}

# probe -> (what it does, the configured limit that bounds it)
PROBES: dict[str, tuple[str, float]] = {
    "healthy": ("a normal answer (baseline)", READ_TIMEOUT_S),
    "near_cap": ("a valid answer just under the answer cap", READ_TIMEOUT_S),
    "gzip_bomb": ("gzip body inflating to gigabytes", READ_TIMEOUT_S),
    "gzip_bomb_error": ("gzip bomb as a 500 page", READ_TIMEOUT_S),
    "huge_length": ("Content-Length: 5 GB, endless body", READ_TIMEOUT_S),
    "endless_chunked": ("endless chunked body", READ_TIMEOUT_S),
    "slow_body": ("body at 4 bytes/s, for 30 s", READ_TIMEOUT_S),
    "slow_download": ("result URL trickling 4 bytes/s", DOWNLOAD_TIMEOUT_S),
    "retry_after_huge": ("429 Retry-After: 999999", READ_TIMEOUT_S),
    "retry_after_inf": ("429 Retry-After: inf, retry-after-ms: 1e400", READ_TIMEOUT_S),
    "retry_after_date": ("429 Retry-After: a date in 2100", READ_TIMEOUT_S),
    "internal_url": ("result URL on another loopback port", READ_TIMEOUT_S),
    "internal_relative": ("protocol-relative //127.0.0.1 URL", READ_TIMEOUT_S),
    "internal_redirect": ("redirect to an internal URL", READ_TIMEOUT_S),
    "file_scheme": ("file:///etc/passwd as result URL", READ_TIMEOUT_S),
    "redirect_loop": ("result URL redirecting in a loop", DOWNLOAD_TIMEOUT_S),
    "task_traversal": ("task id ../../../admin", TASK_DEADLINE_S),
    "lying_png": ("227-byte PNG claiming 4000x4000", READ_TIMEOUT_S),
    "garbage_5xx": ("503 with binary garbage", READ_TIMEOUT_S),
    "echo_400": ("key echoed in error JSON and headers", READ_TIMEOUT_S),
    "echo_401": ("key echoed in a 401", READ_TIMEOUT_S),
    "echo_429": ("key echoed in a 429", READ_TIMEOUT_S),
    "echo_html": ("key echoed in an HTML page", READ_TIMEOUT_S),
    "echo_text": ("key echoed in a text page", READ_TIMEOUT_S),
    "echo_malformed": ("key echoed in malformed JSON", READ_TIMEOUT_S),
    "echo_200_error": ("key echoed in a 200 error object", READ_TIMEOUT_S),
    "echo_usage": ("key echoed in usage and revised prompt", READ_TIMEOUT_S),
    "echo_url": ("key in result URL path and ?token=", READ_TIMEOUT_S),
    "echo_png_text": ("key in a PNG text chunk", READ_TIMEOUT_S),
    "echo_task_a": ("key as task id and status (shape A)", TASK_DEADLINE_S),
    "echo_task_b": ("key as task id and status (shape B)", TASK_DEADLINE_S),
    "echo_task_ok": ("key in task id and signed result URL", TASK_DEADLINE_S),
    "md_error": ("markup and key in every error field", READ_TIMEOUT_S),
    "stream_endless_partials": ("endless ~1 MB partials, one per 50 ms", READ_TIMEOUT_S),
    "stream_flood": ("endless tiny unknown events and partials", READ_TIMEOUT_S),
    "stream_gzip_flood": ("gzip body inflating to tiny events", READ_TIMEOUT_S),
    "stream_many_finals": ("300 completed events for n=1", READ_TIMEOUT_S),
    "stream_after_done": ("an image only after data: [DONE]", READ_TIMEOUT_S),
    "data_many": ("a data list of 300 images for n=1", READ_TIMEOUT_S),
    "budget_spent": ("rate-limit budget announced spent", READ_TIMEOUT_S),
}
GRID_CELLS = 4


def child(probe: str, base_url: str) -> None:
    """Run one probe in this (fresh) process and print one JSON line."""
    from lib import constants as C

    C.DOWNLOAD_TIMEOUT_S = DOWNLOAD_TIMEOUT_S
    from lib.client import ImageClient
    from lib.config import configure_logging
    from lib.generation import ClientSettings, GenerationRequest
    from lib.limits import ProviderLimiter
    from lib.store import Store
    from tests.support.hostile_probes import PROBES as TABLE

    with tempfile.TemporaryDirectory(prefix="imagelab-hostile-") as tmp:
        data = Path(tmp)
        store = Store(data_dir=data)
        configure_logging(data)
        settings = ClientSettings(
            provider="custom",
            base_url=base_url,
            api_key=KEY,
            key_source="typed",
            read_timeout_s=READ_TIMEOUT_S,
            max_retries=RETRIES.get(probe, 0),
            use_fallback=False,
            task_deadline_s=TASK_DEADLINE_S,
        )
        t0 = time.monotonic()
        with ImageClient(
            settings=settings, recorder=store, keeper=store.keeper, limiter=ProviderLimiter(rate_per_s=1000, burst=1000)
        ) as client:
            out = client.generate(GenerationRequest(prompt=f"hostile {probe}", stream=TABLE[probe].stream))
        elapsed = time.monotonic() - t0
        store.flush()
        pending = store.db.execute("SELECT count(*) FROM attempts WHERE status = 'pending'").fetchone()[0]
        stored_events = store.db.execute("SELECT count(*) FROM run_events").fetchone()[0]
        printed = json.dumps({"error": out.error.to_dict() if out.error else None, "events": [e.message for e in out.events]})
        blobs = [p.read_bytes() for p in data.rglob("*") if p.is_file()] + [printed.encode()]
        low_key = KEY.lower().encode()
        grams = {low_key[i : i + 8] for i in range(len(low_key) - 7)}
        leaked = sum(1 for blob in blobs for g in grams if g in blob.lower())
        store.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "probe": probe,
                "elapsed_s": round(elapsed, 2),
                "peak_mb": round(peak_mb, 1),
                "pending": pending,
                "leaks": leaked,
                "events": stored_events,
                "images": len(out.images),
                "outcome": "ok" if out.ok else f"{out.error.error_type}/{out.error.code}",
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="append", help="run only these probes")
    parser.add_argument("--bomb-gb", type=float, default=4.0, help="how far the gzip bomb inflates (GB)")
    parser.add_argument("--no-grid", action="store_true", help="skip the 4-cell grids")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--grid-child", choices=sorted(GRIDS), help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.base_url)
        return 0
    if args.grid_child:
        grid_child(args.base_url, args.stream)
        return 0

    from tests.support.hostile_provider import HostileProvider

    t = time.monotonic()
    server = HostileProvider(bomb_inflated=int(args.bomb_gb * 1024**3)).start()
    print(
        f"hostile provider on {server.origin} (gzip bomb: {len(server.bomb()) / 1024 / 1024:.1f} MB sent, "
        f"{args.bomb_gb:g} GB inflated; made in {time.monotonic() - t:.0f} s)"
    )
    print(
        f"limits: read timeout {READ_TIMEOUT_S:g} s (whole answer), download {DOWNLOAD_TIMEOUT_S:g} s, task deadline {TASK_DEADLINE_S:g} s\n"
    )
    header = (
        f"{'probe':<24} {'what the provider does':<44} {'outcome':<34} {'time s':>7} {'limit':>6} {'peak MB':>8} "
        f"{'events':>6} {'images':>6} {'pending':>7} {'leaks':>5}  verdict"
    )
    print(header)
    print("-" * len(header))
    failures = 0
    try:
        for probe in args.probe or list(PROBES):
            what, limit = PROBES[probe]
            wall = time.monotonic()
            p = subprocess.run(
                [sys.executable, __file__, "--child", probe, "--base-url", server.base_url(probe)],
                capture_output=True,
                text=True,
                timeout=max(60, 4 * limit),
                cwd=ROOT,
                env=dict(os.environ, PYTHONPATH=str(ROOT)),
            )
            lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
            if p.returncode != 0 or not lines:
                failures += 1
                print(f"{probe:<24} {what:<44} child failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(lines[-1])
            ok = (
                r["elapsed_s"] < 2 * limit
                and r["peak_mb"] < MEMORY_TARGET_MB
                and r["pending"] == 0
                and r["leaks"] == 0
                and r["images"] <= 1
                and r["events"] < 100
            )
            failures += not ok
            print(
                f"{probe:<24} {what:<44} {r['outcome']:<34} {r['elapsed_s']:>7.2f} {limit:>6.0f} {r['peak_mb']:>8.0f} "
                f"{r['events']:>6} {r['images']:>6} {r['pending']:>7} {r['leaks']:>5}  "
                f"{'meets targets' if ok else 'MISSES A TARGET'}  (process {time.monotonic() - wall:.1f} s)"
            )
        print(
            f"\n{len(args.probe or PROBES) - failures} of {len(args.probe or PROBES)} probes meet every target "
            f"(time < 2x limit, peak < {MEMORY_TARGET_MB} MB, under 100 events stored, at most the 1 image asked for, "
            "nothing pending, no key fragment)."
        )
        if not args.no_grid:
            for scenario in GRIDS:
                grid_figures(server, scenario)
    finally:
        server.stop()
    return 0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


GRIDS = {  # scenario -> (what the grid is, streamed)
    "stream_endless_partials": ("streaming cells against endless ~1 MB partials", True),
    "near_cap": ("cells answered at once, each just under the answer cap", False),
}


def grid_child(base_url: str, stream: bool) -> None:
    """A 4-cell comparison in this (fresh) process; prints one JSON line of memory figures."""
    import gc
    import threading

    from lib import compare as K
    from lib.generation import ClientSettings
    from lib.jobs import JobRunner
    from lib.limits import LARGE_ANSWERS
    from lib.store import Store

    with tempfile.TemporaryDirectory(prefix="imagelab-grid-") as tmp:
        store = Store(data_dir=Path(tmp))
        runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=GRID_CELLS, reserved_workers=0)  # all 4 cells at once
        plan = K.build_plan(prompts=[f"grid cell {i}" for i in range(GRID_CELLS)], targets=[K.Target("custom", "gpt-image-2")])
        if stream:
            plan.stream, plan.partial_images = True, 2
        settings = ClientSettings(
            provider="custom",
            base_url=base_url,
            api_key=KEY,
            key_source="typed",
            read_timeout_s=READ_TIMEOUT_S,
            max_retries=0,
            rate_per_s=1000.0,
            max_concurrency=GRID_CELLS,
        )
        gc.collect()
        before = _rss_mb()
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(_rss_mb())
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        cid, batch = K.start(store, runner, plan, lambda pid: settings)
        batch.wait()
        wall = time.monotonic() - t0
        done.set()
        sampler.join()
        view = K.load(store, cid)
        outcomes = sorted({f"{c.error_type}" if not c.ok else "ok" for c in view.cells.values()})
        store.flush()
        events = store.db.execute("SELECT count(*) FROM run_events").fetchone()[0]
        runner.shutdown(5)
        del view, batch
        gc.collect()
        after = _rss_mb()
        store.close()
    print(
        json.dumps(
            {
                "before_mb": round(before, 1),
                "peak_mb": round(max(samples or [before]), 1),
                "after_mb": round(after, 1),
                "wall_s": round(wall, 2),
                "cells": GRID_CELLS,
                "outcomes": outcomes,
                "events": events,
                "large_waits": LARGE_ANSWERS.waits,
            }
        )
    )


def grid_figures(server, scenario: str) -> None:
    what, stream = GRIDS[scenario]
    p = subprocess.run(
        [sys.executable, __file__, "--grid-child", scenario, "--base-url", server.base_url(scenario)] + (["--stream"] if stream else []),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or not lines:
        print(f"\ngrid ({scenario}): child failed ({p.returncode}): {p.stderr.strip().splitlines()[-3:]}")
        return
    r = json.loads(lines[-1])
    ok = r["peak_mb"] < MEMORY_TARGET_MB and r["after_mb"] - r["before_mb"] < 100
    print(
        f"\ngrid: {r['cells']} {what}, read timeout {READ_TIMEOUT_S:g} s: "
        f"ended in {r['wall_s']:.1f} s as {', '.join(r['outcomes'])}; {r['events']} events stored; "
        f"{r['large_waits']} waited for the large-answer turn\n"
        f"  app memory (RSS): before {r['before_mb']:.0f} MB, peak during {r['peak_mb']:.0f} MB, after {r['after_mb']:.0f} MB  "
        f"{'meets targets' if ok else 'MISSES A TARGET'} (peak < {MEMORY_TARGET_MB} MB, after within 100 MB of before)"
    )


if __name__ == "__main__":
    sys.exit(main())
