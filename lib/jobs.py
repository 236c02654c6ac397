"""Generations and batches as background jobs: reattach, cancel, shut down cleanly.

A Streamlit script is stopped whenever the user clicks anything; a two-minute
generation must not die with it. ``JobRunner.submit(spec)`` writes the run row
at once (so its id can go into a URL), queues the generation for a worker
thread and returns a ``Job`` whose events, status and outcome any page can
read, now or after a reload (``JobRunner.get(run_id)``). ``submit_batch``
queues many with one cancel for all (Compare). Nothing here imports Streamlit.

Cancel is honoured everywhere a generation can wait: in the queue, in the
provider's limiter, in a backoff, between polls, and in the middle of a
request (its socket is shut down from the cancelling thread). Rows then end
``cancelled`` with no error_type. ``shutdown`` does the same for every job but
marks them ``interrupted`` and refuses new work.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib import constants as C
from lib import errors as E
from lib.classify import is_local_failure, local_failure
from lib.client import ImageClient
from lib.generation import CancelToken, ClientSettings, Event, GenerationRequest, Outcome, Recorder
from lib.images import ImageKeeper
from lib.limits import LimiterRegistry

log = logging.getLogger("imagelab.jobs")

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")


@dataclass
class JobSpec:
    settings: ClientSettings
    request: GenerationRequest
    kind: str = "generate"  # generate|compare|rerun|probe
    comparison_id: str | None = None
    cell: dict | None = None  # stored as runs.cell JSON
    rerun_of: int | None = None  # attempt id a rerun came from
    label: str | None = None


def start_run(recorder: Recorder, spec: JobSpec, *, status: str = "running") -> str:
    """Write the run row of a spec and return its id."""
    request = spec.request
    return recorder.start_run(
        kind=spec.kind,
        label=spec.label or request.prompt[:120],
        settings=spec.settings.describe(),
        comparison_id=spec.comparison_id,
        cell=spec.cell,
        rerun_of=spec.rerun_of,
        provider=spec.settings.provider,
        prompt=request.prompt,
        request=request.to_dict(),
        status=status,
    )


def run_generation(
    settings: ClientSettings,
    request: GenerationRequest,
    *,
    recorder: Recorder,
    keeper: ImageKeeper | None,
    on_event: Callable[[Event], None] | None = None,
    client_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
    cancel: CancelToken | None = None,
    limiters: LimiterRegistry | None = None,
    kind: str = "generate",
    queued_s: float = 0.0,
) -> Outcome:
    """Run one generation in this thread and always return an Outcome (the CLI
    uses this without a runner). The client records every attempt; a bug of
    ours becomes ``app_error`` on the run (never a second run or a made-up
    attempt)."""
    kwargs = dict(client_kwargs or {})
    if cancel is not None:
        kwargs.setdefault("cancel", cancel)
    if limiters is not None and "limiter" not in kwargs:
        kwargs.setdefault("limiters", limiters)
    try:
        if run_id is None:
            run_id = start_run(recorder, JobSpec(settings=settings, request=request, kind=kind))
        with ImageClient(settings=settings, recorder=recorder, keeper=keeper, **kwargs) as client:
            return client.generate(request, on_event=on_event, run_id=run_id, kind=kind, queued_s=queued_s)
    except Exception as exc:  # a bug of ours outside the client's own loop, or a write that failed
        log.exception("unexpected error around a generation")
        if is_local_failure(exc):
            err = local_failure(exc, place=getattr(recorder, "root", None), doing="starting the generation")
        else:
            err = E.AppError(
                f"Image Prompt Lab failed before the generation could run ({type(exc).__name__}: {exc}). Details are in the log.",
                code=type(exc).__name__,
            )
        if run_id:
            try:
                recorder.run_finished(
                    run_id,
                    {"status": "failed", "error_type": err.error_type, "model": request.model, "attempts": 0, "finished_at": time.time()},
                )
            except Exception:
                log.exception("could not finish run %s", run_id)
        return Outcome(
            ok=False,
            run_id=run_id or "",
            requested_model=request.model,
            model=request.model,
            images=[],
            attempts=[],
            events=[],
            error=err,
            latency_ms=0,
        )


class Job:
    """One generation handed to a runner. Thread-safe to read from any thread."""

    def __init__(self, runner: JobRunner, spec: JobSpec, run_id: str, batch_id: str | None = None) -> None:
        self._runner = runner
        self.spec = spec
        self.run_id = run_id
        self.batch_id = batch_id
        self.events: list[Event] = []
        self.outcome: Outcome | None = None
        self.created_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.token = CancelToken()
        self._status = "queued"
        self._done = threading.Event()
        self._waiting: dict[str, Any] | None = None  # the limiter wait in progress, if any

    # -- what pages read ------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def request(self) -> GenerationRequest:
        return self.spec.request

    @property
    def status(self) -> str:
        return self._status

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def elapsed_s(self) -> float:
        end = self.finished_at or time.time()
        return max(0.0, end - (self.started_at or self.created_at))

    @property
    def queue_position(self) -> int | None:
        """While queued (for a worker, or for the provider's limiter before its
        first request): how many wait ahead of it. None once it runs."""
        if self._status == "queued":
            return self._runner._position(self)
        waiting = self._waiting
        if waiting is not None:
            return int(waiting.get("ahead") or 0)
        return None

    @property
    def model_now(self) -> str:
        """The model the job is working with at this moment (after a fallback, the new one)."""
        for event in reversed(self.events):
            if event.model:
                return event.model
        return self.spec.request.model

    def cancel(self) -> None:
        """Stop this job: at once if queued, else at the next step or in the middle of its request."""
        self._runner._cancel(self, "cancelled")

    # -- the runner's side -------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.kind == "queued":
            self._waiting = dict(event.data)
        elif event.kind in ("submitted", "started", "failed", "succeeded", "cancelled", "interrupted"):
            if event.kind != "started":
                self._waiting = None
        self.events.append(event)

    def _finish(self, outcome: Outcome | None, status: str) -> None:
        if not getattr(self.spec.request, "keep_partials", False):
            for event in self.events:  # streamed previews live only while the job runs
                event.image = None
        self.outcome = outcome
        self._status = status
        self._waiting = None
        self.finished_at = time.time()
        self._done.set()

    def __repr__(self) -> str:
        return f"Job({self.run_id[:8]}, {self.kind}, {self._status})"


class Batch:
    """Jobs submitted together, with one cancel for all."""

    def __init__(self, batch_id: str, jobs: list[Job]) -> None:
        self.id = batch_id
        self.jobs = jobs

    def cancel(self) -> None:
        for job in self.jobs:
            job.cancel()

    @property
    def done(self) -> bool:
        return all(job.done for job in self.jobs)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in self.jobs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.wait(left):
                return False
        return True

    def counts(self) -> dict[str, int]:
        out = {status: 0 for status in JOB_STATUSES}
        for job in self.jobs:
            out[job.status] = out.get(job.status, 0) + 1
        return out


class JobRunner:
    """A pool of worker threads running generations, first come first served."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        keeper: ImageKeeper | None,
        max_workers: int = C.JOB_WORKERS,
        limiters: LimiterRegistry | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.recorder = recorder
        self.keeper = keeper
        self.limiters = limiters if limiters is not None else LimiterRegistry()
        self.client_kwargs = dict(client_kwargs or {})
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._running: dict[str, Job] = {}
        self._done: OrderedDict[str, Job] = OrderedDict()
        self._all: dict[str, Job] = {}
        self._closing = False
        self._workers = [
            threading.Thread(target=self._work, name=f"imagelab-job-{i}", daemon=True) for i in range(max(int(max_workers), 1))
        ]
        for worker in self._workers:
            worker.start()

    # -- submitting ---------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        return self._submit([spec], batch_id=None)[0]

    def submit_batch(self, specs: list[JobSpec]) -> Batch:
        batch_id = uuid.uuid4().hex[:16]
        return Batch(batch_id, self._submit(list(specs), batch_id=batch_id))

    def _submit(self, specs: list[JobSpec], *, batch_id: str | None) -> list[Job]:
        with self._cond:
            if self._closing:
                raise RuntimeError("the app is shutting down: no new generations")
        jobs = []
        for spec in specs:
            run_id = start_run(self.recorder, spec, status="queued")  # before submit returns: its id can go in a URL
            jobs.append(Job(self, spec, run_id, batch_id))
        with self._cond:
            if self._closing:
                for job in jobs:
                    self._end_unstarted(job, "interrupted")
                raise RuntimeError("the app is shutting down: no new generations")
            for job in jobs:
                self._all[job.run_id] = job
                self._queue.append(job)
            self._cond.notify_all()
        return jobs

    def get(self, run_id: str) -> Job | None:
        """A job of this process, running or recently done (reattach after a reload)."""
        with self._cond:
            return self._all.get(run_id)

    def jobs(self) -> list[Job]:
        with self._cond:
            return list(self._all.values())

    def _position(self, job: Job) -> int | None:
        with self._cond:
            try:
                return self._queue.index(job)
            except ValueError:
                return None

    # -- cancel and shutdown ----------------------------------------------------------------

    def _cancel(self, job: Job, reason: str) -> None:
        with self._cond:
            if job.done:
                return
            queued = job in self._queue
            if queued:
                self._queue.remove(job)
        if queued:
            self._end_unstarted(job, reason)
        else:
            job.token.cancel(reason)

    def _end_unstarted(self, job: Job, status: str) -> None:
        job.token.cancel(status)
        try:
            self.recorder.run_finished(
                job.run_id,
                {
                    "status": status,
                    "finished_at": time.time(),
                    "attempts": 0,
                    "model": job.spec.request.model,
                    "error_type": "interrupted" if status == "interrupted" else None,
                },
            )
        except Exception:
            log.exception("could not finish run %s", job.run_id)
        outcome = Outcome(
            ok=False,
            run_id=job.run_id,
            requested_model=job.spec.request.model,
            model=job.spec.request.model,
            images=[],
            attempts=[],
            events=list(job.events),
            status=status,
            latency_ms=0,
            error=E.Interrupted("The app shut down before this generation started.") if status == "interrupted" else None,
        )
        self._retire(job, outcome, status)

    def _retire(self, job: Job, outcome: Outcome | None, status: str) -> None:
        with self._cond:
            self._running.pop(job.run_id, None)
            self._done[job.run_id] = job
            while len(self._done) > C.JOB_DONE_KEEP:
                old_id, _ = self._done.popitem(last=False)
                self._all.pop(old_id, None)
            job._finish(outcome, status)
            self._cond.notify_all()

    def shutdown(self, timeout: float = C.SHUTDOWN_GRACE_S) -> None:
        """Refuse new work, end queued jobs and stop running ones as 'interrupted';
        wait up to ``timeout`` seconds for the workers to record it."""
        with self._cond:
            self._closing = True
            queued = list(self._queue)
            self._queue.clear()
            running = list(self._running.values())
            self._cond.notify_all()
        for job in queued:
            self._end_unstarted(job, "interrupted")
        for job in running:
            job.token.cancel("interrupted")
        deadline = time.monotonic() + max(timeout, 0.0)
        for job in running:
            job.wait(max(0.0, deadline - time.monotonic()))
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        flush = getattr(self.recorder, "flush", None)
        if flush is not None:
            try:
                flush()
            except Exception:
                log.exception("could not write the last records at shutdown")

    @property
    def closing(self) -> bool:
        return self._closing

    # -- the workers ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._closing and not self._queue:
                    return
                job = self._queue.popleft()
                self._running[job.run_id] = job
                job._status = "running"
                job.started_at = time.time()
            self._run(job)

    def _run(self, job: Job) -> None:
        outcome: Outcome | None = None
        try:
            try:
                self.recorder.run_started(job.run_id)
            except Exception:
                log.warning("could not mark run %s as running", job.run_id[:8], exc_info=True)
            outcome = run_generation(
                job.spec.settings,
                job.spec.request,
                recorder=self.recorder,
                keeper=self.keeper,
                on_event=job._on_event,
                client_kwargs=self.client_kwargs,
                run_id=job.run_id,
                cancel=job.token,
                limiters=self.limiters,
                kind=job.spec.kind,
                queued_s=max(0.0, (job.started_at or job.created_at) - job.created_at),
            )
            status = outcome.status
        except BaseException:  # run_generation never raises; this keeps a worker alive if it somehow does
            log.exception("a job failed outside its generation")
            status = "failed"
        self._retire(job, outcome, status)


def install_shutdown(runner: JobRunner, *, grace_s: float = C.SHUTDOWN_GRACE_S) -> None:
    """Stop the runner's generations when the process ends: at interpreter exit
    (Streamlit stops its server on SIGTERM, then the process exits) and, when
    called from the main thread, on SIGTERM itself (chained to the previous handler)."""
    import atexit
    import signal

    atexit.register(runner.shutdown, grace_s)
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):  # pragma: no cover - exercised through a subprocess
        threading.Thread(target=runner.shutdown, args=(grace_s,), name="imagelab-shutdown", daemon=True).start()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
