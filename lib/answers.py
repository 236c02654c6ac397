"""Reading provider answers: image fields, task shapes, previews. No HTTP."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib import errors as E
from lib.classify import MAX_JSON_DEPTH, classify_exception, classify_response, load_json

_DONE = {"completed", "complete", "succeeded", "success", "succeed", "successful", "done", "finished", "ok"}
_FAILED = {"failed", "fail", "failure", "error", "errored", "cancelled", "canceled", "cancel", "expired", "rejected", "timeout"}

# Where gateways put a task's id (KIE.ai ``taskId``, PiAPI / EvoLink ``task_id``, fal ``request_id``,
# Replicate and EvoLink ``id``, DashScope ``output.task_id``), its status (``status``, ``state``,
# ``task_status``) and the envelopes that hold it (``data``, ``result``, ``output``).
_TASK_ID_KEYS = ("task_id", "taskId", "taskID", "TaskId", "request_id", "requestId", "job_id", "jobId", "prediction_id")
_STATUS_KEYS = ("status", "state", "task_status", "taskStatus", "job_status")
_ENVELOPES = ("data", "result", "output")
# KIE.ai's 4o image tasks: successFlag 0 generating, 1 success, 2 and 3 failed.
_SUCCESS_FLAG = {0: "generating", 1: "success", 2: "failed", 3: "failed"}
# Keys that hold images (or a JSON string of them: KIE.ai ``resultJson``), and single URL fields.
_IMAGE_HOLDERS = (
    "image_urls",
    "imageUrls",
    "results",
    "resultUrls",
    "result_urls",
    "images",
    "output",
    "outputs",
    "data",
    "result",
    "resultJson",
    "result_json",
    "response",
    "info",
)
_URL_KEYS = ("url", "image_url", "imageUrl", "resultImageUrl", "result_image_url", "output_url", "originImageUrl")


@dataclass
class _Item:
    kind: str  # "b64" or "url"
    value: str


def _items_from(obj: Any, out: list[_Item], depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(obj, str):
        if obj.startswith(("http://", "https://", "/")):
            out.append(_Item("url", obj))
        elif obj.startswith("data:image"):
            out.append(_Item("b64", obj))
        elif obj.lstrip().startswith(("{", "[")):  # a result held as a JSON string ("resultJson": "{...}")
            try:
                _items_from(load_json(obj), out, depth + 1)
            except ValueError:
                pass
        return
    if isinstance(obj, list):
        for x in obj:
            _items_from(x, out, depth + 1)
        return
    if not isinstance(obj, dict):
        return
    for key in ("b64_json", "b64", "base64", "image_base64"):
        if isinstance(obj.get(key), str):
            out.append(_Item("b64", obj[key]))
            return
    for key in _IMAGE_HOLDERS:
        value = obj.get(key)
        if isinstance(value, (list, dict)) or (
            isinstance(value, str) and value.lstrip().startswith(("{", "[", "http://", "https://", "data:image"))
        ):
            _items_from(value, out, depth + 1)
            if out:
                return
    for key in _URL_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            out.append(_Item("b64" if value.startswith("data:") else "url", value))
            return


def extract_items(payload: Any) -> list[_Item]:
    out: list[_Item] = []
    _items_from(payload, out)
    return out


def error_envelope(payload: Any) -> bool:
    """Whether a 2xx answer is really an error wrapped by a gateway: an ``error``
    object with no data, a ``success: false``, or a numeric ``code`` that is not a
    success (``{"code": 429, "msg": "..."}``). Task answers are read elsewhere."""
    if not isinstance(payload, dict) or extract_items(payload):
        return False
    if payload.get("error") and not payload.get("data"):
        return True
    if payload.get("success") is False or payload.get("ok") is False:
        return True
    code = payload.get("code", payload.get("status_code"))
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    if isinstance(code, int) and not isinstance(code, bool) and code not in (0, 200):
        return bool(payload.get("msg") or payload.get("message") or payload.get("error"))
    return False


def describe_shape(payload: Any) -> str:
    """A short description of an answer's keys, for bad_response messages."""
    if isinstance(payload, dict):
        parts = []
        for k, v in list(payload.items())[:8]:
            if isinstance(v, list) and v and isinstance(v[0], dict):
                parts.append(f"{k}[0].{{{', '.join(list(v[0])[:6])}}}")
            elif isinstance(v, dict):
                parts.append(f"{k}.{{{', '.join(list(v)[:6])}}}")
            else:
                parts.append(k)
        return "keys " + ", ".join(parts) if parts else "an empty object"
    return f"a JSON {type(payload).__name__}"


