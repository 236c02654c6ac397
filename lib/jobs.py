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

Workers are shared fairly (``FairPolicy``): between owners (the browser session
that started a job, ``JobSpec.owner``) and between providers, so no grid takes
every worker and no provider's limit or cooldown holds a worker another
provider could use. A run belongs to its owner (``cancel_right`` is who may stop
it); a run of another process is stopped through the store (``cancel_run``:
a request its owner reads between steps), and the runs of processes that are
gone end ``interrupted`` without waiting for a restart.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lib import constants as C
from lib import errors as E
from lib.classify import is_local_failure, local_failure
from lib.client import ImageClient
from lib.generation import CancelToken, ClientSettings, Event, GenerationRequest, Outcome, Recorder
from lib.images import ImageKeeper
from lib.limits import LimiterRegistry
from lib.store.recovery import owner_alive

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
    owner: str | None = None  # the browser session that started it (runs.owner_session); None: this process (the CLI)
    parent_run_id: str | None = None  # the run whose result this one was made from (runs.parent_run_id)


def start_run(recorder: Recorder, spec: JobSpec, *, status: str = "running") -> str:
    """Write the run row of a spec and return its id."""
    request = spec.request
    owned = {"owner_session": spec.owner} if spec.owner is not None else {}
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
        parent_run_id=spec.parent_run_id,
        **owned,
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
        return Outcome.without_attempts(request, err, run_id=run_id or "")


class Job:
    """One generation handed to a runner. Thread-safe to read from any thread."""

    def __init__(self, runner: JobRunner, spec: JobSpec, run_id: str, batch_id: str | None = None, seq: int = 0) -> None:
        self._runner = runner
        self.spec = spec
        self.run_id = run_id
        self.batch_id = batch_id
        self.seq = seq  # order of submission in its runner
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
    def owner(self) -> str:
        """Who it is fair to: the browser session that started it ("" for this process's own, e.g. the CLI)."""
        return self.spec.owner or ""

    @property
    def provider_key(self) -> tuple[str, str]:
        """The provider it waits for, as the limiters tell providers apart (provider, host)."""
        settings = self.spec.settings
        return (settings.provider, settings.endpoint.root)

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
        first request): how many the fair policy starts before it. None once it runs."""
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


def held_bytes(job: Job) -> int:
    """What a finished job keeps in memory beyond its small fields, in bytes: partial images kept
    for the page, reference images of an edit, images held without a file, the raw answer.
    Images kept on disk count nothing: the job refers to their files."""
    total = 0
    request = job.spec.request
    for ref in [*(getattr(request, "images", None) or []), getattr(request, "mask", None)]:
        total += len(getattr(ref, "data", b"") or b"")
    for event in job.events:
        total += len(getattr(event, "image", None) or b"")
    outcome = job.outcome
    if outcome is not None:
        total += sum(len(p) for p in outcome.partials or [])
        total += sum(len(img.data or b"") for img in outcome.images)
        total += len(outcome.raw_response or "")
    return total


class FairPolicy:
    """Which queued job a free worker starts: fair between owners (browser sessions) and providers.

    The queue is served in a fair order: repeatedly, the owner with the fewest jobs running (or
    already ordered before), then within it the provider with the fewest, then the oldest job.
    A worker starts the first job of that order that may start now:

    - no owner holds more than ``share`` workers, so a big grid always leaves workers for
      someone else's single Generate;
    - no provider holds more than its own concurrency (``max_concurrency``) nor ``share``
      workers, and a provider in a cooldown after a 429 starts nothing: its jobs wait here,
      holding no worker, and another provider's work goes past them.

    ``position`` is what a user is shown as "N ahead": the jobs before it in the fair order that
    compete for what it waits for (its provider's slots, its owner's share, or a worker).
    Nothing here sleeps or reads the time: ``cooling(job)`` says how long the job's provider
    still cools down. Called with the runner's lock held."""

    def __init__(self, *, workers: int, share: int, cooling: Callable[[Job], float]) -> None:
        self.workers = max(int(workers), 1)
        self.share = max(1, min(int(share), self.workers))
        self.cooling = cooling

    def order(self, queued: list[Job], running: list[Job]) -> list[Job]:
        owners = Counter(j.owner for j in running)
        providers = Counter(j.provider_key for j in running)
        groups: dict[tuple[str, tuple[str, str]], deque[Job]] = {}
        for job in sorted(queued, key=lambda j: j.seq):
            groups.setdefault((job.owner, job.provider_key), deque()).append(job)
        out: list[Job] = []
        while groups:
            owner, provider = min(groups, key=lambda g: (owners[g[0]], providers[g[1]], groups[g][0].seq))
            group = groups[(owner, provider)]
            out.append(group.popleft())
            if not group:
                del groups[(owner, provider)]
            owners[owner] += 1
            providers[provider] += 1
        return out

    def provider_cap(self, job: Job) -> int:
        return max(1, min(int(job.spec.settings.max_concurrency or 1), self.share))

    def blocked(self, job: Job, running: list[Job]) -> str | None:
        """Why ``job`` may not start now: 'cooldown', 'provider', 'owner', or None."""
        if self.cooling(job) > 0:
            return "cooldown"
        if sum(1 for j in running if j.provider_key == job.provider_key) >= self.provider_cap(job):
            return "provider"
        if sum(1 for j in running if j.owner == job.owner) >= self.share:
            return "owner"
        return None

    def pick(self, queued: list[Job], running: list[Job]) -> tuple[Job | None, float | None]:
        """The job a free worker starts (None: none may start now), and when to look again
        if only a cooldown holds the queue (seconds; None: when something changes)."""
        if len(running) >= self.workers:
            return None, None
        wake: float | None = None
        for job in self.order(queued, running):
            why = self.blocked(job, running)
            if why is None:
                return job, None
            if why == "cooldown":
                left = self.cooling(job)
                wake = left if wake is None else min(wake, left)
        return None, wake

    def position(self, job: Job, queued: list[Job], running: list[Job]) -> int:
        order = self.order(queued, running)
        before = order[: order.index(job)]
        why = self.blocked(job, running)
        if why in ("cooldown", "provider"):
            return sum(1 for k in before if k.provider_key == job.provider_key)
        if why == "owner":
            return sum(1 for k in before if k.owner == job.owner)
        return sum(1 for k in before if self.blocked(k, running) is None)


