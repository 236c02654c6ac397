"""Poll lag: how long after an async task completes does its image arrive?

Runs tasks against the sandbox (task dialects A and B, zero latency), in parallel, and
prints per task duration: the median and worst lag from task completion to the image
being saved, and the polls per task. Target: median lag <= 1 s. Asserts nothing.

    .venv/bin/python benchmarks/poll_lag.py [--tasks 6] [--long 30]

--long shortens the long case (default 30 s); the figures say what was run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import constants as C  # noqa: E402
from lib.client import ImageClient  # noqa: E402
from lib.generation import ClientSettings, GenerationRequest  # noqa: E402
from lib.limits import LimiterRegistry  # noqa: E402
from lib.sandbox import SandboxConfig, SandboxServer  # noqa: E402
from tests.support.memory_recorder import MemoryRecorder  # noqa: E402


def one(server, dialect: str, duration: float, out: list) -> None:
    settings = ClientSettings(
        provider="sandbox",
        base_url=server.base_url,
        max_retries=0,
        use_fallback=False,
        rate_per_s=1000,
        burst=1000,
        max_concurrency=64,
        extra_headers={"X-Sandbox-Dialect": dialect},
    )
    events = []
    with ImageClient(settings=settings, recorder=MemoryRecorder(), limiters=REGISTRY) as client:
        result = client.generate(GenerationRequest(prompt="poll lag", size="1024x1024"), on_event=events.append)
    assert result.ok, result.error
    accepted = next(e.elapsed_s for e in events if e.kind == "accepted")
    saved = next(e.elapsed_s for e in events if e.kind == "saved")
    polls = sum(1 for e in events if e.kind == "polling")
    out.append((saved - accepted - duration, polls))


REGISTRY = LimiterRegistry()


def run(duration: float, tasks: int) -> None:
    server = SandboxServer(SandboxConfig(latency_s=(0.0, 0.0), task_duration_s=duration)).start()
    try:
        results: list = []
        threads = [threading.Thread(target=one, args=(server, "task_a" if i % 2 else "task_b", duration, results)) for i in range(tasks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    lags = sorted(r[0] for r in results)
    polls = [r[1] for r in results]
    print(
        f"task {duration:>5.1f} s  x{tasks}: median lag {statistics.median(lags):.2f} s, worst {lags[-1]:.2f} s, "
        f"polls per task {statistics.mean(polls):.1f} (max {max(polls)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=6)
    ap.add_argument("--long", type=float, default=30.0, help="the long task's duration in seconds (default 30)")
    args = ap.parse_args()
    print(
        f"polling: first after {C.TASK_POLL_INITIAL_S} s, x{C.TASK_POLL_BACKOFF} per poll, at most every {C.TASK_POLL_MAX_S} s, "
        f"and just after the finish the task's progress predicts"
    )
    import time

    from lib.sandbox import render_image

    t0 = time.perf_counter()
    render_image("poll lag", 1024, 1024, "png", False, 0, None)
    print(
        f"(the lag includes the sandbox rendering the image on the completing poll, about {time.perf_counter() - t0:.2f} s here, and the download)"
    )
    run(3.0, args.tasks)
    run(args.long, args.tasks)


if __name__ == "__main__":
    main()
