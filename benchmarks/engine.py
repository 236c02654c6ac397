"""Engine figures: file descriptors after 200 reruns, and limiter events per wait.

- fds: 200 short-lived threads (Streamlit runs every rerun on a new thread) each read
  the store the way the Generate page does; prints descriptors and open connections
  before and after.
- limiter: 12 requests through one limiter capped at 1 in flight, with a post-429
  cooldown in the middle; prints how many "queued" events each wait produced.

    .venv/bin/python benchmarks/engine.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.limits import ProviderLimiter  # noqa: E402
from lib.store import Store  # noqa: E402


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def reruns(n: int = 200) -> None:
    store = Store(Path(tempfile.mkdtemp()) / "bench.db")
    store.recent_runs()
    before, conns = fds(), store.open_connections

    def rerun():
        store.recent_runs()
        store.count_attempts()

    for _ in range(n):
        t = threading.Thread(target=rerun)
        t.start()
        t.join()
    print(f"{n} reruns on new threads: file descriptors {before} -> {fds()}, open connections {conns} -> {store.open_connections}")


def limiter_events(requests: int = 12) -> None:
    limiter = ProviderLimiter(rate_per_s=20, burst=2, max_concurrency=1)
    events: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(requests)

    def request(i: int) -> None:
        def on_wait(why, seconds, ahead):
            with lock:
                events.append(why)

        go.wait()
        with limiter.slot(on_wait) as probe:
            threading.Event().wait(0.02)  # the request itself
            if i == 3:
                limiter.cooldown(0.3)  # a 429 in the middle: the others wait it out
            limiter.report(probe, rate_limited=i == 3)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    waits = limiter.waits
    print(
        f"{requests} requests, 1 in flight at a time, one cooldown: {waits} waits, {len(events)} queued events "
        f"({len(events) / max(waits, 1):.2f} per wait; by reason {dict((w, events.count(w)) for w in sorted(set(events)))})"
    )


if __name__ == "__main__":
    reruns()
    limiter_events()
