"""The hostile provider's probes: what each one does, and how the app must end a generation sent to it.

The provider (hostile_provider.py) serves each probe under its own base URL,
``http://127.0.0.1:<port>/<probe>/v1``. The tests parametrize over this table.

``ends`` is how the client must end the generation: ``"ok"``, an error_type, or
``"error_type/code"``; ``says`` is a phrase its error message must hold. Both hold for one
attempt with no fallback under the low limits below, which end every slow probe within
seconds (the provider itself gives up on a slow body only after 30 s).

``answer`` is the shape of what the provider sends: an ``error`` body, an HTML or text
``page``, ``malformed`` JSON, an ``image``, a result ``url``, a task to poll in shape A
(``task_a``: {"data": {"task_id", "status"}}) or shape B (``task_b``: {"id", "object":
"image.generation.task", "status"}), or a ``body`` built to exhaust time or memory. ``echoes_key``: the key, cut, re-cased and
fragmented, comes back in the answer (its body, headers, URLs, task ids or image).

No imports beyond the standard library: a benchmark's child process can read this
without loading the server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The limits under which ``ends`` holds.
ANSWER_CAP_BYTES = 8 * 1024 * 1024  # lib.constants.MAX_ANSWER_BYTES, lowered: a bomb or an endless body stops at 8 MB
READ_TIMEOUT_S = 1.5  # the whole answer
DOWNLOAD_TIMEOUT_S = 1.5  # lib.constants.DOWNLOAD_TIMEOUT_S, lowered
TASK_DEADLINE_S = 5.0


@dataclass(frozen=True)
class Probe:
    what: str  # what the provider does
    ends: str  # "ok", an error_type, or "error_type/code"
    answer: str  # error, page, malformed, image, url, task_a, task_b or body
    family: str  # what the probe tries: echo, markup, size, time, retry_after, fetch, task, image, garbage, baseline
    echoes_key: bool = False
    says: str = ""  # a phrase the error message must hold
    stream: bool = False  # sent with stream: true (the answer is server-sent events)

    @property
    def ok(self) -> bool:
        return self.ends == "ok"

    @property
    def error_type(self) -> str | None:
        return None if self.ok else self.ends.split("/")[0]

    @property
    def code(self) -> str | None:
        return self.ends.split("/", 1)[1] if "/" in self.ends else None


def _echo(what: str, ends: str, answer: str) -> Probe:
    return Probe(what, ends, answer, family="echo", echoes_key=True)


def _markup(what: str, ends: str, answer: str) -> Probe:
    return Probe(what, ends, answer, family="markup", echoes_key=True)


PROBES: dict[str, Probe] = {
    # --- the key echoed back, in every answer shape ---
    "echo_400": _echo("key echoed in error JSON and headers", "bad_request", "error"),
    "echo_401": _echo("key echoed in a 401", "auth", "error"),
    "echo_429": _echo("key echoed in a 429 (Retry-After: 0)", "rate_limited", "error"),
    "echo_html": _echo("key echoed in a 502 HTML page", "server_error", "page"),
    "echo_text": _echo("key echoed in a 503 text page", "server_error", "page"),
    "echo_malformed": _echo("key echoed in malformed JSON", "bad_response", "malformed"),
    "echo_200_error": _echo("key echoed in a 200 error object", "bad_request", "error"),
    "echo_usage": _echo("key echoed in usage and revised prompt", "ok", "image"),
    "echo_url": _echo("key in result URL path and ?token=", "ok", "url"),
    "echo_png_text": _echo("key in a PNG text chunk", "ok", "image"),
    "echo_task_a": _echo("key as task id and status (shape A), in the failed poll too", "task_failed", "task_a"),
    "echo_task_b": _echo("key as task id and status (shape B), in the failed poll too", "task_failed", "task_b"),
    "echo_task_ok": _echo("key in task id and signed result URL", "ok", "task_b"),
    # --- Markdown, LaTeX, directives and HTML (MARKUP) in every field, with the key ---
    "md_error": _markup("markup and key in every error field", "bad_request", "error"),
    "md_usage": _markup("markup in the revised prompt and usage, the key too", "ok", "image"),
    "md_task": _markup("markup and key in the task id, status and failure", "task_failed", "task_b"),
    # --- answers too large to read ---
    "gzip_bomb": Probe("a gzip body inflating far past the answer cap", "bad_response/answer_too_large", "body", "size", says="limit"),
    "gzip_bomb_error": Probe("a gzip bomb as a 500 page", "server_error", "body", "size"),
    "huge_length": Probe("Content-Length: 5 GB, endless body", "bad_response/answer_too_large", "body", "size", says="declares"),
    "near_cap": Probe("a well-formed answer just under the answer cap, read to its end", "invalid_image", "image", "size"),
    "endless_chunked": Probe("endless chunked body", "bad_response/answer_too_large", "body", "size"),
    # --- answers too slow to wait for ---
    "slow_body": Probe("body at 4 bytes/s, for 30 s", "timeout/deadline", "body", "time"),
    "slow_download": Probe("result URL trickling 4 bytes/s", "image_fetch_failed/deadline", "url", "time"),
    # --- Retry-After values no one should wait for ---
    "retry_after_huge": Probe("429 Retry-After: 999999", "rate_limited", "error", "retry_after", says="999,999 s"),
    "retry_after_inf": Probe("429 Retry-After: inf, retry-after-ms: 1e400", "rate_limited", "error", "retry_after", says="forever"),
    "retry_after_date": Probe("429 Retry-After: a date in 2100", "rate_limited", "error", "retry_after", says="days"),
    "retry_after_nan": Probe("503 Retry-After: nan", "server_error", "error", "retry_after"),
    # --- result URLs that point where no fetch may go ---
    "internal_url": Probe("result URL on another loopback port", "image_fetch_failed/blocked_url", "url", "fetch"),
    "internal_relative": Probe("protocol-relative //127.0.0.1 URL", "image_fetch_failed/blocked_url", "url", "fetch"),
    "internal_redirect": Probe("redirect to an internal URL", "image_fetch_failed/blocked_url", "url", "fetch"),
    "file_scheme": Probe("file:///etc/passwd as result URL", "image_fetch_failed/blocked_url", "url", "fetch"),
    "redirect_loop": Probe("result URL redirecting in a loop", "image_fetch_failed/redirect_loop", "url", "fetch"),
    # --- task ids, images and error pages that lie ---
    "task_traversal": Probe("task id ../../../admin/delete?all=1#", "task_failed", "task_b", "task"),
    "lying_png": Probe("a tiny PNG claiming 4000x4000 pixels", "invalid_image", "image", "image"),
    "garbage_5xx": Probe("503 with binary garbage", "server_error", "page", "garbage"),
    # --- streams that never end, floods, and providers that decide the count themselves ---
    "stream_endless_partials": Probe(
        "endless ~1 MB partial images, one every 50 ms", "timeout/deadline", "stream", "stream", stream=True, says="whole stream"
    ),
    "stream_flood": Probe("endless tiny unknown events and tiny partials", "timeout/deadline", "stream", "stream", stream=True),
    "stream_gzip_flood": Probe(
        "a small gzip body inflating to millions of tiny events", "timeout/deadline", "stream", "stream", stream=True
    ),
    "stream_many_finals": Probe("300 completed events for n=1", "ok", "stream", "count", stream=True),
    "stream_after_done": Probe(
        "a completed image only after data: [DONE]", "bad_response/stream_incomplete", "stream", "count", stream=True
    ),
    "data_many": Probe("a data list of 300 images for n=1", "ok", "image", "count"),
    "budget_spent": Probe("x-ratelimit-remaining-requests: 0, reset 1s, on a good answer", "ok", "image", "budget"),
    # --- the baseline ---
    "healthy": Probe("a normal answer (baseline)", "ok", "image", "baseline"),
}


def probes(**fields: object) -> list[str]:
    """The names of the probes whose fields (or ok, error_type, code) have these values, in table order."""
    return [name for name, p in PROBES.items() if all(getattr(p, k) == v for k, v in fields.items())]


def one_per_answer(names: Iterable[str]) -> list[str]:
    """The first of ``names`` for each answer shape: where every shape must be seen but not every probe."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(PROBES[name].answer, name)
    return list(seen.values())
