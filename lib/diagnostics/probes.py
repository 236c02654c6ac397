"""Live probes: cheap requests that generate nothing, each recorded as an attempt.

``probe_models`` (GET {base}/models: is the key accepted, is the host and /v1
right, which models are listed), ``probe_route`` (POST the generations route a
body without a prompt: 401 key, 404 route, 405 not an API route, 400 all
fine), ``probe_task_poll`` (the poll route of a task provider, for a task that
cannot exist). Each goes through ``ImageClient.send`` and is recorded as one
attempt of the caller's run (``runs.kind = 'probe'``): its status says whether
the answer was the one a healthy set-up gives, its note what the answer proves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib import constants as C
from lib import errors as E
from lib.client import ImageClient
from lib.redact import scrub, strip_query

PROBE_TASK_ID = "imagelab-probe-0000000000"


@dataclass
class ProbeResult:
    name: str  # models | route | task_poll_a | task_poll_b | dialect_poll
    method: str
    url: str  # signed query strings cut
    attempt_id: Any = None
    http_status: int | None = None
    content_type: str = ""
    is_json: bool = False
    payload: Any = None
    body_preview: str = ""  # scrubbed, cut
    request_id: str | None = None
    error: E.ImageLabError | None = None  # the classified answer, when it was an error
    retry_after_s: float | None = None
    latency_ms: int = 0
    ok: bool = False  # the answer a healthy set-up gives
    note: str = ""  # what the answer proves, in plain words
    location: str = ""  # where a redirect points (signed query strings cut)

    @property
    def model_ids(self) -> list[str] | None:
        """The ids a /models answer lists (None when it listed nothing readable)."""
        data = self.payload.get("data") if isinstance(self.payload, dict) else self.payload
        if not isinstance(data, list):
            return None
        ids = [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]
        return ids if ids or data == [] else None


def _expect_models(r: ProbeResult) -> str | None:
    if r.http_status == 200 and r.model_ids is not None:
        return f"The key was accepted and the API answered with {len(r.model_ids)} model id(s)."
    return None


def _expect_route(r: ProbeResult) -> str | None:
    if r.http_status in (400, 422) and r.error is not None and r.error.error_type in ("bad_request", "invalid_input"):
        return f"HTTP {r.http_status} for a body without a prompt: the route exists and the key was accepted."
    return None


def _expect_task_route(r: ProbeResult) -> str | None:
    if r.http_status in (400, 404, 422) and r.is_json:
        return f"HTTP {r.http_status} in JSON for a task that cannot exist: the poll route is there."
    if r.http_status == 200 and r.is_json:
        return "The poll route answered 200 for a task that cannot exist; it is there."
    return None


def _probe_problem(r: ProbeResult) -> str:
    err = r.error
    if r.http_status is None:
        return f"No answer: {err.message if err else 'the request failed'}"
    if r.http_status in (401, 403):
        return f"HTTP {r.http_status}: {err.info.title if err else 'refused'}."
    if r.http_status == 405:
        return "HTTP 405: this URL exists but does not take this method; it is not the API route."
    if r.http_status == 404:
        return "HTTP 404: " + (
            "the provider says the route or item does not exist."
            if r.is_json
            else "an HTML 'not found' page: this route does not exist on the host."
        )
    if 300 <= r.http_status < 400:
        return f"HTTP {r.http_status}: a redirect; the API does not live at this address."
    if err is not None:
        return f"HTTP {r.http_status}: {err.info.title} ({err.error_type})."
    return f"HTTP {r.http_status}, but not the answer expected from this route."


def probe_models(
    client: ImageClient, *, run_id: str = "", attempt_no: int = 1, model: str = "", api_base: str | None = None
) -> ProbeResult:
    """GET {api_base}/models with the key: is the key accepted, is the host
    and /v1 right, and which model ids are listed."""
    base = api_base if api_base is not None else client.settings.endpoint.api_base
    return _probe(
        client, "models", "GET", base.rstrip("/") + "/models", run_id=run_id, attempt_no=attempt_no, model=model, expect=_expect_models
    )


def probe_route(client: ImageClient, model: str, *, run_id: str = "", attempt_no: int = 1, url: str | None = None) -> ProbeResult:
    """POST the generations route a body without a prompt. Real APIs check the
    key first (401), then the route (404, or 405 for a URL that takes no
    POST), then the body (400 missing prompt): nothing is generated."""
    target = url or client.settings.endpoint.url
    return _probe(
        client, "route", "POST", target, json_body={"model": model}, run_id=run_id, attempt_no=attempt_no, model=model, expect=_expect_route
    )


def probe_task_poll(client: ImageClient, *, run_id: str = "", attempt_no: int = 1, model: str = "", shape: str = "a") -> ProbeResult:
    """GET the task poll URL for a task id that cannot exist: a JSON 'task not
    found' proves the poll route is there; an HTML 404 says it is not."""
    endpoint = client.settings.endpoint
    fake = PROBE_TASK_ID if shape == "a" else "task-" + PROBE_TASK_ID
    url = endpoint.task_url_a(fake) if shape == "a" else endpoint.task_url_b(fake)
    return _probe(client, f"task_poll_{shape}", "GET", url, run_id=run_id, attempt_no=attempt_no, model=model, expect=_expect_task_route)


