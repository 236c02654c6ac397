"""THE client: every HTTP request Image Prompt Lab makes goes through here.

``ImageClient.generate(request, on_event=...)`` runs one generation the way
the design describes: pre-flight checks -> client-side limits -> an attempt
row written as pending -> POST -> classify -> (poll a task) -> decode or
download each image -> validate and keep it -> finish the row -> retry or
fall back when the error allows -> an ``Outcome``.

Retry policy is three small functions and one loop: ``should_retry``,
``retry_delay`` and the loop in ``ImageClient.generate``. The clock and
``sleep`` are injected, so tests never really wait; ``transport=`` is the
seam for ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import logging
import random
import shlex
import socket
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urljoin

import httpcore
import httpx

from lib import constants as C
from lib import errors as E
from lib.answers import TaskState, describe_shape, extract_items, raw_preview, read_task
from lib.generation import (
    AttemptSummary,
    CancelToken,
    ClientSettings,
    Event,
    GenerationRequest,
    Outcome,
    Recorder,
    RequestPreview,
    ResultImage,
    key_hint,
)
from lib.images import ImageKeeper, SavedImage, decode_b64, validate
from lib.limits import LimiterRegistry, ProviderLimiter
from lib.preflight import preflight
from lib.providers import Endpoint, check_size

USER_AGENT = "image-prompt-lab/0.1"
log = logging.getLogger("imagelab.client")

# --------------------------------------------------------------------------
# Retry policy: three small functions and the loop in ImageClient.generate


def should_retry(err: E.ImageLabError, retries_done: int, max_retries: int) -> bool:
    if retries_done >= max_retries or not E.is_retryable(err):
        return False
    if err.retry_after_s is not None and err.retry_after_s > C.MAX_RETRY_AFTER_S:
        return False  # the provider asked for a longer wait than we are willing to block for
    return True


def retry_delay(retries_done: int, retry_after_s: float | None = None, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retries_done + 1``."""
    if retry_after_s is not None and 0 <= retry_after_s <= C.MAX_RETRY_AFTER_S:
        return retry_after_s
    base = min(C.INITIAL_RETRY_DELAY_S * (2**retries_done), C.MAX_RETRY_DELAY_S)
    return base * (1 - C.RETRY_JITTER_FRACTION * rand())


def should_fall_back(err: E.ImageLabError) -> bool:
    """Move to the next model: the model is unknown, or retries ran out on a
    retryable error. Not when the host itself cannot be reached (DNS, refused,
    TLS): another model on the same host would fail the same way."""
    if err.error_type == "network" and err.code in E.UNREACHABLE_CODES:
        return False
    return err.error_type == "model_not_found" or E.is_retryable(err)


# --------------------------------------------------------------------------
# The client


def describe_settings(s: ClientSettings) -> dict[str, Any]:
    """Settings as recorded with a run: never the key, only its hint."""
    return {
        "provider": s.provider,
        "endpoint": s.endpoint.url,
        "key_source": s.key_source,
        "key_hint": s.key_hint,
        "connect_timeout_s": s.connect_timeout_s,
        "read_timeout_s": s.read_timeout_s,
        "task_deadline_s": s.task_deadline_s,
        "run_deadline_s": s.run_deadline_s,
        "max_retries": s.max_retries,
        "fallbacks": list(s.fallbacks) if s.fallbacks is not None else list(s.preset.fallbacks),
        "use_fallback": s.use_fallback,
        "rate_per_s": s.rate_per_s,
        "burst": s.burst,
        "max_concurrency": s.max_concurrency,
    }


@dataclass
class _AttemptResult:
    ok: bool
    images: list[ResultImage]
    error: E.ImageLabError | None
    usage: dict[str, Any] | None
    revised_prompt: str | None
    raw: str | None
    summary: AttemptSummary
    note: str | None = None


@dataclass
class _RunState:
    """What a run has gathered so far: the last attempt's result and the first error."""

    attempts: list[AttemptSummary] = field(default_factory=list)
    ok: bool = False
    error: E.ImageLabError | None = None
    first_error: E.ImageLabError | None = None
    images: list[ResultImage] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    revised: str | None = None
    raw: str | None = None
    model: str | None = None
    note: str | None = None
    sent: bool = True

    def take(self, result: _AttemptResult) -> None:
        self.attempts.append(result.summary)
        self.ok = result.ok
        self.error = result.error
        if self.first_error is None and result.error is not None:
            self.first_error = result.error
        self.images = result.images
        self.usage = result.usage
        self.revised = result.revised_prompt
        self.raw = result.raw
        self.model = result.summary.model
        self.note = result.note

    def models_tried(self) -> int:
        return len({a.model for a in self.attempts})


