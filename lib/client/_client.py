"""The client: every HTTP request Image Prompt Lab makes goes through here.

``ImageClient.generate(request, on_event=...)`` runs one generation the way
the design describes: pre-flight checks -> client-side limits -> an attempt
row written as pending -> POST -> classify -> (poll a task) -> decode or
download each image -> validate and keep it -> finish the row -> retry or
fall back when the error allows -> an ``Outcome``.

The retry policy is ``lib.client._retry`` and the loop in ``_run``; the
bounded, guarded transport is ``lib.client._transport``; what one attempt
gathers is an ``AttemptContext`` (``lib.client._attempt``). The clock and
``sleep`` are injected, so tests never really wait; ``transport=`` is the
seam for ``httpx.MockTransport``. ``send()`` is the one way to make a
request that generates nothing (Diagnostics' probes): bounded like every
other request, never raising.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from lib import constants as C
from lib import errors as E
from lib import pricing, redact
from lib.answers import (
    StreamItem,
    StreamResult,
    StreamTooLarge,
    TaskState,
    _Item,
    describe_shape,
    error_envelope,
    extract_items,
    looks_like_sse,
    raw_preview,
    read_image_stream,
    read_task,
)
from lib.classify import (
    LOCAL_WRITE_CODE,
    classify_exception,
    classify_response,
    classify_task_failure,
    is_contention,
    is_local_failure,
    load_json,
    local_failure,
)
from lib.client._attempt import AttemptContext, AttemptResult, RunState, drop_frames
from lib.client._dialect import TaskRoute, create_call, dialect_for, read_created, task_route
from lib.client._events import EventLog
from lib.client._evolink import Links, link_body, preview_body, sends_links, upload_references
from lib.client._moderation import check_before_sending
from lib.client._retry import (
    budget_waits,
    cooldown_seconds,
    note_over_cap,
    over_cap,
    rate_budget,
    retry_after_seconds,
    retry_delay,
    should_fall_back,
    should_retry,
)
from lib.client._transport import (
    AddressGuard,
    AnswerTooLarge,
    BadEncoding,
    BlockedAddress,
    DeadlineTransport,
    SocketTracker,
    deadline,
    iter_capped,
    read_capped,
    time_left,
)
from lib.edits import curl_form, edit_form, form_preview
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
from lib.limits import LARGE_ANSWERS, LargeAnswers, LimiterRegistry, ProviderLimiter
from lib.preflight import check_media, preflight
from lib.providers import Endpoint, check_size

USER_AGENT = "image-prompt-lab/0.1"


def classify_answer(status: int, body: bytes | str | None, headers: Any = None, *, now: float | None = None) -> E.ImageLabError:
    """An HTTP answer judged to be an error, as the error it is, with the wait the provider asked for."""
    headers = dict(headers or {})
    return classify_response(status, body, headers=headers, retry_after_s=retry_after_seconds(headers, now=now))


log = logging.getLogger("imagelab.client")
_NON_SPACE_TEXT = re.compile(r"\S")
_LOGIN_PATH = re.compile(r"(log-?in|sign-?in|sso|oauth|auth(orize)?|cas|saml|account)(\b|[/?._-])", re.I)


def _scrub_error(err: E.ImageLabError) -> None:
    """Mask every provider-controlled field of an error, in place."""
    for name in ("message", "provider_message", "raw", "code", "param", "request_id"):
        setattr(err, name, redact.scrub(getattr(err, name)))


@dataclass
class _Answer:
    """A fully read (bounded) answer: what ``_read`` needs of an httpx.Response."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str = ""


