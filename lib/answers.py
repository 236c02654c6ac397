"""Reading provider answers: image fields, task shapes, previews. No HTTP."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lib import constants as C

_DONE = {"completed", "complete", "succeeded", "success", "succeed", "done", "finished"}
_FAILED = {"failed", "failure", "error", "cancelled", "canceled", "expired", "rejected"}


@dataclass
class _Item:
    kind: str  # "b64" or "url"
    value: str


def _items_from(obj: Any, out: list[_Item]) -> None:
    if isinstance(obj, str):
        if obj.startswith(("http://", "https://", "/")):
            out.append(_Item("url", obj))
        elif obj.startswith("data:image"):
            out.append(_Item("b64", obj))
        return
    if isinstance(obj, list):
        for x in obj:
            _items_from(x, out)
        return
    if not isinstance(obj, dict):
        return
    for key in ("b64_json", "b64", "base64", "image_base64"):
        if isinstance(obj.get(key), str):
            out.append(_Item("b64", obj[key]))
            return
    for key in ("image_urls", "results", "images", "output", "data", "result"):
        if key in obj and isinstance(obj[key], (list, dict)):
            _items_from(obj[key], out)
            if out:
                return
    for key in ("url", "image_url"):
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


def read_task(payload: Any, shape_hint: str | None = None) -> TaskState | None:
    """Recognise an async task answer (either shape), or None for anything else."""
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    if isinstance(data, dict) and ("task_id" in data or (shape_hint == "a" and "status" in data)):
        body = data
        shape = "a"
        task_id = str(data.get("task_id") or data.get("id") or "")
    elif ("id" in payload and ("status" in payload or "task" in str(payload.get("object", "")))) and not isinstance(data, list):
        body = payload
        shape = "b"
        task_id = str(payload.get("id") or "")
    elif shape_hint and isinstance(payload.get("status"), str):
        body, shape, task_id = payload, shape_hint, str(payload.get("id") or payload.get("task_id") or "")
    else:
        return None
    raw_status = str(body.get("status") or body.get("state") or "pending").lower()
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