@dataclass
class TaskState:
    shape: str  # "a" ({"data": {"task_id"...}}) or "b" ({"id": "task-...", "object": ...})
    task_id: str
    status: str  # pending / completed / failed
    raw_status: str
    progress: float | None
    payload: Any


def _task_id(body: dict[str, Any]) -> str:
    for key in (*_TASK_ID_KEYS, "id"):
        value = body.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return ""


def _status_of(body: dict[str, Any]) -> str | None:
    for key in _STATUS_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    flag = body.get("successFlag")
    if isinstance(flag, int) and not isinstance(flag, bool) and flag in _SUCCESS_FLAG:
        return _SUCCESS_FLAG[flag]
    return None


def _task_body(payload: dict[str, Any], shape_hint: str | None) -> tuple[dict[str, Any], str] | None:
    """The dict that holds the task, and its shape: "a" inside an envelope, "b" at the top."""
    for key in _ENVELOPES:
        inner = payload.get(key)
        if not isinstance(inner, dict):
            continue
        # A task id of its own name, or (on a poll of a known task) a status; a bare "id" needs a status.
        if any(k in inner for k in _TASK_ID_KEYS) or (_status_of(inner) is not None and ("id" in inner or shape_hint == "a")):
            return inner, "a"
    if isinstance(payload.get("data"), list):
        return None  # a sync answer (data[] of images) with an id of its own is no task
    named = any(k in payload for k in _TASK_ID_KEYS)
    if (named or "id" in payload) and (_status_of(payload) is not None or "task" in str(payload.get("object", ""))):
        return payload, "b"
    if named and not extract_items(payload):
        return payload, "b"  # {"request_id": "..."} alone: a task accepted, no status yet
    if shape_hint and _status_of(payload) is not None:
        return payload, shape_hint
    return None


def read_task(payload: Any, shape_hint: str | None = None) -> TaskState | None:
    """Recognise an async task answer of any family (the id under any of its names, at the top or
    inside ``data`` / ``result`` / ``output``), or None for anything else."""
    if not isinstance(payload, dict):
        return None
    found = _task_body(payload, shape_hint)
    if found is None:
        return None
    body, shape = found
    task_id = _task_id(body) or _task_id(payload)
    raw_status = str(_status_of(body) or "pending").lower()
    if raw_status in _DONE:
        status = "completed"
    elif raw_status in _FAILED:
        status = "failed"
    else:
        status = "pending"
    progress = body.get("progress")
    try:
        progress = float(progress) if progress is not None else None
    except (TypeError, ValueError):
        progress = None
    return TaskState(shape, task_id, status, raw_status, progress, body)


