"""Generations as background jobs, so a page can be left and come back to.

A Streamlit script is stopped whenever the user clicks anything; a two-minute
generation must not die with it. ``JobRunner.submit`` runs ``ImageClient.generate``
on a worker thread and returns a ``Job`` whose events and outcome the page
polls. Nothing here imports Streamlit.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib import errors as E
from lib.client import ImageClient
from lib.generation import AttemptSummary, ClientSettings, Event, GenerationRequest, Outcome, Recorder
from lib.images import ImageKeeper

log = logging.getLogger("imagelab.jobs")


@dataclass
class Job:
    id: str
    request: GenerationRequest
    provider: str
    started_at: float
    events: list[Event] = field(default_factory=list)
    outcome: Outcome | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def elapsed_s(self) -> float:
        return time.time() - self.started_at


def run_generation(
    settings: ClientSettings,
    request: GenerationRequest,
    *,
    recorder: Recorder,
    keeper: ImageKeeper | None,
    on_event=None,
    client_kwargs: dict[str, Any] | None = None,
) -> Outcome:
    """Run one generation and always return an Outcome: an unexpected exception
    becomes a recorded failed attempt with a vocabulary error, never a traceback."""
    try:
        with ImageClient(settings=settings, recorder=recorder, keeper=keeper, **(client_kwargs or {})) as client:
            return client.generate(request, on_event=on_event)
    except Exception as exc:  # a bug of ours: keep the record, show a card
        log.exception("unexpected error during a generation")
        err = E.BadResponse(
            f"Image Prompt Lab hit an unexpected error ({type(exc).__name__}: {exc}). The attempt was recorded; details are in the log.",
            code=E.INTERNAL_ERROR_CODE,
        )
        run_id = ""
        attempts = []
        try:
            run_id = recorder.start_run(kind="generate", label=request.prompt[:120], settings={"provider": settings.provider})
            attempt_id = recorder.attempt_started(
                {"run_id": run_id, "started_at": time.time(), "provider": settings.provider, "model": request.model,
                 "prompt": request.prompt, "params": request.params(), "attempt_no": 1, "key_hint": settings.key_hint}
            )
            recorder.attempt_finished(
                attempt_id,
                {"finished_at": time.time(), "status": "failed", "error_type": err.error_type, "error_message": err.message[: C.MAX_ERROR_MESSAGE_CHARS],
                 "error_code": err.code, "image_count": 0, "latency_ms": 0},
            )
            recorder.run_finished(run_id, {"status": "failed", "error_type": err.error_type, "model": request.model, "attempts": 1, "finished_at": time.time()})
            attempts.append(AttemptSummary(attempt_id, 1, request.model, "failed", err.error_type, None, 0))
        except Exception:
            log.exception("could not record the failed generation either")
        return Outcome(
            ok=False, run_id=run_id, requested_model=request.model, model=request.model, images=[], attempts=attempts,
            events=[], error=err, latency_ms=0,
        )


class JobRunner:
    """A small pool of worker threads running generations."""

    def __init__(self, max_workers: int = C.JOB_WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="imagelab-job")

    def submit(self, settings: ClientSettings, request: GenerationRequest, *, recorder: Recorder, keeper: ImageKeeper | None) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], request=request, provider=settings.provider, started_at=time.time())

        def work() -> None:
            try:
                job.outcome = run_generation(settings, request, recorder=recorder, keeper=keeper, on_event=job.events.append)
            finally:
                job._done.set()

        self._pool.submit(work)
        return job