class NullRecorder:
    """Records nothing: for previews and dry runs where no store is wanted."""

    def start_run(self, *, kind: str, label: str, settings: dict[str, Any], **fields: Any) -> str:
        return ""

    def run_started(self, run_id: str) -> None:
        pass

    def attempt_started(self, row: dict[str, Any]) -> Any:
        return None

    def attempt_finished(self, attempt_id: Any, fields: dict[str, Any], images: list[ResultImage] | tuple = ()) -> None:
        pass

    def run_event(self, run_id: str, seq: int, event: Event) -> None:
        pass

    def run_finished(self, run_id: str, fields: dict[str, Any]) -> None:
        pass


class _SocketTracker(httpcore.SyncBackend):
    """The network backend of the client's own transport: it remembers the
    sockets it opened, so a cancel from another thread can shut them down and
    wake a request blocked on a read (closing a socket alone does not)."""

    def __init__(self) -> None:
        self._sockets: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self.aborted = False  # set by abort(); a connection opened afterwards is shut at once

    def connect_tcp(self, *args: Any, **kwargs: Any):
        stream = super().connect_tcp(*args, **kwargs)
        sock = stream.get_extra_info("socket")
        if sock is not None:
            with self._lock:
                self._sockets.add(sock)
                aborted = self.aborted
            if aborted:  # the cancel came while this connection was being opened
                self._shut(sock)
        return stream

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass


def _transport(tracker: _SocketTracker) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport()
    transport._pool._network_backend = tracker  # httpx 0.28: the pool opens every connection through this
    return transport