def elide_base64(payload: Any) -> Any:
    """A copy of an answer with long base64 strings replaced by their length."""
    if isinstance(payload, dict):
        return {k: elide_base64(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [elide_base64(v) for v in payload]
    if isinstance(payload, str) and len(payload) > 200 and re.fullmatch(r"(data:[^,]{0,40},)?[A-Za-z0-9+/=_\-\s]+", payload[:2000]):
        return f"<base64, {len(payload):,} characters>"
    return payload


def raw_preview(status: int, content_type: str, body: bytes, payload: Any = None) -> str:
    head = f"HTTP {status}  {content_type or '(no content type)'}\n"
    if payload is not None:
        text = json.dumps(elide_base64(payload), indent=2, ensure_ascii=False)
    elif not body:
        text = "(empty body)"
    else:
        text = body[: C.MAX_RAW_PREVIEW_CHARS].decode("utf-8", errors="replace")
    if len(text) > C.MAX_RAW_PREVIEW_CHARS:
        text = text[: C.MAX_RAW_PREVIEW_CHARS] + f"\n... ({len(text) - C.MAX_RAW_PREVIEW_CHARS:,} more characters)"
    return head + text


# --------------------------------------------------------------------------
# Image streams: server-sent events from stream: true
#
# The Images API streams ``image_generation.partial_image`` events (``b64_json``,
# ``partial_image_index``) and one ``image_generation.completed`` event per image
# (``b64_json``, ``usage``); edits use ``image_edit.partial_image`` and
# ``image_edit.completed``. A final image may come before all partials. An
# ``error`` event (or any event whose data holds an ``error`` object) ends the
# stream with that error. Everything here is pure: it reads an iterator of
# bytes (chunks or lines) and never touches the network.

PARTIAL_TYPES = ("image_generation.partial_image", "image_edit.partial_image")
COMPLETED_TYPES = ("image_generation.completed", "image_edit.completed")


@dataclass
class SSEMessage:
    event: str  # the ``event:`` field, "" when absent (the type is then read from the data)
    data: str


class StreamTooLarge(Exception):
    """The stream passed the byte cap (``MAX_STREAM_BYTES``) or one line passed ``MAX_SSE_LINE_BYTES``."""


def looks_like_sse(content_type: str, head: bytes = b"") -> bool:
    """True for an event stream; False for a JSON answer (a gateway that ignored ``stream``)."""
    ctype = (content_type or "").lower()
    if "text/event-stream" in ctype:
        return True
    if "json" in ctype:
        return False
    start = head.lstrip()[:6]
    return start.startswith((b"event:", b"data:", b":", b"id:", b"retry:"))


def iter_sse(chunks, *, max_bytes: int = C.MAX_STREAM_BYTES, max_line: int = C.MAX_SSE_LINE_BYTES, on_large=None):
    """Server-sent events from an iterator of byte chunks (any split), bounded.

    ``on_large()`` runs whenever one line grows past ``C.LARGE_ANSWER_BYTES`` (it may wait
    for the process's large-answer turn).

    Raises ``StreamTooLarge`` past the caps. Exceptions of the iterator itself
    (a connection cut) pass through unchanged, after the events already complete."""
    total = 0
    event, data_lines = "", []

    def flush():
        nonlocal event, data_lines
        message = SSEMessage(event, "\n".join(data_lines)) if (data_lines or event) else None
        event, data_lines = "", []
        return message

    def handle(line: bytes):
        nonlocal event
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            return flush()
        if line.startswith(b":"):
            return None  # a comment / keep-alive
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        text = value.decode("utf-8", errors="replace")
        if name == b"event":
            event = text
        elif name == b"data":
            data_lines.append(text)
        return None  # id:, retry: and unknown fields are ignored, as the spec says

    pending: list[bytes] = []  # pieces of the line not yet ended (only new bytes are searched: linear time)
    pending_len = 0
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        total += len(chunk)
        if total > max_bytes:
            raise StreamTooLarge(f"The stream passed the {max_bytes:,} byte limit and was stopped.")
        start = 0
        while True:
            cut = chunk.find(b"\n", start)
            if cut < 0:
                break
            line = chunk[start:cut]
            if pending:
                line = b"".join(pending) + line
                pending, pending_len = [], 0
            start = cut + 1
            message = handle(line)
            if message is not None:
                yield message
        if start < len(chunk):
            pending.append(chunk[start:])
            pending_len += len(chunk) - start
        if pending_len > max_line:
            raise StreamTooLarge(f"One event of the stream is longer than {max_line:,} bytes.")
        if on_large is not None and pending_len > C.LARGE_ANSWER_BYTES:
            on_large()
    buffer = b"".join(pending)
    if buffer:
        message = handle(buffer)
        if message is not None:
            yield message
    message = flush()
    if message is not None and message.data:
        yield message


@dataclass
class StreamItem:
    kind: str  # "partial", "completed", "error", "other"
    event_type: str
    index: int | None = None  # partial_image_index
    b64: str | None = None
    usage: dict[str, Any] | None = None
    payload: Any = None


def read_stream_item(message: SSEMessage) -> StreamItem:
    """One SSE message as a partial image, a completed image, an error, or other.

    Raises ``ValueError`` when the data is not JSON."""
    if message.data.strip() == "[DONE]":
        return StreamItem("other", "done")
    payload = load_json(message.data)
    kind_name = message.event or (payload.get("type") if isinstance(payload, dict) else "") or ""
    if isinstance(payload, dict):
        kind_name = str(payload.get("type") or kind_name)
    if kind_name == "error" or message.event == "error" or (isinstance(payload, dict) and isinstance(payload.get("error"), (dict, str))):
        return StreamItem("error", kind_name or "error", payload=payload)
    if not isinstance(payload, dict):
        return StreamItem("other", kind_name, payload=payload)
    b64 = payload.get("b64_json") if isinstance(payload.get("b64_json"), str) else None
    if kind_name in PARTIAL_TYPES or kind_name.endswith(".partial_image"):
        index = payload.get("partial_image_index")
        return StreamItem("partial", kind_name, index if isinstance(index, int) else None, b64, None, payload)
    if kind_name in COMPLETED_TYPES or kind_name.endswith(".completed"):
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else None
        return StreamItem("completed", kind_name, None, b64, usage, payload)
    return StreamItem("other", kind_name, payload=payload)


def stream_error_body(payload: Any) -> bytes:
    """An error event's data as the ``{"error": {...}}`` body the classifier reads."""
    if isinstance(payload, dict) and "error" in payload:
        error = payload["error"]
        body = {"error": error if isinstance(error, dict) else {"message": str(error)}}
    elif isinstance(payload, dict):
        body = {"error": {k: v for k, v in payload.items() if k in ("message", "type", "code", "param")}}
    else:
        body = {"error": {"message": str(payload)}}
    return json.dumps(body).encode()


class _StreamCut(Exception):
    """The chunk iterator itself failed (the connection was cut)."""


def _guard(chunks, check=None):
    iterator = iter(chunks)
    while True:
        if check is not None:
            check()  # a cancel or a deadline takes effect between chunks, not only on a socket read
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except (E.ImageLabError, E.Cancelled, StreamTooLarge):
            raise
        except Exception as exc:
            raise _StreamCut() from exc
        yield chunk


@dataclass
class StreamResult:
    """What a stream held, in counts: only what is kept is held (the finals asked for,
    the newest partial), so a provider sending without end costs no memory."""

    finals: list[StreamItem]  # the completed images kept: at most the number asked for
    usage: dict[str, Any] | None  # the usage of the kept finals (the last one that had any)
    events: int = 0  # SSE messages read
    partial_count: int = 0
    latest_partial: StreamItem | None = None
    extra_finals: int = 0  # completed images past the number asked for: counted, not kept
    done: bool = False  # the stream said ``data: [DONE]``: reading stopped there
    ignored: dict[str, int] = field(default_factory=dict)  # event type -> count, at most MAX_IGNORED_EVENT_KINDS types

    @property
    def notes(self) -> list[str]:
        """What the attempt should say about the stream, a bounded number of lines."""
        out = [f"ignored {count:,} '{kind}' event(s)" for kind, count in self.ignored.items()]
        if self.extra_finals:
            out.append(
                f"the stream sent {len(self.finals) + self.extra_finals:,} completed images for {len(self.finals)} asked; "
                f"the first {len(self.finals)} were kept, {self.extra_finals:,} not kept or priced"
            )
        return out


def _ignore(result: StreamResult, kind: str) -> None:
    kind = kind[:60] or "(no type)"
    if kind not in result.ignored and len(result.ignored) >= C.MAX_IGNORED_EVENT_KINDS:
        kind = "other"
    result.ignored[kind] = result.ignored.get(kind, 0) + 1


def read_image_stream(
    chunks,
    *,
    on_item=None,
    keep: int | None = None,
    check=None,
    progress=None,
    max_bytes: int = C.MAX_STREAM_BYTES,
    max_line: int = C.MAX_SSE_LINE_BYTES,
    on_large=None,
) -> StreamResult:
    """Read a whole image stream; ``on_item(item)`` sees each partial and each kept completed image as it arrives.

    ``keep``: how many completed images were asked for (``n``): later ones are
    counted, never kept. Reading stops at ``data: [DONE]``. ``check()`` is called
    before every chunk and every event: a cancel or deadline raised from it ends
    the read there; ``progress(result)`` after every event (the caller decides
    how often to say so). Partials are counted; only the newest is held.

    Raises, keeping the vocabulary: an ``error`` event -> its classified error;
    a connection cut -> ``network`` (``timeout`` for a read timeout) naming the
    partials received; no completed event by the end -> ``bad_response``; over
    the byte cap or an event that is not JSON -> ``bad_response``."""
    result = StreamResult([], None)

    def counted() -> str:
        n, f = result.partial_count, len(result.finals) + result.extra_finals
        return f"{n:,} partial image(s)" + (f" and {f:,} final image(s)" if f else "") + " had arrived"

    try:
        for message in iter_sse(_guard(chunks, check), max_bytes=max_bytes, max_line=max_line, on_large=on_large):
            result.events += 1
            if check is not None:
                check()
            if progress is not None:
                progress(result)
            try:
                item = read_stream_item(message)
            except ValueError as err:
                raise E.BadResponse(
                    f"Event {result.events:,} of the stream is not JSON ({err}); {counted()}.",
                    status=200,
                    code="bad_stream_event",
                ) from err
            del message
            if item.kind == "error":
                err = classify_response(200, stream_error_body(item.payload))
                err.message = f"{err.message} (an error event in the stream; {counted()})"
                err.code = err.code or "stream_error"
                raise err
            if item.kind == "partial":
                result.partial_count += 1
                result.latest_partial = item
            elif item.kind == "completed":
                if not item.b64:
                    raise E.BadResponse(
                        f"The stream's {item.event_type} event holds no b64_json image: {describe_shape(item.payload)}.",
                        status=200,
                        code="no_image_field",
                    )
                if keep is not None and len(result.finals) >= keep:
                    result.extra_finals += 1
                    continue
                item.payload = None  # the image is item.b64: the parsed event is not held twice
                result.finals.append(item)
                if item.usage:
                    result.usage = item.usage
            elif item.event_type == "done" and item.payload is None:  # data: [DONE] itself, not an event typed "done"
                result.done = True
                break  # the end, whatever the provider sends after it
            else:
                _ignore(result, item.event_type)
                continue
            if on_item is not None:
                on_item(item)
            del item
    except _StreamCut as cut:
        cause = cut.__cause__ or cut
        net = classify_exception(cause)
        kind = E.Timeout if net.error_type == "timeout" else E.NetworkError
        raise kind(
            f"The stream was cut off after {counted()} ({type(cause).__name__}: {cause}).",
            code="stream_cut",
            status=200,
        ) from cause
    except StreamTooLarge as err:
        raise E.BadResponse(f"{err} {counted().capitalize()}.", status=200, code="stream_too_large") from err
    if not result.finals:
        raise E.BadResponse(
            f"The stream ended without a completed event: {counted()}, {result.events:,} event(s) in all.",
            status=200,
            code="stream_incomplete",
        )
    return result