# --------------------------------------------------------------------------
# The client


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
        large_answers: LargeAnswers | None = None,
    ) -> None:
        self.settings = settings
        self.large_answers = large_answers if large_answers is not None else LARGE_ANSWERS  # one large answer at a time
        redact.register(settings.api_key)  # masked wherever a provider echoes it
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
                limiter = ProviderLimiter(
                    rate_per_s=settings.rate_per_s, burst=settings.burst, max_concurrency=settings.max_concurrency, clock=clock, sleep=sleep
                )
        self.limiter = limiter
        self.cancel_token = cancel if cancel is not None else CancelToken()
        self._tracker: SocketTracker | None = SocketTracker() if transport is None else None
        self._injected_transport = transport
        self._fetch: httpx.Client | None = None  # result URLs: a client of its own (see download)
        self.links = Links(wall_clock, self.recorder)  # reference images uploaded as links, by content hash
        self.guard = AddressGuard(settings.endpoint.root, allow_private=settings.allow_private_images)
        self._http = httpx.Client(
            transport=transport if transport is not None else DeadlineTransport(tracker=self._tracker),
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
        self._queued_s = 0.0  # time the run waited for a worker, counted in its first attempt's wait_ms
        self._large_wait_s = 0.0  # time the attempt in progress waited for the large-answer turn
        self._log: EventLog | None = None  # the events of the generation in progress

    # -- lifecycle --------------------------------------------------------------

    def close(self) -> None:
        self._http.close()
        if self._fetch is not None:
            self._fetch.close()

    # -- bounded requests --------------------------------------------------------

    def _request(self, method: str, url: str, *, deadline_s: float, cap: int = 0, **kwargs: Any) -> _Answer:
        """Send one request and read its whole answer within ``deadline_s`` seconds
        (connect, headers and body together), reading at most ``cap`` decompressed
        bytes of a 2xx body (``C.MAX_ANSWER_BYTES`` by default) and the first
        ``C.MAX_ERROR_BODY_BYTES`` of any other. Raises the classified error."""
        cap = cap or C.MAX_ANSWER_BYTES
        try:
            with deadline(deadline_s):
                response = self._http.send(self._http.build_request(method, url, **kwargs), stream=True)
                try:
                    ok = 200 <= response.status_code < 300
                    try:
                        content = read_capped(
                            response,
                            cap if ok else C.MAX_ERROR_BODY_BYTES,
                            truncate=not ok,
                            check=self._token.check,
                            on_large=self._hold_large if ok else None,
                        )
                    except BadEncoding as err:
                        if ok:
                            raise E.BadResponse(
                                f"The answer uses Content-Encoding '{redact.scrub(str(err), limit=40)}', which was not asked for; only gzip and deflate are read.",
                                status=response.status_code,
                                code="bad_encoding",
                            ) from None
                        content = b""
                    except httpx.DecodingError as err:
                        raise E.BadResponse(
                            f"The answer could not be decompressed ({err}).", status=response.status_code, code="bad_encoding"
                        ) from None
                    except AnswerTooLarge as err:
                        size = f"declares {err.declared:,} bytes" if err.declared else f"passed {err.cap:,} bytes (decompressed)"
                        raise E.BadResponse(
                            f"The answer {size}, over the {err.cap // (1024 * 1024)} MB limit; reading stopped there.",
                            status=response.status_code,
                            code="answer_too_large",
                        ) from None
                    return _Answer(response.status_code, response.headers, content, str(response.url))
                finally:
                    response.close()
        except httpx.TimeoutException as exc:
            if "deadline" in str(exc):
                raise E.Timeout(
                    f"The answer was not complete within {deadline_s:.0f} s (the limit covers the headers and the whole body).",
                    code="deadline",
                ) from exc
            raise

    def __enter__(self) -> ImageClient:
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

    def _hold_large(self, left: Callable[[], float | None] = time_left) -> None:
        """A body (or a stream's line) grows past ``C.LARGE_ANSWER_BYTES``: wait for the process's
        large-answer turn, under this request's deadline and the generation's cancel. Held until
        the attempt ends (``_attempt``) or the request does (``send``); the wait counts as time
        inside the app, not the provider's."""
        self._large_wait_s += self.large_answers.take(cancel=self._token, time_left=left)

    def redact(self, text: str | None) -> str | None:
        """Mask the API key (any 8-character run of it, in any case) wherever a provider echoed it."""
        return redact.scrub(text, extra=(self.settings.api_key,))

    def _headers(self, *, masked: bool, url: str | None = None) -> dict[str, str]:
        """Request headers. With ``masked=False`` the real key is attached, and only
        when ``url`` is a place the key may go (the key-to-host rule)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self.settings.api_key
        if key:
            hint = key_hint(key)
            if not masked:
                problem = self.settings.key_problem(url or self.settings.endpoint.url)
                if problem:
                    raise E.InvalidInput(problem[1], param=problem[0], code="key_host")
            headers["Authorization"] = f"Bearer ••••{hint}" if masked else f"Bearer {key}"
        headers.update(self.settings.extra_headers)
        return headers

    def preview(self, request: GenerationRequest, model: str | None = None) -> RequestPreview:
        links = sends_links(request, self.settings.preset, model or request.model)
        if request.is_edit and not links:
            return self._edit_preview(request, model)
        dialect = dialect_for(self.settings)
        method, url = "POST", self.settings.endpoint.url
        body = preview_body(self, request, model) if links else request.body(model)
        if dialect is not None:
            try:
                method, url, body = create_call(dialect, request, model or request.model, self.settings.endpoint)
            except E.InvalidInput:  # a route the request cannot fill: pre-flight says so; the preview shows the host
                method, url, body = "POST", self.settings.endpoint.root, None
        headers = self._headers(masked=True)
        env = self.settings.preset.key_env
        lines = [f"curl -sS -X {method} {shlex.quote(url)}"]
        if self.settings.api_key:
            lines.append(f'-H "Authorization: Bearer ${env}"')
        lines.append("-H 'Content-Type: application/json'")
        for name, value in self.settings.extra_headers.items():
            lines.append(f"-H {shlex.quote(f'{name}: {value}')}")
        if body is not None:
            lines.append(f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}")
        return RequestPreview(method, url, headers, body or {}, " \\\n  ".join(lines))

    def _edit_preview(self, request: GenerationRequest, model: str | None) -> RequestPreview:
        """An edit as sent: multipart fields with file names and sizes, never the bytes; curl with -F."""
        url = self.settings.endpoint.edits_url
        fields, files = edit_form(request, model)
        headers = self._headers(masked=True)
        headers["Content-Type"] = "multipart/form-data; boundary=..."
        body: dict[str, Any] = dict(fields)
        for name, (filename, data, ctype) in files:
            entry = f"{filename} ({ctype}, {len(data):,} bytes)"
            if name == "image[]":
                body.setdefault(name, []).append(entry)
            else:
                body[name] = entry
        curl = curl_form(
            url,
            fields,
            files,
            key_env=self.settings.preset.key_env if self.settings.api_key else None,
            extra_headers=self.settings.extra_headers,
        )
        return RequestPreview("POST", url, headers, body, curl, form=form_preview(fields, files))

    # -- events ----------------------------------------------------------------

    def _emitter(self, t0: float, sink: list[Event], on_event: Callable[[Event], None] | None, run_id: str = "") -> EventLog:
        return EventLog(clock=self.clock, t0=t0, sink=sink, on_event=on_event, recorder=self.recorder, run_id=run_id)

    # -- the loop --------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        *,
        on_event: Callable[[Event], None] | None = None,
        run_id: str | None = None,
        kind: str = "generate",
        queued_s: float = 0.0,
    ) -> Outcome:
        """Run one generation to its end and return its Outcome; never raises
        for anything the provider, the network or our own code does. ``queued_s``:
        how long the run already waited for a worker (recorded as wait, not latency)."""
        t0 = self.clock()
        self._queued_s = max(0.0, queued_s)
        if run_id is None:
            run_id = self.recorder.start_run(
                kind=kind,
                label=request.prompt[:120],
                settings=self.settings.describe(),
                provider=self.settings.provider,
                prompt=request.prompt,
                request=request.to_dict(),
            )
        events: list[Event] = []
        emit = self._emitter(t0, events, on_event, run_id)
        self._log = emit
        state = RunState()
        # The run's own token: the caller's cancel, plus the run deadline.
        token = CancelToken()
        self._token = token
        if self._tracker is not None:
            self._tracker.aborted = False
        removers = [
            self.cancel_token.on_cancel(lambda: token.cancel(self.cancel_token.reason or "cancelled")),
            token.on_cancel(self._abort_in_flight),
        ]
        deadline_s = self.settings.run_deadline_s
        timer = threading.Timer(max(deadline_s, 0.0), token.cancel, kwargs={"reason": "deadline"})
        timer.daemon = True
        timer.start()
        try:
            return self._run(request, run_id, emit, events, t0, state)
        except E.Cancelled as stop:
            summary = getattr(stop, "summary", None)
            if summary is not None:
                state.attempts.append(summary)
            return self._finish(run_id, request, state, events, t0, status=stop.reason)
        except E.AppError as err:  # a write on this machine failed before a request went out
            log.error("run %s stopped: %s", run_id[:8], err.message)
            state.error = err
            state.ok = False
            emit("failed", err.message)
            return self._finish(run_id, request, state, events, t0)
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
            self._log = None

    def _run(self, request: GenerationRequest, run_id: str, emit, events: list[Event], t0: float, state: RunState) -> Outcome:
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
        if s.moderate and (flagged := check_before_sending(self, request, run_id, emit)) is not None:
            state.take(flagged)  # the check before paying stopped it: no image request is sent
            state.model = request.model  # the run's model is the image model asked for, not the check's
            return self._finish(run_id, request, state, events, t0)

        deadline = t0 + s.run_deadline_s
        chain = s.chain(request.model)
        attempt_no = 0
        previous: str | None = None
        for hop, model in enumerate(chain):
            if hop > 0:
                size_problem = check_size(request.size, model, s.preset)
                if size_problem:
                    emit("skipped", f"Skipping {model}: {size_problem}", model=model)
                    continue
                try:
                    check_media(request, s, model)  # can this model stream / edit / take these files?
                except E.InvalidInput as err:
                    emit("skipped", f"Skipping {model}: {err.message}", model=model)
                    continue
                emit(
                    "fallback",
                    f"Falling back to {model} (after {state.error.error_type if state.error else 'an error'} from {previous})",
                    model=model,
                    from_model=previous,
                )
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
                    emit(
                        "failed",
                        f"No retry: the run deadline ({s.run_deadline_s:.0f} s) would pass first",
                        model=model,
                        attempt_no=attempt_no,
                    )
                    return self._finish(run_id, request, state, events, t0)
                why = f"{err.status}, Retry-After" if err.retry_after_s is not None else (str(err.status) if err.status else err.error_type)
                emit(
                    "retry",
                    f"Retrying in {delay:.1f} s ({why})",
                    model=model,
                    attempt_no=attempt_no,
                    delay_s=delay,
                    error_type=err.error_type,
                )
                self._pause(delay)
                retries += 1
            assert state.error is not None
            if not should_fall_back(state.error):
                break
            previous = model
        return self._finish(run_id, request, state, events, t0)

    def _finish(
        self, run_id: str, request: GenerationRequest, state: RunState, events: list[Event], t0: float, *, status: str | None = None
    ) -> Outcome:
        latency_ms = int((self.clock() - t0) * 1000)
        if self._log is not None:
            self._log.flush()  # the events held back are counted in the run's list before it is handed back
        if status == "deadline":  # stopped between attempts by the run deadline
            status = None
            state.ok = False
            state.error = E.Timeout(
                f"The generation reached its run deadline ({self.settings.run_deadline_s:.0f} s) and was stopped.",
                code="run_deadline",
            )
        status = status or ("succeeded" if state.ok else "failed")
        err = (
            state.error
            if status in ("succeeded", "failed")
            else (E.Interrupted("The app stopped while this generation was running.") if status == "interrupted" else None)
        )
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
            partials=state.partials,
            partial_count=state.partial_count,
            first_partial_ms=state.first_partial_ms,
        )

    def _row(self, request: GenerationRequest, model: str, run_id: str, attempt_no: int, fallback_from: str | None) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "started_at": self.wall_clock(),
            "provider": self.settings.provider,
            "url": self._sent_to(request, model),
            "model": model,
            "prompt": request.prompt,
            "params": request.params(),
            "attempt_no": attempt_no,
            "fallback_from": fallback_from,
            "status": "pending",
            "key_hint": self.settings.key_hint,
        }

    def _sent_to(self, request: GenerationRequest, model: str) -> str:
        """The URL the request goes to: the edits or generations route, or the dialect's create route."""
        endpoint = self.settings.endpoint
        if dialect_for(self.settings) is not None:
            return self.preview(request, model).url
        return endpoint.edits_url if request.is_edit and not sends_links(request, self.settings.preset, model) else endpoint.url

    def _record_not_sent(self, request: GenerationRequest, run_id: str, err: E.ImageLabError) -> AttemptResult:
        row = self._row(request, request.model, run_id, 1, None)
        attempt_id = self.recorder.attempt_started(row)
        self.finish_attempt(attempt_id, self._finish_fields(err, 0, 0, None), row=row)
        summary = AttemptSummary(
            attempt_id, 1, request.model, "failed", err.error_type, None, 0, error_message=err.message, error_code=err.code
        )
        return AttemptResult(False, [], err, None, None, None, summary)

    def _finish_fields(
        self,
        err: E.ImageLabError | None,
        latency_ms: int,
        image_count: int,
        task_id: str | None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "finished_at": self.wall_clock(),
            "latency_ms": latency_ms,
            "wait_ms": 0,
            "status": "failed" if err else "succeeded",
            "error_type": err.error_type if err else None,
            "http_status": (err.status if err else None) or http_status,
            "error_code": err.code if err else None,
            "error_message": redact.scrub(err.message, limit=C.MAX_ERROR_MESSAGE_CHARS) if err else None,
            "error_param": redact.scrub(err.param, limit=C.MAX_ERROR_PARAM_CHARS) if err else None,
            "retry_after_s": err.retry_after_s if err else None,
            "task_id": task_id,
            "request_id": (err.request_id if err else None) or request_id,
            "image_count": image_count,
        }

    def _data_place(self) -> Any:
        """Where this client writes: the data directory (the store's root), else the images folder."""
        root = getattr(self.recorder, "root", None)
        if root is None and self.keeper is not None:
            root = self.keeper.root
        return root

    def _attempt(self, request, model, run_id, attempt_no, fallback_from, emit) -> AttemptResult:
        row = self._row(request, model, run_id, attempt_no, fallback_from)
        try:
            attempt_id = self.recorder.attempt_started(row)
        except Exception as exc:
            if not is_local_failure(exc):
                raise
            # No row, no request: nothing is sent that could not be recorded.
            raise local_failure(exc, place=self._data_place(), doing="recording the attempt before sending it") from exc
        started = self.clock()
        ctx = AttemptContext(started=started, queued_s=self._queued_s)
        self._queued_s = 0.0  # a worker's queue is waited once, before the run's first attempt
        if request.is_edit:
            self._record_inputs(attempt_id, request)
        err: E.ImageLabError | None = None
        stop: E.Cancelled | None = None
        emit("started", f"Attempt {attempt_no}: {model}", model=model, attempt_no=attempt_no)
        self._large_wait_s = 0.0
        try:
            try:
                self._exchange(request, model, attempt_no, attempt_id, ctx, emit)
            finally:  # its images are saved (or it failed): the next large answer may be read
                self.large_answers.release()
                ctx.wait_s += self._large_wait_s
                self._large_wait_s = 0.0
        except E.Cancelled as c:
            stop = c
        except E.ImageLabError as e:
            err = e
        except httpx.HTTPError as exc:
            err = classify_exception(exc)
        except Exception as exc:  # never let an unexpected bug escape as a traceback
            log.exception("unexpected error in attempt %s of run %s", attempt_no, run_id[:8])
            err = classify_exception(exc)
        except BaseException:
            # The thread was stopped (Ctrl-C, SystemExit): the row must not stay pending.
            self._report_probe(ctx, rate_limited=False)
            interrupted = E.Interrupted("The app stopped while this request was in flight.")
            latency = ctx.latency_ms(self.clock())
            self.finish_attempt(
                attempt_id,
                dict(self._finish_fields(interrupted, latency, len(ctx.images), ctx.task_id), status="interrupted", wait_ms=ctx.wait_ms),
                ctx.images,
                row=row,
            )
            raise
        if stop is None and self._token.cancelled:
            # The request was closed under us by the cancel (or the deadline): whatever the cut body then
            # looked like (cut off, not JSON, no completed event), the attempt was stopped, not answered badly.
            stop = E.Cancelled(self._token.reason or "cancelled")
        drop_frames(err)
        drop_frames(stop)
        latency_ms = ctx.latency_ms(self.clock())
        images: list[ResultImage] = ctx.images
        if stop is not None:
            self._report_probe(ctx, rate_limited=False)
            if stop.reason == "deadline":
                err = E.Timeout(
                    f"The generation reached its run deadline ({self.settings.run_deadline_s:.0f} s) during this attempt and was stopped.",
                    code="run_deadline",
                )
            else:
                status = "cancelled" if stop.reason == "cancelled" else "interrupted"
                fields = self._finish_fields(
                    None, latency_ms, len(images), redact.scrub(ctx.task_id), ctx.http_status, redact.scrub(ctx.request_id)
                )
                fields.update(
                    wait_ms=ctx.wait_ms,
                    status=status,
                    error_type=None if status == "cancelled" else "interrupted",
                    error_message="Cancelled by the user."
                    if status == "cancelled"
                    else "The app shut down while this request was in flight.",
                )
                fields.update(self._budget_fields(ctx))
                if ctx.notes:
                    fields["note"] = redact.scrub("; ".join(ctx.notes), limit=C.MAX_ERROR_MESSAGE_CHARS)
                self.finish_attempt(attempt_id, fields, images, row=row)
                emit(
                    "cancelled" if status == "cancelled" else "interrupted",
                    "Cancelled" if status == "cancelled" else "Stopped: the app is shutting down",
                    model=model,
                    attempt_no=attempt_no,
                )
                stop.summary = AttemptSummary(  # the run's outcome lists the attempt it stopped, as its record does
                    attempt_id,
                    attempt_no,
                    model,
                    status,
                    fields["error_type"],
                    ctx.http_status,
                    latency_ms,
                    fallback_from,
                    error_message=fields["error_message"],
                    wait_ms=ctx.wait_ms,
                )
                raise stop
        if err is not None:
            note_over_cap(err)
            _scrub_error(err)
            if images and err.code != LOCAL_WRITE_CODE:  # an error after some images were kept (e.g. a later download failed): keep them
                ctx.notes.append(f"stopped after {len(images)} image(s): {err.error_type}: {err.message}")
                err = None
        ctx.scrub()  # everything the provider controls, masked once before it is recorded or shown
        rate_limited = err is not None and err.error_type == "rate_limited"
        if rate_limited and not ctx.cooled:
            self.limiter.cooldown(cooldown_seconds(err.retry_after_s))
        self._report_probe(ctx, rate_limited=rate_limited)
        fields = self._finish_fields(err, latency_ms, len(images), ctx.task_id, ctx.http_status, ctx.request_id)
        fields["usage"] = ctx.usage
        fields["wait_ms"] = ctx.wait_ms
        fields["raw_response"] = ctx.raw  # History's attempt detail (base64 elided, redacted above)
        fields.update(self._budget_fields(ctx))
        if ctx.images_over:
            # The provider's usage counts images that were not kept: the estimate is of the images kept.
            fields.update(pricing.cost_fields(model, row.get("params") or {}, dict(fields, usage=None, image_count=len(images))))
        if request.stream:
            fields["first_partial_ms"] = ctx.first_partial_ms
            if ctx.partial_count and err is not None:
                ctx.notes.append(f"{ctx.partial_count} partial image(s) received before the failure")
        if ctx.notes:
            fields["note"] = redact.scrub("; ".join(ctx.notes), limit=C.MAX_ERROR_MESSAGE_CHARS)
        unrecorded = self.finish_attempt(attempt_id, fields, images, row=row)
        if unrecorded is not None:
            # The attempt's record could not be written: the run stops here (nothing more is sent),
            # saying why; the store replays the write later, or the next start ends the row.
            if err is not None:
                unrecorded.message += f" (The attempt itself ended with {err.error_type}: {err.message})"
            err = unrecorded
        log.info(
            "run %s attempt %d %s %s %s http=%s %dms",
            run_id[:8],
            attempt_no,
            model,
            "failed" if err else "succeeded",
            err.error_type if err else "-",
            (err.status if err else None) or ctx.http_status,
            latency_ms,
        )
        if err is not None:
            emit(
                "failed",
                f"{err.info.title} ({err.error_type}{', HTTP ' + str(err.status) if err.status else ''})",
                model=model,
                attempt_no=attempt_no,
                error_type=err.error_type,
            )
        summary = AttemptSummary(
            attempt_id,
            attempt_no,
            model,
            "failed" if err else "succeeded",
            err.error_type if err else None,
            (err.status if err else None) or ctx.http_status,
            latency_ms,
            fallback_from,
            error_message=err.message if err else None,
            error_code=err.code if err else None,
            wait_ms=ctx.wait_ms,
        )
        result = AttemptResult(
            err is None,
            images,
            err,
            ctx.usage,
            ctx.revised,
            ctx.raw,
            summary,
            ctx.partials if request.keep_partials else None,
            ctx.partial_count,
            ctx.first_partial_ms,
        )
        result.note = ctx.note()
        return result

    @staticmethod
    def _budget_fields(ctx: AttemptContext) -> dict[str, Any]:
        """The attempt's record of the rate-limit budget the provider announced, and of the wait it caused."""
        fields: dict[str, Any] = ctx.budget.fields() if ctx.budget is not None else {}
        if ctx.budget_wait_s > 0:
            fields["ratelimit_wait_ms"] = round(ctx.budget_wait_s * 1000)
        return fields

    def _record_inputs(self, attempt_id: Any, request: GenerationRequest) -> None:
        """Reference images and mask, kept content-addressed and linked to the attempt (if the recorder can)."""
        keep = getattr(self.recorder, "inputs_saved", None)
        if keep is None:
            return
        try:
            keep(attempt_id, [*request.images, *([request.mask] if request.mask is not None else [])])
        except Exception:  # the record of the inputs is secondary to the edit itself
            log.exception("could not keep the reference images of attempt %s", attempt_id)

    def finish_attempt(
        self, attempt_id: Any, fields: dict[str, Any], images: list[ResultImage] | tuple = (), *, row: dict[str, Any]
    ) -> E.AppError | None:
        """The end of an attempt (``row`` is what ``attempt_started`` was given): its
        estimated cost added (lib/pricing.py: by usage, else size x quality of the
        images kept; failed attempts 0 unless the provider reported usage), then one
        write for the finish and the image rows. A store that cannot write keeps
        trying on its own (see Store); here a failure is logged, never raised: the
        generation's outcome is still shown. Returns the error when a local write
        failed (the disk, the database), None otherwise."""
        fields = dict(fields)
        if images:
            fields["image_count"] = len(images)
        try:
            if "cost_usd" not in fields:
                fields.update(pricing.cost_fields(row.get("model") or "", row.get("params") or {}, fields))
        except Exception:  # an estimate must never lose the attempt's record
            log.exception("cost estimate failed for attempt %s", attempt_id)
        try:
            self.recorder.attempt_finished(attempt_id, fields, images)
        except Exception as exc:
            log.exception("could not record the end of attempt %s", attempt_id)
            if is_local_failure(exc) and not is_contention(exc):  # a lock passes: the store replays the write soon
                return local_failure(exc, place=self._data_place(), doing="recording the end of the attempt")
        return None

    def _report_probe(self, ctx: AttemptContext, *, rate_limited: bool) -> None:
        """Tell the limiter how the POST went, once (the probe is answered by the POST, not the task)."""
        probe = ctx.probe
        if probe is None:
            return
        ctx.probe = None
        self.limiter.report(probe, rate_limited=rate_limited)

    def _on_wait(self, model: str, attempt_no: int, emit, ctx: AttemptContext | None = None):
        def on_wait(why: str, seconds: float, ahead: int) -> None:
            text = {
                "cooldown": f"Queued: the provider rate-limited us recently; about {seconds:.1f} s to wait",
                "budget": f"Queued: the provider's announced rate-limit budget is (nearly) spent; next request in {seconds:.1f} s",
                "rate": f"Queued: the client-side rate limit allows the next request in {seconds:.1f} s",
                "concurrency": f"Queued: {ahead} request(s) ahead of this one (parallel requests cap)"
                if ahead
                else "Queued: next in line for a free slot (parallel requests cap)",
                "probe": "Queued: one request is checking whether the rate limit has passed",
            }[why]
            if why == "budget" and ctx is not None:
                ctx.budget_wait_s += seconds
            emit("queued", text, model=model, attempt_no=attempt_no, why=why, seconds=round(seconds, 2), ahead=ahead)

        return on_wait

    def _note_budget(self, headers: Any, ctx: AttemptContext) -> None:
        """Read the rate-limit budget an answer announces; the shared limiter paces requests by it."""
        budget = rate_budget(headers, now=self.wall_clock())
        if not budget.announced:
            return
        ctx.budget = budget
        self.limiter.pace(*budget_waits(budget))

    def _exchange(self, request, model, attempt_no, attempt_id, ctx, emit) -> None:
        s = self.settings
        endpoint = s.endpoint
        links = sends_links(request, s.preset, model)
        url = endpoint.edits_url if request.is_edit and not links else endpoint.url
        method, dialect = "POST", dialect_for(s)
        if dialect is not None:  # a gateway's own API, as its dialect file describes it
            method, url, body = create_call(dialect, request, model, endpoint)
        headers = self._headers(masked=False, url=url)
        send: dict[str, Any]
        if dialect is not None:
            send = {"json": body} if body is not None else {}
        elif links:  # references as links: each file uploaded first (EvoLink)
            send = {"json": link_body(request, model, upload_references(self, request, model=model, attempt_no=attempt_no, emit=emit))}
        elif request.is_edit:
            fields, files = edit_form(request, model)
            send = {"data": fields, "files": files}
            headers.pop("Content-Type", None)  # httpx writes multipart/form-data with its boundary
        else:
            send = {"json": request.body(model)}
        streamed: list[_Item] | None = None
        queued_at = self.clock()
        with self.limiter.slot(self._on_wait(model, attempt_no, emit, ctx), cancel=self._token) as probe:
            ctx.probe = probe
            ctx.wait_s += self.clock() - queued_at  # a slot, a token, a shared cooldown: the app's time, not the provider's
            self._token.check()
            emit(
                "submitted",
                f"Sent to {url}"
                + (f" (streaming, {request.partial_images} partial image(s))" if request.stream else "")
                + (f", after {ctx.wait_s:.1f} s queued" if ctx.wait_s >= 0.05 else ""),
                model=model,
                attempt_no=attempt_no,
            )
            try:
                if request.stream:
                    headers["Accept"] = "text/event-stream"
                    streamed, payload = self._stream_exchange(url, headers, send, request, model, attempt_no, ctx, emit)
                else:
                    payload = self._read(self._request(method, url, deadline_s=s.read_timeout_s, headers=headers, **send), ctx)
            except E.ImageLabError as err:
                self._report_probe(ctx, rate_limited=err.error_type == "rate_limited")
                if err.error_type == "rate_limited":
                    self.limiter.cooldown(cooldown_seconds(err.retry_after_s))
                    ctx.cooled = True
                raise
        self._report_probe(ctx, rate_limited=False)  # answered: the others may go now, before the task and downloads
        self._token.check()
        if streamed is not None:
            return self._keep_all(streamed, endpoint, model, attempt_no, ctx, emit)

        task = read_created(dialect, payload) if dialect is not None else read_task(payload)
        if task is not None:
            if task.status != "completed" or not extract_items(task.payload):
                route = task_route(dialect, request, model, endpoint, task.task_id) if dialect and task.task_id else None
                task = self._poll(task, endpoint, model, attempt_no, ctx, emit, route=route)
            payload = task.payload
        elif isinstance(payload, dict):
            ctx.usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else None

        items = extract_items(payload)
        if not items:
            raise E.BadResponse(
                f"The answer was a success but held no image: {describe_shape(payload)}. Expected data[].b64_json or data[].url.",
                status=ctx.http_status,
                code="no_image_field",
            )
        if isinstance(payload, dict):
            data = payload.get("data")
            if isinstance(data, list) and data and isinstance(data[0], dict):
                ctx.revised = data[0].get("revised_prompt")
        del payload
        asked = max(int(request.n or 1), 1)
        if len(items) > asked:  # the provider does not decide how many images are kept (or priced)
            ctx.images_over = len(items) - asked
            ctx.notes.append(
                f"the answer held {len(items):,} images for {asked} asked; the first {asked} were kept, the rest not kept or priced"
            )
            emit(
                "note",
                f"The provider sent {len(items):,} images for the {asked} asked; the first {asked} were kept",
                model=model,
                attempt_no=attempt_no,
                images_over=ctx.images_over,
            )
            del items[asked:]
        return self._keep_all(items, endpoint, model, attempt_no, ctx, emit)

    def _stream_exchange(
        self, url: str, headers: dict[str, str], send: dict[str, Any], request, model, attempt_no, ctx, emit
    ) -> tuple[list[_Item] | None, Any]:
        """Send with ``stream: true`` and read the events as they come, within the read
        timeout as a whole-request deadline and the ``MAX_STREAM_BYTES`` cap."""
        deadline_s = self.settings.read_timeout_s
        try:
            with deadline(deadline_s):
                response = self._http.send(self._http.build_request("POST", url, headers=headers, **send), stream=True)
                try:
                    return self._read_stream(response, request, model, attempt_no, ctx, emit)
                finally:
                    response.close()
        except httpx.TimeoutException as exc:
            if "deadline" in str(exc):
                raise E.Timeout(
                    f"The stream was not complete within {deadline_s:.0f} s (the read timeout covers the whole stream).", code="deadline"
                ) from exc
            raise

    def _read_stream(self, response: httpx.Response, request, model, attempt_no, ctx, emit) -> tuple[list[_Item] | None, Any]:
        """Read a streamed answer: (final items, None); or (None, JSON payload) when the
        provider answered JSON instead (an error, or a gateway that ignored ``stream``)."""
        ctype = response.headers.get("content-type", "")
        if response.status_code >= 300 or not looks_like_sse(ctype):
            ok = 200 <= response.status_code < 300
            try:
                content = read_capped(
                    response,
                    C.MAX_ANSWER_BYTES if ok else C.MAX_ERROR_BODY_BYTES,
                    truncate=not ok,
                    on_large=self._hold_large if ok else None,
                )
            except AnswerTooLarge as err:
                raise E.BadResponse(
                    f"The answer passed {err.cap:,} bytes; reading stopped there.", status=response.status_code, code="answer_too_large"
                ) from None
            payload = self._read(_Answer(response.status_code, response.headers, content, str(response.url)), ctx)
            emit(
                "note",
                "The provider ignored stream: true and answered with one JSON body; no partial images.",
                model=model,
                attempt_no=attempt_no,
                ignored_stream=True,
            )
            ctx.notes.append("stream requested; the provider answered JSON (no partial images)")
            return None, payload
        ctx.http_status = response.status_code
        ctx.request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        self._note_budget(response.headers, ctx)
        asked = max(int(request.n or 1), 1)
        previews = request.partial_images * asked  # partials worth decoding: what was asked, per image
        read_by = self.clock() + self.settings.read_timeout_s
        shown_at = [self.clock()]

        def too_slow() -> E.Timeout:
            return E.Timeout(
                f"The stream was not complete within {self.settings.read_timeout_s:.0f} s (the read timeout covers the whole stream); "
                f"{ctx.partial_count:,} partial image(s) had arrived.",
                code="deadline",
            )

        def check() -> None:
            # Between chunks and between events, not only on a socket read: a flood already in the
            # buffers (or inflating from a small compressed body) stops at a cancel or the deadline too.
            self._token.check()
            if self.clock() > read_by:
                raise too_slow()

        def stream_left() -> float:
            left = read_by - self.clock()
            if left <= 0:
                raise too_slow()
            return left

        def progress(result: StreamResult) -> None:
            now = self.clock()
            if now - shown_at[0] >= C.EVENT_COALESCE_S:
                shown_at[0] = now
                emit(
                    "streaming",
                    f"Stream: {result.events:,} event(s) read, {result.partial_count:,} partial image(s), "
                    f"{len(result.finals) + result.extra_finals:,} final image(s)",
                    model=model,
                    attempt_no=attempt_no,
                    events=result.events,
                )

        def on_item(item: StreamItem) -> None:
            if item.kind != "partial":
                emit("streamed", f"Final image received from the stream ({item.event_type})", model=model, attempt_no=attempt_no)
                return
            ctx.partial_count += 1
            if ctx.first_partial_ms is None:
                ctx.first_partial_ms = int((self.clock() - ctx.started) * 1000)
            if ctx.partial_count > previews:
                return  # more previews than asked for: counted, never decoded or held
            try:
                image = decode_b64(item.b64 or "")
                validate(image)
            except E.ImageLabError as err:  # a broken preview is noted, the final image still counts
                emit(
                    "partial",
                    f"Partial image {ctx.partial_count} could not be shown: {err.message}",
                    model=model,
                    attempt_no=attempt_no,
                    index=item.index,
                )
                return
            if request.keep_partials:
                ctx.partials.append(image)
            number = (item.index + 1) if isinstance(item.index, int) else ctx.partial_count
            emit(
                "partial",
                f"Partial image {number} of {request.partial_images} ({len(image) / 1024:,.0f} KB)",
                model=model,
                attempt_no=attempt_no,
                image=image,
                index=item.index,
                count=ctx.partial_count,
            )

        def chunks() -> Iterator[bytes]:
            try:
                yield from iter_capped(response, C.MAX_STREAM_BYTES)
            except httpx.TimeoutException as exc:
                if "deadline" in str(exc):  # the same limit, met on a socket read
                    raise too_slow() from None
                raise
            except AnswerTooLarge as err:
                raise StreamTooLarge(f"The stream passed the {err.cap:,} byte limit and was stopped.") from None
            except BadEncoding as err:
                raise E.BadResponse(
                    f"The stream uses Content-Encoding '{redact.scrub(str(err), limit=40)}', which was not asked for.",
                    status=response.status_code,
                    code="bad_encoding",
                ) from None

        result = read_image_stream(
            chunks(), on_item=on_item, keep=asked, check=check, progress=progress, on_large=lambda: self._hold_large(stream_left)
        )
        ctx.usage = result.usage
        ctx.notes.extend(result.notes)
        if ctx.partial_count > previews:
            ctx.notes.append(f"{ctx.partial_count - previews:,} partial image(s) past the {previews} asked for were counted, not shown")
        if result.extra_finals:
            ctx.images_over = result.extra_finals
            emit(
                "note",
                f"The provider sent {asked + result.extra_finals:,} images for the {asked} asked; the first {asked} were kept",
                model=model,
                attempt_no=attempt_no,
                images_over=result.extra_finals,
            )
        ctx.raw = (
            f"HTTP {response.status_code}  {ctype}\n(server-sent events: {result.events:,} event(s), "
            f"{result.partial_count:,} partial image(s), {len(result.finals) + result.extra_finals:,} final image(s)"
            + (f", {len(result.finals)} kept" if result.extra_finals else "")
            + "; base64 not shown)"
            + (f"\nusage: {result.usage}" if result.usage else "")
        )
        return [_Item("b64", f.b64 or "") for f in result.finals], None

    def _keep_all(self, items: list[_Item], endpoint: Endpoint, model: str, attempt_no: int, ctx: AttemptContext, emit) -> None:
        """Decode or download each image and keep it; one bad image of several is noted, not fatal."""
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
                    source_url = redact.scrub(url)  # a signed query string (token=, X-Amz-*) is cut
                result = self._keep(data_bytes, item.kind, source_url)
            except (E.InvalidImage, E.ImageFetchFailed) as err:
                # One bad image of several: keep the good ones and say what happened to this one.
                first_error = first_error or err
                ctx.notes.append(f"image {index} of {len(items)} not kept: {err.error_type}: {err.message}"[:500])
                emit("failed", f"Image {index} of {len(items)} could not be kept ({err.error_type})", model=model, attempt_no=attempt_no)
                continue
            ctx.images.append(result)
            emit(
                "saved",
                f"Saved image {index} ({result.info.width}x{result.info.height} {result.info.format})",
                model=model,
                attempt_no=attempt_no,
            )
        if not ctx.images and first_error is not None:
            ctx.notes.clear()
            raise first_error

    def _keep(self, data: bytes, source: str, source_url: str | None) -> ResultImage:
        if self.keeper is not None:
            try:
                saved: SavedImage = self.keeper.save(data, source=source, source_url=source_url)
            except E.ImageLabError:
                raise
            except Exception as exc:
                if not is_local_failure(exc):
                    raise
                raise local_failure(exc, place=self.keeper.root, doing="saving an image") from exc
            return ResultImage(saved.info, source, source_url, str(saved.path), saved.rel_path)
        info = validate(data)
        return ResultImage(info, source, source_url, data=data)

    def _read(self, response: _Answer, ctx: AttemptContext) -> Any:
        """JSON of a successful answer; raise the classified error otherwise."""
        status = response.status_code
        ctx.http_status = status
        ctx.request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        self._note_budget(response.headers, ctx)
        content = response.content
        ctype = response.headers.get("content-type", "")
        if 300 <= status < 400:
            ctx.raw = raw_preview(status, ctype, content)
            location = redact.strip_query(response.headers.get("location", "") or "") or "?"
            if _LOGIN_PATH.search(location):
                raise E.EndpointNotFound(
                    f"The endpoint redirected (HTTP {status}) to a sign-in page, {location}: something in front of the API "
                    "asks for a browser login.",
                    status=status,
                    code="redirect_login",
                )
            raise E.EndpointNotFound(
                f"The endpoint answered with a redirect (HTTP {status}) to {location}; use that address as the base URL.",
                status=status,
                code="redirect",
            )
        if status >= 400:
            ctx.raw = raw_preview(status, ctype, content)
            raise classify_answer(status, content, response.headers, now=self.wall_clock())
        # Parse from text, dropping the bytes first: a large answer is never held three times over.
        text = content.decode("utf-8", "replace") if isinstance(content, (bytes, bytearray)) else str(content)
        if isinstance(response, _Answer):
            response.content = b""
        del content
        try:
            payload = load_json(text) if _NON_SPACE_TEXT.search(text) else None
        except ValueError:
            ctx.raw = raw_preview(status, ctype, text[: C.MAX_RAW_PREVIEW_CHARS].encode("utf-8"))
            err = classify_answer(status, text[: C.MAX_ERROR_BODY_BYTES], response.headers, now=self.wall_clock())
            if err.error_type == "bad_response":
                err.message = redact.scrub(f"The answer (HTTP {status}) is not valid JSON: {err.provider_message or 'empty'}", limit=500)
            raise err from None
        del text
        ctx.raw = raw_preview(status, ctype, b"", payload)
        if payload is None:
            raise E.BadResponse(f"The answer (HTTP {status}) was empty.", status=status, code="empty_body")
        if read_task(payload) is None and error_envelope(payload):
            # A 200 that carries an error of its own: {"error": ...}, {"code": 429, "msg": ...}, {"success": false}.
            raise classify_answer(status, json.dumps(payload, ensure_ascii=False), response.headers, now=self.wall_clock())
        return payload

    def _poll(
        self, task: TaskState, endpoint: Endpoint, model: str, attempt_no: int, ctx, emit, *, route: TaskRoute | None = None
    ) -> TaskState:
        """Poll a task until it is done, failed or past the task deadline: at the task shape's
        own route, or at the ``route`` a dialect file describes (read with its words)."""
        s = self.settings
        ctx.task_id = task.task_id
        if not task.task_id:
            raise E.BadResponse("The answer looks like a task but carries no task id.", status=ctx.http_status, code="no_task_id")
        if route is not None:
            poll_method, poll_url, interval, read = route.method, route.url, route.interval_s, route.read
        else:
            poll_url = endpoint.task_url_a(task.task_id) if task.shape == "a" else endpoint.task_url_b(task.task_id)
            poll_method, interval = "GET", C.TASK_POLL_INITIAL_S

            def read(payload: Any) -> TaskState | None:
                return read_task(payload, shape_hint=task.shape)

        start = self.clock()
        deadline = start + s.task_deadline_s
        transient = 0
        polls = 0
        emit(
            "accepted",
            f"Task {task.task_id} accepted ({task.raw_status}); polling {poll_url}",
            model=model,
            attempt_no=attempt_no,
            task_id=task.task_id,
        )
        while True:
            if task.status == "completed":
                if not extract_items(task.payload):
                    raise E.BadResponse(f"The task completed but lists no image: {describe_shape(task.payload)}.", code="no_image_field")
                return task
            if task.status == "failed":
                raise classify_task_failure(task.payload, task_id=task.task_id, status=ctx.http_status)
            if self.clock() >= deadline:
                raise E.Timeout(
                    f"The task was still '{task.raw_status}' after {s.task_deadline_s:.0f} s (the task deadline).",
                    code="task_deadline",
                    request_id=task.task_id,
                )
            wait = interval
            if task.progress is not None and 0 < task.progress < 100:
                # The progress predicts the finish: poll just after it rather than up to a whole interval late.
                elapsed = self.clock() - start
                eta = elapsed * (100 - task.progress) / task.progress
                wait = min(interval, max(C.TASK_POLL_MIN_S, eta + C.TASK_POLL_ETA_MARGIN_S))
            self._pause(max(0.0, min(wait, deadline - self.clock())))
            interval = min(interval * C.TASK_POLL_BACKOFF, C.TASK_POLL_MAX_S)
            try:
                queued_at = self.clock()
                self.limiter.token(cancel=self._token)
                ctx.wait_s += self.clock() - queued_at
                polls += 1
                # Each poll has a deadline of its own: the read timeout, and never past the task's deadline.
                poll_deadline = max(min(s.read_timeout_s, deadline - self.clock()), C.MIN_POLL_DEADLINE_S)
                response = self._request(poll_method, poll_url, deadline_s=poll_deadline, headers=self._headers(masked=False, url=poll_url))
                payload = self._read(response, ctx)
            except (E.ImageLabError, httpx.HTTPError) as exc:
                if self._token.cancelled:
                    raise E.Cancelled(self._token.reason or "cancelled") from None
                err = classify_exception(exc)
                transient += 1
                if not E.is_retryable(err) or transient > C.TASK_POLL_TRANSIENT_FAILURES:
                    raise err from exc if isinstance(exc, httpx.HTTPError) else None
                emit("polling", f"Poll failed ({err.error_type}); trying again", model=model, attempt_no=attempt_no)
                if err.retry_after_s:
                    if over_cap(err.retry_after_s):
                        raise err from None
                    self._pause(max(0.0, min(err.retry_after_s, deadline - self.clock())))
                continue
            new = read(payload)
            if new is None:
                raise E.BadResponse(f"The task poll answered with an unknown shape: {describe_shape(payload)}.", code="unknown_task_shape")
            new.task_id = new.task_id or task.task_id
            task = new
            progress = f", {task.progress:.0f}%" if task.progress is not None else ""
            emit(
                "polling",
                f"Task {task.raw_status}{progress} ({self.clock() - start:.0f} s)",
                model=model,
                attempt_no=attempt_no,
                status=task.raw_status,
                progress=task.progress,
                polls=polls,
            )

    # -- downloads ---------------------------------------------------------------

    def download(self, url: str) -> bytes:
        """Fetch a result URL at once: streamed, capped at ``C.MAX_IMAGE_BYTES``,
        within ``C.DOWNLOAD_TIMEOUT_S`` in all (redirects and retries included).

        Result URLs come from the provider, so they are fetched only over http(s)
        and never from loopback, private or link-local addresses unless they are
        the provider's own origin or the operator allowed a private image store
        (``ClientSettings.allow_private_images``). Redirects are followed by hand,
        each hop checked again; the connection itself re-checks every resolved
        address (``AddressGuard``), so a name cannot resolve to a private
        address behind our back. Network failures are retried; a redirect loop
        is ``image_fetch_failed``."""
        attempt = 0
        started = time.monotonic()
        try:
            with deadline(C.DOWNLOAD_TIMEOUT_S):
                while True:
                    try:
                        return self._download_once(url)
                    except httpx.TransportError as exc:
                        if isinstance(exc, httpx.TimeoutException) and "deadline" in str(exc):
                            raise
                        if isinstance(exc.__cause__, BlockedAddress):
                            raise E.ImageFetchFailed(str(exc.__cause__), code="blocked_url") from None
                        attempt += 1
                        if attempt > C.DOWNLOAD_RETRIES:
                            net = classify_exception(exc)
                            raise E.ImageFetchFailed(f"Downloading the image failed: {net.message}", code=net.code) from exc
                        self._pause(retry_delay(attempt - 1, rand=self.rand))
        except httpx.TimeoutException as exc:
            raise E.ImageFetchFailed(
                f"Downloading the image did not finish within {C.DOWNLOAD_TIMEOUT_S:.0f} s "
                f"(stopped after {time.monotonic() - started:.0f} s).",
                code="deadline",
            ) from exc

    def _fetch_client(self) -> httpx.Client:
        if self._fetch is None:
            transport = (
                self._injected_transport
                if self._injected_transport is not None
                else DeadlineTransport(guard=self.guard, tracker=self._tracker)
            )
            self._fetch = httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(C.DOWNLOAD_TIMEOUT_S, connect=self.settings.connect_timeout_s),
                headers={"User-Agent": USER_AGENT},
                follow_redirects=False,
            )
        return self._fetch

    def _download_once(self, url: str) -> bytes:
        seen: list[str] = []
        current = url
        while True:
            self.guard.check_url(current)
            seen.append(current)
            with self._fetch_client().stream("GET", current) as r:
                if r.status_code in (301, 302, 303, 307, 308) and r.headers.get("location"):
                    nxt = urljoin(current, r.headers["location"].strip())
                    if nxt in seen:
                        raise E.ImageFetchFailed(
                            f"Downloading the image went round in a redirect loop ({len(seen)} hops).",
                            status=r.status_code,
                            code="redirect_loop",
                        )
                    if len(seen) > C.MAX_DOWNLOAD_REDIRECTS:
                        raise E.ImageFetchFailed(
                            f"Downloading the image was redirected more than {C.MAX_DOWNLOAD_REDIRECTS} times.",
                            status=r.status_code,
                            code="too_many_redirects",
                        )
                    current = nxt
                    continue
                if r.status_code >= 300:
                    gone = r.status_code in (403, 404, 410)
                    raise E.ImageFetchFailed(
                        f"Downloading the image failed with HTTP {r.status_code}"
                        + (" (the link has expired or was never valid)." if gone else "."),
                        status=r.status_code,
                        code="expired" if gone else f"http_{r.status_code}",
                    )
                try:
                    return read_capped(r, C.MAX_IMAGE_BYTES, on_large=self._hold_large)
                except AnswerTooLarge as err:
                    what = f"is {err.declared:,} bytes" if err.declared else "passed"
                    raise E.ImageFetchFailed(
                        f"The image {what} over the {C.MAX_IMAGE_BYTES:,} byte limit; the download was stopped.",
                        status=r.status_code,
                        code="too_large",
                    ) from None
                except (BadEncoding, httpx.DecodingError) as err:
                    raise E.ImageFetchFailed(
                        f"The image download could not be decoded ({redact.scrub(str(err), limit=80)}).",
                        status=r.status_code,
                        code="bad_encoding",
                    ) from None

    # -- requests that generate nothing ------------------------------------------

    def send(
        self, method: str, url: str, *, json_body: Any = None, deadline_s: float = C.PROBE_TIMEOUT_S, cap: int = C.PROBE_MAX_BYTES
    ) -> Exchange:
        """One request that generates nothing (Diagnostics' probes), bounded like every
        request of the client (``deadline_s`` for the whole answer, at most ``cap`` bytes
        read), with the key attached only where it may go. Never raises: what went wrong
        is the exchange's ``error`` (classified), and every text of the answer is masked."""
        started = self.clock()
        exchange = Exchange(method=method, url=redact.strip_query(url))
        try:
            kwargs: dict[str, Any] = {"headers": self._headers(masked=False, url=url)}
            if json_body is not None:
                kwargs["json"] = json_body
            answer = self._request(method, url, deadline_s=deadline_s, cap=cap, **kwargs)
            exchange.status = answer.status_code
            exchange.headers = {k.lower(): self.redact(v) or "" for k, v in answer.headers.items()}
            exchange.content = answer.content
            if answer.status_code >= 300:
                exchange.error = classify_answer(answer.status_code, answer.content, answer.headers, now=self.wall_clock())
        except E.ImageLabError as exc:
            exchange.error = exc
        except httpx.HTTPError as exc:
            exchange.error = classify_exception(exc)
        except Exception as exc:  # a bug while sending is reported, never raised at the page
            log.exception("%s %s failed", method, exchange.url)
            exchange.error = classify_exception(exc)
        finally:
            self.large_answers.release()
        exchange.latency_ms = int((self.clock() - started) * 1000)
        if exchange.error is not None:
            err = exchange.error
            for name in ("message", "provider_message", "raw", "code", "param", "request_id"):
                setattr(err, name, self.redact(getattr(err, name)))
            err.message = redact.scrub(err.message, limit=C.MAX_ERROR_MESSAGE_CHARS)
        return exchange


@dataclass
class Exchange:
    """What ``ImageClient.send`` sent and got back."""

    method: str
    url: str  # signed query strings cut
    status: int | None = None  # None: no answer came back
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, values masked
    content: bytes = b""  # the body as read (at most the cap); mask it before showing it
    error: E.ImageLabError | None = None  # an error status, classified, or why nothing came back
    latency_ms: int = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id") or self.headers.get("request-id")
