"""Edits with reference images: the multipart form for /v1/images/edits.

``edit_form`` turns a ``GenerationRequest`` with reference images into the
form fields and files httpx sends (``image`` for one image, ``image[]`` for
several, ``mask``); ``form_preview`` and ``curl_form`` show the same request
with file names and sizes, never the bytes. Content types come from the bytes
(``sniff``), never from a file name. No HTTP here.
"""

from __future__ import annotations

import shlex
from typing import Any

from lib.generation import GenerationRequest, ReferenceImage

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
EDIT_TYPES = ("image/png", "image/jpeg", "image/webp")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
NOT_EDIT_FIELDS = ("moderation",)  # generation-only parameters the edits route does not take


def sniff(data: bytes) -> str | None:
    """The image type from the first bytes: image/png, image/jpeg, image/webp, image/gif, or None."""
    for magic, ctype in _SIGNATURES:
        if data.startswith(magic):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def image_field_name(count: int) -> str:
    """``image`` for one reference image, ``image[]`` for several (as the official SDK sends them)."""
    return "image" if count == 1 else "image[]"


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def edit_form(request: GenerationRequest, model: str | None = None) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    """(fields, files) for httpx: ``client.post(url, data=fields, files=files)``."""
    body = request.body(model)
    fields = {k: _form_value(v) for k, v in body.items() if k not in NOT_EDIT_FIELDS and v is not None}
    name = image_field_name(len(request.images))
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    for ref in request.images:
        files.append((name, (safe_filename(ref), ref.data, ref.content_type or sniff(ref.data) or "application/octet-stream")))
    if request.mask is not None:
        m = request.mask
        files.append(("mask", (safe_filename(m), m.data, m.content_type or sniff(m.data) or "application/octet-stream")))
    return fields, files


def safe_filename(ref: ReferenceImage) -> str:
    """The file name sent in the form: the user's name without any path or odd characters."""
    base = (ref.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base).strip("._") or ref.role
    ctype = ref.content_type or sniff(ref.data)
    if "." not in cleaned and ctype in _EXT:
        cleaned += "." + _EXT[ctype]
    return cleaned[:120]


def form_preview(fields: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]]) -> list[dict[str, Any]]:
    """The multipart fields as rows: text fields with their value, files with name, type and size only."""
    rows: list[dict[str, Any]] = [{"field": k, "value": v} for k, v in fields.items()]
    for name, (filename, data, ctype) in files:
        rows.append({"field": name, "value": f"@{filename} ({ctype}, {len(data):,} bytes)"})
    return rows


def curl_form(
    url: str,
    fields: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]],
    *,
    key_env: str | None,
    extra_headers: dict[str, str] | None = None,
) -> str:
    """The same request as curl with -F: files by name (the user has them), the key from the environment."""
    lines = [f"curl -sS -X POST {shlex.quote(url)}"]
    if key_env:
        lines.append(f'-H "Authorization: Bearer ${key_env}"')
    for name, value in (extra_headers or {}).items():
        lines.append(f"-H {shlex.quote(f'{name}: {value}')}")
    for k, v in fields.items():
        lines.append(f"--form-string {shlex.quote(f'{k}={v}')}")  # a prompt starting with @ stays text
    for name, (filename, _data, ctype) in files:
        lines.append(f"-F {shlex.quote(f'{name}=@{filename};type={ctype}')}")
    return " \\\n  ".join(lines)