class ImageClient:
    """Runs generations against one provider configuration.

    ``limiter`` (one limiter) or ``limiters`` (a ``LimiterRegistry``) are passed
    in; with neither, the client has a limiter of its own. ``cancel`` stops a
    generation between steps, in a wait, or in the middle of a request.
    ``sleep`` is injected by tests (a fake clock); by default waits sleep on the
    cancel token, so a cancel ends them at once.
    """

    def __init__(
        self,
        *,
        settings: ClientSettings,
        recorder: Recorder | None = None,
        keeper: ImageKeeper | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        limiter: ProviderLimiter | None = None,
        limiters: LimiterRegistry | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.settings = settings
        self.recorder: Recorder = recorder if recorder is not None else NullRecorder()
        self.keeper = keeper
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.rand = rand
        if limiter is None:
            if limiters is not None:
                limiter = limiters.get(settings)
            else:
                limiter = ProviderLimiter(rate_per_s=settings.rate_per_s, burst=settings.burst, max_concurrency=settings.max_concurrency, clock=clock, sleep=sleep)
        self.limiter = limiter
        self.cancel_token = cancel if cancel is not None else CancelToken()
        self._tracker: _SocketTracker | None = None
        if transport is None:
            self._tracker = _SocketTracker()
            transport = _transport(self._tracker)
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.read_timeout_s,
                pool=settings.read_timeout_s,
            ),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )
        self._token = self.cancel_token  # the token of the generation in progress (see generate)

    # -- lifecycle --------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ImageClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _abort_in_flight(self) -> None:
        """Called from the cancelling thread: end the request in progress now."""
        if self._tracker is not None:
            self._tracker.abort()

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` unless cancelled first (then raise ``Cancelled``)."""
        if self.sleep is not None:
            self._token.check()
            self.sleep(seconds)
        else:
            self._token.wait(seconds)
        self._token.check()

    # -- what would be sent ---------------------------------------------------

    def redact(self, text: str | None) -> str | None:
        """Replace the API key wherever a provider echoed it back."""
        key = self.settings.api_key
        if not text or not key or len(key) < C.KEY_HINT_MIN_KEY_LEN or key not in text:
            return text
        return text.replace(key, f"••••{key_hint(key)}")

    def _headers(self, *, masked: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.settings.api_key
        if key:
            hint = key_hint(key)
            headers["Authorization"] = f"Bearer ••••{hint}" if masked else f"Bearer {key}"
        headers.update(self.settings.extra_headers)
        return headers

    def preview(self, request: GenerationRequest, model: str | None = None) -> RequestPreview:
        url = self.settings.endpoint.url
        body = request.body(model)
        headers = self._headers(masked=True)
        env = self.settings.preset.key_env
        lines = [f"curl -sS -X POST {shlex.quote(url)}"]
        if self.settings.api_key:
            lines.append(f'-H "Authorization: Bearer ${env}"')
        lines.append("-H 'Content-Type: application/json'")
        for name, value in self.settings.extra_headers.items():
            lines.append(f"-H {shlex.quote(f'{name}: {value}')}")
        lines.append(f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}")
        return RequestPreview("POST", url, headers, body, " \\\n  ".join(lines))

    # -- events ----------------------------------------------------------------

    def _emitter(self, t0: float, sink: list[Event], on_event: Callable[[Event], None] | None, run_id: str = ""):
        seq = [0]

        def emit(kind: str, message: str, *, model: str = "", attempt_no: int = 0, **data: Any) -> None:
            event = Event(kind, message, round(self.clock() - t0, 2), model, attempt_no, data)
            sink.append(event)
            seq[0] += 1
            if run_id:
                try:
                    self.recorder.run_event(run_id, seq[0], event)
                except Exception:  # the event log is secondary to the generation itself
                    log.warning("could not record an event of run %s", run_id[:8], exc_info=True)
            if on_event is not None:
                try:
                    on_event(event)
                except Exception:  # a broken progress display must not break the generation
                    pass

        return emit

    # -- the loop --------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        *,
        on_event: Callable[[Event], None] | None = None,
        run_id: str | None = None,
        kind: str = "generate",
    ) -> Outcome:
        """Run one generation to its end and return its Outcome; never raises
        for anything the provider, the network or our own code does."""
        t0 = self.clock()
        if run_id is None:
            run_id = self.recorder.start_run(
                kind=kind, label=request.prompt[:120], settings=self.describe_settings(),
                provider=self.settings.provider, prompt=request.prompt, request=request.to_dict(),
            )
        events: list[Event] = []
        emit = self._emitter(t0, events, on_event, run_id)
        state = _RunState()
        # The run's own token: the caller's cancel, plus the run deadline.
        token = CancelToken()
        self._token = token
        if self._tracker is not None:
            self._tracker.aborted = False
        removers = [self.cancel_token.on_cancel(lambda: token.cancel(self.cancel_token.reason or "cancelled")), token.on_cancel(self._abort_in_flight)]
        deadline_s = self.settings.run_deadline_s
        timer = threading.Timer(max(deadline_s, 0.0), token.cancel, kwargs={"reason": "deadline"})
        timer.daemon = True
        timer.start()
        try:
            return self._run(request, run_id, emit, events, t0, state)
        except E.Cancelled as stop:
            return self._finish(run_id, request, state, events, t0, status=stop.reason)
        except Exception as exc:  # a bug of ours: the run is still finished and shown
            log.exception("unexpected error in run %s", run_id[:8])
            err = E.AppError(f"Image Prompt Lab failed during this generation ({type(exc).__name__}: {exc}).", code=type(exc).__name__)
            state.error = err
            state.ok = False
            return self._finish(run_id, request, state, events, t0)
        finally:
            timer.cancel()
            for remove in removers:
                remove()
            self._token = self.cancel_token

    def _run(self, request: GenerationRequest, run_id: str, emit, events: list[Event], t0: float, state: "_RunState") -> Outcome:
        s = self.settings
        self._token.check()
        try:
            preflight(request, s)
        except E.InvalidInput as err:
            last = self._record_not_sent(request, run_id, err)
            state.take(last)
            state.sent = False
            emit("failed", f"Stopped before sending: {err.message}", model=request.model, attempt_no=1)
            return self._finish(run_id, request, state, events, t0)

        deadline = t0 + s.run_deadline_s
        chain = s.chain(request.model)
        attempt_no = 0
        previous: str | None = None
        for hop, model in enumerate(chain):
            if hop > 0:
                size_problem = check_size(request.size, model)
                if size_problem:
                    emit("skipped", f"Skipping {model}: {size_problem}", model=model)
                    continue
                emit("fallback", f"Falling back to {model} (after {state.error.error_type if state.error else 'an error'} from {previous})", model=model, from_model=previous)
            retries = 0
            while True:
                if self.clock() >= deadline:
                    self._token.cancel("deadline")
                self._token.check()
                attempt_no += 1
                last = self._attempt(request, model, run_id, attempt_no, previous if hop > 0 else None, emit)
                state.take(last)
                if last.ok:
                    emit("succeeded", f"Done: {len(last.images)} image(s) from {model}", model=model, attempt_no=attempt_no)
                    return self._finish(run_id, request, state, events, t0)
                err = last.error
                assert err is not None
                if err.code == "run_deadline":
                    return self._finish(run_id, request, state, events, t0)
                if not should_retry(err, retries, s.max_retries):
                    break
                delay = retry_delay(retries, err.retry_after_s, rand=self.rand)
                if self.clock() + delay >= deadline:
                    emit("failed", f"No retry: the run deadline ({s.run_deadline_s:.0f} s) would pass first", model=model, attempt_no=attempt_no)
                    return self._finish(run_id, request, state, events, t0)
                why = f"{err.status}, Retry-After" if err.retry_after_s is not None else (str(err.status) if err.status else err.error_type)
                emit("retry", f"Retrying in {delay:.1f} s ({why})", model=model, attempt_no=attempt_no, delay_s=delay, error_type=err.error_type)
                self._pause(delay)
                retries += 1
            assert state.error is not None
            if not should_fall_back(state.error):
                break
            previous = model
        return self._finish(run_id, request, state, events, t0)

    def _finish(self, run_id: str, request: GenerationRequest, state: "_RunState", events: list[Event], t0: float, *, status: str | None = None) -> Outcome:
        latency_ms = int((self.clock() - t0) * 1000)
        if status == "deadline":  # stopped between attempts by the run deadline
            status = None
            state.ok = False
            state.error = E.Timeout(
                f"The generation reached its run deadline ({self.settings.run_deadline_s:.0f} s) and was stopped.",
                code="run_deadline",
            )
        status = status or ("succeeded" if state.ok else "failed")
        err = state.error if status in ("succeeded", "failed") else (E.Interrupted("The app stopped while this generation was running.") if status == "interrupted" else None)
        if status == "succeeded":
            err = None
        model = state.model or request.model
        try:
            self.recorder.run_finished(
                run_id,
                {
                    "status": status,
                    "finished_at": self.wall_clock(),
                    "error_type": err.error_type if err else None,
                    "model": model,
                    "attempts": len(state.attempts),
                    "latency_ms": latency_ms,
                },
            )
        except Exception:  # the record of the run is secondary to showing its outcome
            log.exception("could not finish run %s", run_id)
        first = state.first_error
        return Outcome(
            ok=status == "succeeded",
            run_id=run_id,
            requested_model=request.model,
            model=model,
            images=state.images,
            attempts=state.attempts,
            events=events,
            error=err,
            latency_ms=latency_ms,
            usage=state.usage,
            revised_prompt=state.revised,
            preview=self.preview(request, model),
            raw_response=state.raw,
            status=status,
            first_error=first if state.models_tried() > 1 else None,
            sent=state.sent,
            note=state.note,
        )

    def describe_settings(self) -> dict[str, Any]:
        """Settings as recorded with a run: never the key, only its hint."""
        return describe_settings(self.settings)

    def _row(self, request: GenerationRequest, model: str, run_id: str, attempt_no: int, fallback_from: str | None) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "started_at": self.wall_clock(),
            "provider": self.settings.provider,
            "url": self.settings.endpoint.url,
            "model": model,
            "prompt": request.prompt,
            "params": request.params(),
            "attempt_no": attempt_no,
            "fallback_from": fallback_from,
            "status": "pending",
            "key_hint": self.settings.key_hint,
        }

    def _record_not_sent(self, request: GenerationRequest, run_id: str, err: E.ImageLabError) -> _AttemptResult:
        row = self._row(request, request.model, run_id, 1, None)
        attempt_id = self.recorder.attempt_started(row)
        self.recorder.attempt_finished(attempt_id, self._finish_fields(err, 0, 0, None))
        summary = AttemptSummary(attempt_id, 1, request.model, "failed", err.error_type, None, 0, error_message=err.message, error_code=err.code)
        return _AttemptResult(False, [], err, None, None, None, summary)

    def _finish_fields(self, err: E.ImageLabError | None, latency_ms: int, image_count: int, task_id: str | None, http_status: int | None = None, request_id: str | None = None) -> dict[str, Any]:
        return {
            "finished_at": self.wall_clock(),
            "latency_ms": latency_ms,
            "status": "failed" if err else "succeeded",
            "error_type": err.error_type if err else None,
            "http_status": (err.status if err else None) or http_status,
            "error_code": err.code if err else None,
            "error_message": err.message[: C.MAX_ERROR_MESSAGE_CHARS] if err else None,
            "retry_after_s": err.retry_after_s if err else None,
            "task_id": task_id,
            "request_id": (err.request_id if err else None) or request_id,
            "image_count": image_count,
        }

    def _attempt(self, request, model, run_id, attempt_no, fallback_from, emit) -> _AttemptResult:
        row = self._row(request, model, run_id, attempt_no, fallback_from)
        attempt_id = self.recorder.attempt_started(row)
        started = self.clock()
        ctx: dict[str, Any] = {
            "task_id": None, "http_status": None, "request_id": None, "raw": None, "usage": None, "revised": None,
            "probe": None, "images": [], "notes": [],
        }
        err: E.ImageLabError | None = None
        stop: E.Cancelled | None = None
        emit("started", f"Attempt {attempt_no}: {model}", model=model, attempt_no=attempt_no)
        try:
            self._exchange(request, model, attempt_no, attempt_id, ctx, emit)
        except E.Cancelled as c:
            stop = c
        except E.ImageLabError as e:
            err = e
        except httpx.HTTPError as exc:
            err = E.classify_exception(exc)
        except Exception as exc:  # never let an unexpected bug escape as a traceback
            log.exception("unexpected error in attempt %s of run %s", attempt_no, run_id[:8])
            err = E.classify_exception(exc)
        except BaseException:
            # The thread was stopped (Ctrl-C, SystemExit): the row must not stay pending.
            self._report_probe(ctx, rate_limited=False)
            interrupted = E.Interrupted("The app stopped while this request was in flight.")
            latency = int((self.clock() - started) * 1000)
            self._finish_attempt(attempt_id, dict(self._finish_fields(interrupted, latency, len(ctx["images"]), ctx["task_id"]), status="interrupted"), ctx["images"])
            raise
        if stop is None and self._token.cancelled and (err is None or err.error_type in ("network", "timeout", "app_error", "image_fetch_failed")):
            stop = E.Cancelled(self._token.reason or "cancelled")  # the request was closed under us by the cancel
        latency_ms = int((self.clock() - started) * 1000)
        images: list[ResultImage] = ctx["images"]
        if stop is not None:
            self._report_probe(ctx, rate_limited=False)
            if stop.reason == "deadline":
                err = E.Timeout(
                    f"The generation reached its run deadline ({self.settings.run_deadline_s:.0f} s) during this attempt and was stopped.",
                    code="run_deadline",
                )
            else:
                status = "cancelled" if stop.reason == "cancelled" else "interrupted"
                fields = self._finish_fields(None, latency_ms, len(images), ctx["task_id"], ctx["http_status"], ctx["request_id"])
                fields.update(status=status, error_type=None if status == "cancelled" else "interrupted",
                              error_message="Cancelled by the user." if status == "cancelled" else "The app shut down while this request was in flight.")
                if ctx["notes"]:
                    fields["note"] = "; ".join(ctx["notes"])
                self._finish_attempt(attempt_id, fields, images)
                emit("cancelled" if status == "cancelled" else "interrupted",
                     "Cancelled" if status == "cancelled" else "Stopped: the app is shutting down", model=model, attempt_no=attempt_no)
                raise stop
        if err is not None:
            err.message = self.redact(err.message)
            err.provider_message = self.redact(err.provider_message)
            err.raw = self.redact(err.raw)
            if images:  # an error after some images were kept (e.g. a later download failed): keep them
                ctx["notes"].append(f"stopped after {len(images)} image(s): {err.error_type}: {err.message}")
                err = None
        ctx["raw"] = self.redact(ctx["raw"])
        rate_limited = err is not None and err.error_type == "rate_limited"
        if rate_limited and not ctx.get("cooled"):
            self.limiter.cooldown(err.retry_after_s if err.retry_after_s is not None else C.COOLDOWN_AFTER_429_S)
        self._report_probe(ctx, rate_limited=rate_limited)
        fields = self._finish_fields(err, latency_ms, len(images), ctx["task_id"], ctx["http_status"], ctx["request_id"])
        fields["usage"] = ctx["usage"]
        if ctx["notes"]:
            fields["note"] = "; ".join(ctx["notes"])[: C.MAX_ERROR_MESSAGE_CHARS]
        self._finish_attempt(attempt_id, fields, images)
        log.info(
            "run %s attempt %d %s %s %s http=%s %dms",
            run_id[:8], attempt_no, model, "failed" if err else "succeeded",
            err.error_type if err else "-", (err.status if err else None) or ctx["http_status"], latency_ms,
        )
        if err is not None:
            emit("failed", f"{err.info.title} ({err.error_type}{', HTTP ' + str(err.status) if err.status else ''})", model=model, attempt_no=attempt_no, error_type=err.error_type)
        summary = AttemptSummary(
            attempt_id, attempt_no, model, "failed" if err else "succeeded", err.error_type if err else None,
            (err.status if err else None) or ctx["http_status"], latency_ms, fallback_from,
            error_message=err.message if err else None, error_code=err.code if err else None,
        )
        result = _AttemptResult(err is None, images, err, ctx["usage"], ctx["revised"], ctx["raw"], summary)
        result.note = "; ".join(ctx["notes"]) or None
        return result

    def _finish_attempt(self, attempt_id: Any, fields: dict[str, Any], images: list[ResultImage]) -> None:
        """One write for the finish and the image rows. A store that cannot write
        keeps trying on its own (see Store); here a failure is logged, never raised:
        the generation's outcome is still shown."""
        try:
            self.recorder.attempt_finished(attempt_id, fields, images)
        except Exception:
            log.exception("could not record the end of attempt %s", attempt_id)

    def _report_probe(self, ctx: dict[str, Any], *, rate_limited: bool) -> None:
        """Tell the limiter how the POST went, once (the probe is answered by the POST, not the task)."""
        probe = ctx.get("probe")
        if probe is None:
            return
        ctx["probe"] = None
        self.limiter.report(probe, rate_limited=rate_limited)

    def _on_wait(self, model: str, attempt_no: int, emit):
        def on_wait(why: str, seconds: float, ahead: int) -> None:
            text = {
                "cooldown": f"Queued: the provider rate-limited us recently; about {seconds:.1f} s to wait",
                "rate": f"Queued: the client-side rate limit allows the next request in {seconds:.1f} s",
                "concurrency": f"Queued: {ahead} request(s) ahead of this one (parallel requests cap)" if ahead else "Queued: next in line for a free slot (parallel requests cap)",
                "probe": "Queued: one request is checking whether the rate limit has passed",
            }[why]
            emit("queued", text, model=model, attempt_no=attempt_no, why=why, seconds=round(seconds, 2), ahead=ahead)

        return on_wait

    def _exchange(self, request, model, attempt_no, attempt_id, ctx, emit) -> None:
        endpoint = self.settings.endpoint
        body = request.body(model)
        with self.limiter.slot(self._on_wait(model, attempt_no, emit), cancel=self._token) as probe:
            ctx["probe"] = probe
            self._token.check()
            emit("submitted", f"Sent to {endpoint.url}", model=model, attempt_no=attempt_no)
            try:
                response = self._http.post(endpoint.url, json=body, headers=self._headers(masked=False))
                payload = self._read(response, ctx)
            except E.ImageLabError as err:
                self._report_probe(ctx, rate_limited=err.error_type == "rate_limited")
                if err.error_type == "rate_limited":
                    self.limiter.cooldown(err.retry_after_s if err.retry_after_s is not None else C.COOLDOWN_AFTER_429_S)
                    ctx["cooled"] = True
                raise
        self._report_probe(ctx, rate_limited=False)  # answered: the others may go now, before the task and downloads
        self._token.check()

        task = read_task(payload)
        if task is not None:
            if task.status != "completed" or not extract_items(task.payload):
                task = self._poll(task, endpoint, model, attempt_no, ctx, emit)
            payload = task.payload
        elif isinstance(payload, dict):
            ctx["usage"] = payload.get("usage") if isinstance(payload.get("usage"), dict) else None

        items = extract_items(payload)
        if not items:
            raise E.BadResponse(
                f"The answer was a success but held no image: {describe_shape(payload)}. Expected data[].b64_json or data[].url.",
                status=ctx["http_status"], code="no_image_field",
            )
        if isinstance(payload, dict):
            data = payload.get("data")
            if isinstance(data, list) and data and isinstance(data[0], dict):
                ctx["revised"] = data[0].get("revised_prompt")
        first_error: E.ImageLabError | None = None
        for index, item in enumerate(items, start=1):
            self._token.check()
            try:
                if item.kind == "b64":
                    data_bytes = decode_b64(item.value)
                    source_url = None
                else:
                    url = urljoin(endpoint.root + "/", item.value)
                    emit("downloading", f"Downloading image {index} of {len(items)}", model=model, attempt_no=attempt_no, url=url)
                    data_bytes = self.download(url)
                    source_url = url
                result = self._keep(data_bytes, item.kind, source_url)
            except (E.InvalidImage, E.ImageFetchFailed) as err:
                # One bad image of several: keep the good ones and say what happened to this one.
                first_error = first_error or err
                ctx["notes"].append(f"image {index} of {len(items)} not kept: {err.error_type}: {err.message}"[:500])
                emit("failed", f"Image {index} of {len(items)} could not be kept ({err.error_type})", model=model, attempt_no=attempt_no)
                continue
            ctx["images"].append(result)
            emit("saved", f"Saved image {index} ({result.info.width}x{result.info.height} {result.info.format})", model=model, attempt_no=attempt_no)
        if not ctx["images"] and first_error is not None:
            ctx["notes"].clear()
            raise first_error

    def _keep(self, data: bytes, source: str, source_url: str | None) -> ResultImage:
        if self.keeper is not None:
            saved: SavedImage = self.keeper.save(data, source=source, source_url=source_url)
            return ResultImage(saved.info, source, source_url, str(saved.path), saved.rel_path)
        info = validate(data)
        return ResultImage(info, source, source_url, data=data)

    def _read(self, response: httpx.Response, ctx: dict[str, Any]) -> Any:
        """JSON of a successful answer; raise the classified error otherwise."""
        status = response.status_code
        ctx["http_status"] = status
        ctx["request_id"] = response.headers.get("x-request-id") or response.headers.get("request-id")
        content = response.content
        ctype = response.headers.get("content-type", "")
        if 300 <= status < 400:
            ctx["raw"] = raw_preview(status, ctype, content)
            location = response.headers.get("location", "?")
            raise E.EndpointNotFound(
                f"The endpoint answered with a redirect to {location}; use that address as the base URL.",
                status=status, code="redirect",
            )
        if status >= 400:
            ctx["raw"] = raw_preview(status, ctype, content)
            raise E.classify_response(status, content, headers=dict(response.headers), now=self.wall_clock())
        try:
            payload = json.loads(content) if content.strip() else None
        except ValueError:
            ctx["raw"] = raw_preview(status, ctype, content)
            err = E.classify_response(status, content, headers=dict(response.headers))
            if err.error_type == "bad_response":
                err.message = f"The answer (HTTP {status}) is not valid JSON: {err.provider_message or 'empty'}"[:500]
            raise err
        ctx["raw"] = raw_preview(status, ctype, content, payload)
        if payload is None:
            raise E.BadResponse(f"The answer (HTTP {status}) was empty.", status=status, code="empty_body")
        if isinstance(payload, dict) and payload.get("error") and not payload.get("data"):
            # A 200 that carries an error object: some gateways do this.
            raise E.classify_response(status, content, headers=dict(response.headers), now=self.wall_clock())
        return payload

    def _poll(self, task: TaskState, endpoint: Endpoint, model: str, attempt_no: int, ctx, emit) -> TaskState:
        s = self.settings
        ctx["task_id"] = task.task_id
        if not task.task_id:
            raise E.BadResponse("The answer looks like a task but carries no task id.", status=ctx["http_status"], code="no_task_id")
        poll_url = endpoint.task_url_a(task.task_id) if task.shape == "a" else endpoint.task_url_b(task.task_id)
        start = self.clock()
        deadline = start + s.task_deadline_s
        interval = C.TASK_POLL_INITIAL_S
        transient = 0
        polls = 0
        emit("accepted", f"Task {task.task_id} accepted ({task.raw_status}); polling {poll_url}", model=model, attempt_no=attempt_no, task_id=task.task_id)
        while True:
            if task.status == "completed":
                if not extract_items(task.payload):
                    raise E.BadResponse(f"The task completed but lists no image: {describe_shape(task.payload)}.", code="no_image_field")
                return task
            if task.status == "failed":
                raise E.classify_task_failure(task.payload, task_id=task.task_id, status=ctx["http_status"])
            if self.clock() >= deadline:
                raise E.Timeout(
                    f"The task was still '{task.raw_status}' after {s.task_deadline_s:.0f} s (the task deadline).",
                    code="task_deadline", request_id=task.task_id,
                )
            self._pause(max(0.0, min(interval, deadline - self.clock())))
            interval = min(interval * C.TASK_POLL_BACKOFF, C.TASK_POLL_MAX_S)
            try:
                self.limiter.token(cancel=self._token)
                polls += 1
                response = self._http.get(poll_url, headers=self._headers(masked=False))
                payload = self._read(response, ctx)
            except (E.ImageLabError, httpx.HTTPError) as exc:
                if self._token.cancelled:
                    raise E.Cancelled(self._token.reason or "cancelled") from None
                err = E.classify_exception(exc)
                transient += 1
                if not E.is_retryable(err) or transient > C.TASK_POLL_TRANSIENT_FAILURES:
                    raise err from exc if isinstance(exc, httpx.HTTPError) else None
                emit("polling", f"Poll failed ({err.error_type}); trying again", model=model, attempt_no=attempt_no)
                if err.retry_after_s:
                    self._pause(min(err.retry_after_s, C.MAX_RETRY_AFTER_S))
                continue
            new = read_task(payload, shape_hint=task.shape)
            if new is None:
                raise E.BadResponse(f"The task poll answered with an unknown shape: {describe_shape(payload)}.", code="unknown_task_shape")
            new.task_id = new.task_id or task.task_id
            task = new
            progress = f", {task.progress:.0f}%" if task.progress is not None else ""
            emit(
                "polling",
                f"Task {task.raw_status}{progress} ({self.clock() - start:.0f} s)",
                model=model, attempt_no=attempt_no, status=task.raw_status, progress=task.progress, polls=polls,
            )

    # -- downloads ---------------------------------------------------------------

    def download(self, url: str) -> bytes:
        """Fetch a result URL at once, streamed, capped; network failures are retried."""
        attempt = 0
        while True:
            try:
                with self._http.stream("GET", url, timeout=C.DOWNLOAD_TIMEOUT_S, follow_redirects=True) as r:
                    if r.status_code >= 400:
                        gone = r.status_code in (403, 404, 410)
                        raise E.ImageFetchFailed(
                            f"Downloading the image failed with HTTP {r.status_code}"
                            + (" (the link has expired or was never valid)." if gone else "."),
                            status=r.status_code, code="expired" if gone else f"http_{r.status_code}",
                        )
                    declared = r.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > C.MAX_IMAGE_BYTES:
                        raise E.ImageFetchFailed(
                            f"The image is {int(declared):,} bytes, over the {C.MAX_IMAGE_BYTES:,} byte limit; not downloaded.",
                            status=r.status_code, code="too_large",
                        )
                    chunks: list[bytes] = []
                    total = 0
                    for chunk in r.iter_bytes():
                        total += len(chunk)
                        if total > C.MAX_IMAGE_BYTES:
                            raise E.ImageFetchFailed(
                                f"The download passed the {C.MAX_IMAGE_BYTES:,} byte limit and was stopped.",
                                status=r.status_code, code="too_large",
                            )
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.TransportError as exc:
                attempt += 1
                if attempt > C.DOWNLOAD_RETRIES:
                    net = E.classify_exception(exc)
                    raise E.ImageFetchFailed(f"Downloading the image failed: {net.message}", code=net.code) from exc
                self._pause(retry_delay(attempt - 1, rand=self.rand))