def probe_dialect_create(client: ImageClient, dialect: Any, model: str, *, run_id: str = "", attempt_no: int = 1) -> ProbeResult | None:
    """POST a gateway dialect's create route its body without a prompt (the prompt's key left
    out, as for any placeholder with no value): the gateway refuses it, in HTTP or in its own
    envelope, and nothing is generated. Recorded as the ``route`` probe; None when the route
    itself needs a value a probe does not have."""
    from lib.client._dialect import base_of
    from lib.dialects import DialectError

    try:
        spec = dialect.create_request({"model": model})
    except DialectError:
        return None
    url = spec.url(base_of(client.settings.endpoint))

    def expect(r: ProbeResult) -> str | None:
        if r.http_status != 200 or not r.is_json:
            return _expect_route(r)
        from lib.answers import error_envelope

        if error_envelope(r.payload):
            said = scrub(str(r.payload.get("msg") or r.payload.get("message") or r.payload.get("error")), limit=120)
            return f"HTTP 200 with the gateway's own error for a body without a prompt ({said}): the create route exists and the key was accepted."
        if dialect.read_create(r.payload).task_id:
            return "The create route accepted a body without a prompt and started a task: it exists and the key was accepted."
        return None

    return _probe(client, "route", spec.method, url, json_body=spec.body, run_id=run_id, attempt_no=attempt_no, model=model, expect=expect)


def probe_dialect_poll(client: ImageClient, dialect: Any, model: str, *, run_id: str = "", attempt_no: int = 1) -> ProbeResult | None:
    """The dialect's poll route for a task that cannot exist: a JSON answer proves the route is there."""
    from lib.client._dialect import base_of
    from lib.dialects import DialectError

    try:
        url = dialect.poll_request(PROBE_TASK_ID, {"model": model}).url(base_of(client.settings.endpoint))
    except DialectError:
        return None
    return _probe(
        client,
        "dialect_poll",
        dialect.poll_method or "GET",
        url,
        run_id=run_id,
        attempt_no=attempt_no,
        model=model,
        expect=_expect_task_route,
    )


def _probe(
    client: ImageClient,
    name: str,
    method: str,
    url: str,
    *,
    run_id: str,
    attempt_no: int,
    model: str,
    expect: Callable[[ProbeResult], str | None],
    json_body: Any = None,
) -> ProbeResult:
    shown_url = strip_query(url)
    row = {
        "run_id": run_id,
        "started_at": client.wall_clock(),
        "provider": client.settings.provider,
        "url": shown_url,
        "model": model,
        "prompt": f"(diagnostics probe) {method} {shown_url}",
        "params": {"probe": name, "method": method},
        "attempt_no": attempt_no,
        "status": "pending",
        "key_hint": client.settings.key_hint,
    }
    attempt_id = client.recorder.attempt_started(row)  # written before the request goes out
    exchange = client.send(method, url, json_body=json_body, deadline_s=C.PROBE_TIMEOUT_S, cap=C.PROBE_MAX_BYTES)
    body = exchange.content
    result = ProbeResult(name=name, method=method, url=exchange.url, attempt_id=attempt_id)
    result.http_status = exchange.status
    result.content_type = exchange.content_type
    result.request_id = exchange.request_id
    result.error = exchange.error
    result.latency_ms = exchange.latency_ms
    result.location = scrub(strip_query(exchange.headers.get("location", "")), limit=300) or ""
    if exchange.status is not None:
        try:
            result.payload = json.loads(body) if body.strip() else None
            result.is_json = body.strip() != b""
        except ValueError:
            result.payload = None
        result.body_preview = scrub(client.redact(body.decode("utf-8", "replace")), limit=C.PROBE_PREVIEW_CHARS) or ""
    if result.error is not None:
        result.retry_after_s = result.error.retry_after_s
    result.note = expect(result) or ""
    result.ok = bool(result.note)
    if result.ok:
        status, error_type = "succeeded", None
    else:
        status = "failed"
        error_type = result.error.error_type if result.error is not None else "bad_response"
        result.note = _probe_problem(result)
    err = result.error
    client.finish_attempt(
        attempt_id,
        {
            "finished_at": client.wall_clock(),
            "latency_ms": result.latency_ms,
            "status": status,
            "error_type": error_type,
            "http_status": result.http_status,
            "error_code": err.code if err else None,
            "error_param": scrub(err.param, limit=C.MAX_ERROR_PARAM_CHARS) if err and not result.ok else None,
            "error_message": (err.message if err else None) if not result.ok else None,
            "retry_after_s": result.retry_after_s,
            "request_id": result.request_id,
            "image_count": 0,
            "note": scrub(result.note, limit=C.MAX_ERROR_MESSAGE_CHARS),
        },
        row=row,
    )
    return result
