"""Checks of finished runs, in the background, for the pages.

A page hands over a run that has ended (``CheckQueue.submit``) with the checks chosen for it;
one worker thread checks the images of its succeeded attempts, one run at a time (OCR is the
slow part, and two cores serve everything else), and keeps every verdict in the store as the
command line does (``lib.checks.gate.check_run``). Pages read the verdicts back from the store,
so a reload, another tab or a teammate's link sees them; while a run waits or is being checked
it is ``pending``. A run is submitted once per process: a second submit of a run still pending
is ignored. A check that raises is logged, and the run's error kept for the page to say
(``failure``; ``submit_unchecked`` does not try that run again); nothing else is lost.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from lib.checks import CheckSpec
from lib.checks.gate import check_run

log = logging.getLogger("imagelab.checks")


class CheckQueue:
    def __init__(self, store: Any, *, engine=None) -> None:
        self.store = store
        self.engine = engine
        self._items: queue.Queue = queue.Queue()
        self._pending: set[str] = set()
        self._failures: dict[str, str] = {}
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, run_id: str, specs: Iterable[CheckSpec], *, judge: Callable | None = None) -> bool:
        """Check the images of an ended run with ``specs`` (a ``judge`` spec runs only with ``judge``,
        the call that makes it). False when there is nothing to check or the run is already pending."""
        specs = list(specs)
        if not specs or (judge is None and all(s.name == "judge" for s in specs)):
            return False
        with self._lock:
            if run_id in self._pending:
                return False
            self._pending.add(run_id)
            self._failures.pop(run_id, None)
            self._items.put((run_id, specs, judge))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="imagelab-checks", daemon=True)
                self._thread.start()
        return True

    def submit_unchecked(self, run_ids: Iterable[str], specs: list[CheckSpec], *, judge_for: Callable[[str], Any] | None = None) -> int:
        """Submit those of ``run_ids`` whose images have no check kept yet; ``judge_for(run_id)`` gives
        the judge call of a run (None: no judge). Returns how many were submitted."""
        if not specs:
            return 0
        with self._lock:
            skip = self._pending | set(self._failures)  # a run whose checks failed is not tried again on every look
        fresh = [r for r in self.store.unchecked_runs(run_ids) if r not in skip]
        return sum(self.submit(r, specs, judge=judge_for(r) if judge_for else None) for r in fresh)

    def pending(self) -> set[str]:
        with self._lock:
            return set(self._pending)

    def failure(self, run_id: str) -> str | None:
        """Why the checks of a run could not be made or kept, when they could not."""
        with self._lock:
            return self._failures.get(run_id)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until nothing is pending (True), or ``timeout`` seconds passed (False)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout)

    def _work(self) -> None:
        while True:
            run_id, specs, judge = self._items.get()
            try:
                check_run(self.store, run_id, [s for s in specs if s.name != "judge"], judge=judge, engine=self.engine)
            except Exception as err:  # a check must never take the worker down; the page says it failed
                log.exception("the checks of run %s failed", run_id)
                with self._lock:
                    self._failures[run_id] = f"The checks could not be made or kept ({type(err).__name__}: {err})."
            finally:
                with self._lock:
                    self._pending.discard(run_id)
                    self._lock.notify_all()
