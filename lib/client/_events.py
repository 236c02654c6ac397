"""A run's progress events, bounded whatever the provider sends.

Every event of a generation goes through one ``EventLog``: it masks what the
provider controls, appends the event to the run's list (the Outcome's), writes
it to the store (``Recorder.run_event``) and hands it to ``on_event`` (the
page's status box, a job, the CLI's progress lines on stderr). So one bound
here bounds all of them:

- of one kind, in one attempt, the first ``C.MAX_EVENTS_PER_KIND`` pass, then at
  most one every ``C.EVENT_COALESCE_S`` (a long task poll still shows its latest
  status); the others are counted and said in one summary event ("N more ...")
  when the attempt ends;
- a run passes ``C.MAX_RUN_EVENTS`` in all; after that only the events that end
  or start an attempt (``ENDINGS``) and the summaries;
- only the newest event holds a streamed partial image's bytes (``image``): an
  older one lets go of them when a newer one comes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lib import constants as C
from lib import redact
from lib.generation import Event

log = logging.getLogger("imagelab.client")

# Kinds that always pass: at most a few per attempt, and they tell how it went.
ENDINGS = frozenset({"started", "submitted", "succeeded", "failed", "cancelled", "interrupted", "retry", "fallback", "skipped"})


class EventLog:
    """``emit(kind, message, model=..., attempt_no=..., image=..., **data)`` for one run; ``flush()`` at its end."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        t0: float,
        sink: list[Event],
        on_event: Callable[[Event], None] | None,
        recorder: Any,
        run_id: str,
    ) -> None:
        self.clock = clock
        self.t0 = t0
        self.sink = sink
        self.on_event = on_event
        self.recorder = recorder
        self.run_id = run_id
        self.seq = 0
        self.passed = 0  # events passed on (summaries and endings included)
        self._per_kind: dict[tuple[int, str], int] = {}
        self._last_at: dict[tuple[int, str], float] = {}
        self._held: dict[tuple[int, str], list[Any]] = {}  # (attempt, kind) -> [count, model]
        self._with_image: Event | None = None

    def __call__(self, kind: str, message: str, *, model: str = "", attempt_no: int = 0, image: bytes | None = None, **data: Any) -> None:
        key = (attempt_no, kind)
        now = self.clock()
        if kind in ENDINGS:
            self.flush(None if kind == "started" else attempt_no)  # what was held back is said before the attempt moves on
        else:
            seen = self._per_kind.get(key, 0)
            crowded = seen >= C.MAX_EVENTS_PER_KIND and now - self._last_at.get(key, float("-inf")) < C.EVENT_COALESCE_S
            if crowded or self.passed >= C.MAX_RUN_EVENTS:
                held = self._held.setdefault(key, [0, model])
                held[0] += 1
                return
            self._per_kind[key] = seen + 1
            self._last_at[key] = now
        self._pass(kind, message, now, model, attempt_no, image, data)

    def flush(self, attempt_no: int | None = None) -> None:
        """Say how many events were held back (of one attempt, or all), one summary per kind."""
        for key in [k for k in self._held if attempt_no is None or k[0] == attempt_no]:
            count, model = self._held.pop(key)
            number, kind = key
            where = f" in attempt {number}" if number else ""
            self._pass(
                "note",
                f"{count:,} more '{kind}' event(s){where} not listed one by one",
                self.clock(),
                model,
                number,
                None,
                {"coalesced": kind, "count": count},
            )

    def _pass(self, kind: str, message: str, now: float, model: str, attempt_no: int, image: bytes | None, data: dict[str, Any]) -> None:
        # Events quote task ids, statuses and URLs from the provider: masked before anyone sees them.
        event = Event(kind, redact.scrub(message), round(now - self.t0, 2), redact.scrub(model), attempt_no, redact.scrub_obj(data), image)
        if image is not None:
            if self._with_image is not None:
                self._with_image.image = None  # only the newest preview is held
            self._with_image = event
        self.sink.append(event)
        self.seq += 1
        self.passed += 1
        if self.run_id:
            try:
                self.recorder.run_event(self.run_id, self.seq, event)
            except Exception:  # the event log is secondary to the generation itself
                log.warning("could not record an event of run %s", self.run_id[:8], exc_info=True)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken progress display must not break the generation
                pass