class JobRunner:
    """A pool of worker threads running generations, shared fairly (``FairPolicy``).

    Finished jobs stay for reattach while they are few, recent and light (``C.JOB_DONE_KEEP``,
    ``C.JOB_DONE_MAX_AGE_S``, ``C.JOB_DONE_MAX_BYTES``); after that a run is read back from the
    store. A watcher thread stops this runner's runs when another process asks for it through
    the store (``Store.request_cancel``), and ends as interrupted the runs of processes that are
    gone (``Store.mark_interrupted``).

    ``execute(job)`` runs one job and returns its Outcome (default: the generation itself);
    ``clock`` is the time finished jobs age by. Both are injectable for tests."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        keeper: ImageKeeper | None,
        max_workers: int = C.JOB_WORKERS,
        limiters: LimiterRegistry | None = None,
        client_kwargs: dict[str, Any] | None = None,
        reserved_workers: int | None = None,
        execute: Callable[[Job], Outcome] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch: bool = True,
    ) -> None:
        self.recorder = recorder
        self.keeper = keeper
        self.limiters = limiters if limiters is not None else LimiterRegistry()
        self.client_kwargs = dict(client_kwargs or {})
        self.clock = clock
        workers = max(int(max_workers), 1)
        reserved = int(workers * C.JOB_RESERVED_SHARE) if reserved_workers is None else max(int(reserved_workers), 0)
        self.policy = FairPolicy(workers=workers, share=workers - reserved, cooling=self._cooling)
        self._execute = execute or self._generate
        self._cond = threading.Condition()
        self._queue: list[Job] = []
        self._seq = 0
        self._running: dict[str, Job] = {}
        self._done: OrderedDict[str, tuple[Job, float, int]] = OrderedDict()  # run id -> (job, finished at, bytes held)
        self._done_bytes = 0
        self._all: dict[str, Job] = {}
        self._closing = False
        self._stop = threading.Event()
        self._last_reap = float("-inf")
        self._workers = [threading.Thread(target=self._work, name=f"imagelab-job-{i}", daemon=True) for i in range(workers)]
        for worker in self._workers:
            worker.start()
        self._watcher = threading.Thread(target=self._watch, name="imagelab-job-watch", daemon=True) if watch else None
        if self._watcher is not None:
            self._watcher.start()

    # -- submitting ---------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Job:
        """Write the run row and queue the job. A write that fails (a full disk, a read-only
        data directory) raises ``errors.AppError`` (``local_write``): nothing was queued."""
        return self._submit([spec], batch_id=None)[0]

    def submit_batch(self, specs: list[JobSpec]) -> Batch:
        batch_id = uuid.uuid4().hex[:16]
        return Batch(batch_id, self._submit(list(specs), batch_id=batch_id))

    def as_owner(self, owner: str | None) -> OwnedRunner:
        """This runner, with every job submitted through it belonging to ``owner`` (a browser session)."""
        return OwnedRunner(self, owner)

    def _submit(self, specs: list[JobSpec], *, batch_id: str | None) -> list[Job]:
        with self._cond:
            if self._closing:
                raise RuntimeError("the app is shutting down: no new generations")
        jobs: list[Job] = []
        for spec in specs:
            try:
                run_id = start_run(self.recorder, spec, status="queued")  # before submit returns: its id can go in a URL
            except Exception as exc:
                local = is_local_failure(exc)
                if local:
                    err = local_failure(exc, place=getattr(self.recorder, "root", None), doing="starting the generation")
                else:
                    err = E.AppError(f"Image Prompt Lab could not start the generation ({type(exc).__name__}).", code=type(exc).__name__)
                for job in jobs:  # the cells written before the failure never run
                    self._end_unstarted(job, "failed", error=err)
                if local:
                    raise err from exc
                raise
            with self._cond:
                self._seq += 1
                jobs.append(Job(self, spec, run_id, batch_id, seq=self._seq))
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
        """A job of this process, running or recently done (reattach after a reload); None when
        there is none, or it was let go: then its run is read back from the store."""
        with self._cond:
            self._evict()
            return self._all.get(run_id)

    def jobs(self) -> list[Job]:
        with self._cond:
            return list(self._all.values())

    def _position(self, job: Job) -> int | None:
        with self._cond:
            if job not in self._queue:
                return None
            return self.policy.position(job, self._queue, list(self._running.values()))

    def _cooling(self, job: Job) -> float:
        limiter = self.limiters.find(job.spec.settings)
        return limiter.cooling_down_s if limiter is not None else 0.0

    # -- memory: finished jobs ----------------------------------------------------------------

    @property
    def held_bytes(self) -> int:
        """Bytes the finished jobs kept for reattach hold together."""
        with self._cond:
            self._evict()
            return self._done_bytes

    def _evict(self) -> None:
        """Let go of finished jobs past the count, the age or the bytes allowed (oldest first). Lock held."""
        now = self.clock()
        while self._done:
            run_id, (job, finished, size) = next(iter(self._done.items()))
            if len(self._done) <= C.JOB_DONE_KEEP and now - finished <= C.JOB_DONE_MAX_AGE_S and self._done_bytes <= C.JOB_DONE_MAX_BYTES:
                return
            del self._done[run_id]
            self._done_bytes -= size
            self._all.pop(run_id, None)

    # -- cancel and shutdown ----------------------------------------------------------------

    def _cancel(self, job: Job, reason: str) -> None:
        with self._cond:
            if job.done:
                return
            queued = job in self._queue
            if queued:
                self._queue.remove(job)
                self._cond.notify_all()
        if queued:
            self._end_unstarted(job, reason)
        else:
            job.token.cancel(reason)

    def cancel_run(self, run_id: str) -> str:
        """Stop a run wherever it runs. Returns what happened:
        ``cancelled`` (a job of this runner, stopped), ``requested`` (another live process owns it:
        asked through the store, it stops at its next step), ``interrupted`` (its process is gone:
        its rows end interrupted), ``finished`` (nothing left to stop) or ``unknown`` (no such run)."""
        job = self.get(run_id)
        if job is not None:
            if job.done:
                return "finished"
            job.cancel()
            return "cancelled"
        run = self.recorder.run(run_id) if hasattr(self.recorder, "run") else None
        if run is None:
            return "unknown"
        if run.get("status") not in (None, "queued", "running"):
            return "finished"
        if owner_alive(run.get("owner_token"), run.get("owner_pid")):
            self.recorder.request_cancel([run_id])
            return "requested"
        self.recorder.mark_interrupted()
        return "interrupted"

    def _end_unstarted(self, job: Job, status: str, *, error: E.ImageLabError | None = None) -> None:
        job.token.cancel(status)
        if status == "interrupted" and error is None:
            error = E.Interrupted("The app shut down before this generation started.")
        try:
            self.recorder.run_finished(
                job.run_id,
                {
                    "status": status,
                    "finished_at": time.time(),
                    "attempts": 0,
                    "model": job.spec.request.model,
                    "error_type": error.error_type if error is not None else None,
                },
            )
        except Exception:
            log.exception("could not finish run %s", job.run_id)
        outcome = Outcome.without_attempts(job.spec.request, error, run_id=job.run_id, status=status, events=job.events)
        self._retire(job, outcome, status)

    def _retire(self, job: Job, outcome: Outcome | None, status: str) -> None:
        with self._cond:
            self._running.pop(job.run_id, None)
            job._finish(outcome, status)
            size = held_bytes(job)
            self._done[job.run_id] = (job, self.clock(), size)
            self._done_bytes += size
            self._evict()
            self._cond.notify_all()

    def shutdown(self, timeout: float = C.SHUTDOWN_GRACE_S) -> None:
        """Refuse new work, end queued jobs and stop running ones as 'interrupted';
        wait up to ``timeout`` seconds for the workers to record it."""
        self._stop.set()
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

    # -- stop requests from other processes, owners that are gone ------------------------------

    def check_now(self, *, reap: bool | None = None) -> int:
        """One look at the store: stop this runner's runs that another process asked to stop, and
        (every ``C.OWNER_CHECK_S``, or when ``reap``) end as interrupted the runs of processes that
        are gone. Returns how many jobs were stopped."""
        stopped = 0
        with self._cond:
            mine = [j for j in self._all.values() if not j.done]
            self._cond.notify_all()  # workers look at the queue again: a provider's cooldown may be over
        asked = getattr(self.recorder, "cancel_requested", None)
        if mine and asked is not None:
            try:
                wanted = set(asked([j.run_id for j in mine]))
            except Exception:
                log.warning("could not read stop requests", exc_info=True)
                wanted = set()
            for job in mine:
                if job.run_id in wanted and not job.done:
                    job.cancel()
                    stopped += 1
        now = time.monotonic()
        if reap is None:
            reap = now - self._last_reap >= C.OWNER_CHECK_S
        mark = getattr(self.recorder, "mark_interrupted", None)
        if reap and mark is not None:
            self._last_reap = now
            try:
                mark()
            except Exception:
                log.warning("could not end the runs of stopped processes", exc_info=True)
        return stopped

    def _watch(self) -> None:
        while not self._stop.wait(C.CANCEL_POLL_S):
            self.check_now()

    # -- the workers ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closing:
                        return
                    job, wake = self.policy.pick(self._queue, list(self._running.values()))
                    if job is not None:
                        break
                    self._cond.wait(None if wake is None else min(wake, C.MAX_RETRY_AFTER_S))
                self._queue.remove(job)
                self._running[job.run_id] = job
                job._status = "running"
                job.started_at = time.time()
            self._run(job)

    def _generate(self, job: Job) -> Outcome:
        try:
            self.recorder.run_started(job.run_id)
        except Exception:
            log.warning("could not mark run %s as running", job.run_id[:8], exc_info=True)
        return run_generation(
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

    def _run(self, job: Job) -> None:
        outcome: Outcome | None = None
        try:
            outcome = self._execute(job)
            status = outcome.status
        except BaseException:  # run_generation never raises; this keeps a worker alive if it somehow does
            log.exception("a job failed outside its generation")
            status = "failed"
        self._retire(job, outcome, status)


class OwnedRunner:
    """A runner seen by one owner (a browser session): what it submits is that owner's."""

    def __init__(self, runner: JobRunner, owner: str | None) -> None:
        self.runner = runner
        self.owner = owner

    def _own(self, spec: JobSpec) -> JobSpec:
        return replace(spec, owner=self.owner) if spec.owner is None else spec

    def submit(self, spec: JobSpec) -> Job:
        return self.runner.submit(self._own(spec))

    def submit_batch(self, specs: list[JobSpec]) -> Batch:
        return self.runner.submit_batch([self._own(s) for s in specs])

    def __getattr__(self, name: str) -> Any:  # get, jobs, cancel_run, ...: the runner's own
        return getattr(self.runner, name)


def watch_cancel_requests(recorder: Any, run_id: str, cancel: CancelToken, *, interval_s: float = C.CANCEL_POLL_S) -> Callable[[], None]:
    """For a run this process runs without a runner (``imagelab generate``): a thread that stops it
    (``cancelled``) when another process asks through the store. Returns the function that ends the watch."""
    stop = threading.Event()
    asked = getattr(recorder, "cancel_requested", None)

    def watch() -> None:
        while asked is not None and not stop.wait(interval_s):
            try:
                if asked([run_id]):
                    cancel.cancel("cancelled")
                    return
            except Exception:
                log.warning("could not read stop requests", exc_info=True)

    thread = threading.Thread(target=watch, name="imagelab-cancel-watch", daemon=True)
    thread.start()

    def end() -> None:
        stop.set()
        thread.join(interval_s + 1)

    return end


# --------------------------------------------------------------------------
# Whose run it is


def cancel_right(run_owner: str | None, session: str | None, *, password_set: bool) -> str:
    """What a browser session may do about a run: ``owner`` (it started it: it may stop it),
    ``confirm`` (it may stop it after confirming: a run started outside any browser, such as the
    CLI's, or someone else's when the app has a password and everyone on it signed in), or
    ``watch`` (another session's, in an app without a password: it may only watch).
    ``run_owner`` is the run's ``owner_session`` (None: started outside a browser)."""
    if run_owner and session and run_owner == session:
        return "owner"
    if not run_owner or password_set:
        return "confirm"
    return "watch"


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
