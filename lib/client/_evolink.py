"""References that travel as links: EvoLink's file API and ``image_urls``.

EvoLink has no ``/images/edits``: a generation request names its reference images by URL in
``image_urls``. A local file is first uploaded to EvoLink's file API (``POST
.../api/v1/files/upload/base64`` with a base64 data URL), which answers with a link kept 72 hours.

- ``uploads_url``: where the files of this configuration go, the file host named for its API host
  (``lib.providers.files_upload_url``), or a refusal before anything is sent. The key goes there
  only because that host is listed, and only where the key rule allows it (``ClientSettings.key_problem``).
- ``Links``: the links of uploads by content hash, reused while they are valid (kept in the store
  across runs), so a file listed twice, a retry, a fallback hop or the next run does not upload the
  same bytes again.
- ``upload_references``: each reference uploaded (or its link reused), the links in order.
- ``preview_body``: the body as sent, ``image_urls`` included (a link not made yet is named by its file).

A failed upload is an error of the attempt like any other (the key refused: ``auth``; the host
unreachable: ``network``; an answer without a link: ``bad_response``; the file refused: ``invalid_image``),
its message saying it was the upload of which file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from lib import errors as E
from lib import redact
from lib.answers import describe_shape, error_envelope
from lib.classify import classify_exception, load_json
from lib.edits import safe_filename, sniff
from lib.generation import GenerationRequest, ReferenceImage
from lib.providers import (
    EVOLINK_FILE_LINK_S,
    LOOPBACK_HOSTS,
    SANDBOX_EVOLINK_PATH,
    bind_files_root,
    files_upload_url,
    host_of,
    route,
)

if TYPE_CHECKING:
    from lib.client._client import ImageClient

log = logging.getLogger("imagelab.client")
MAX_LINK_CHARS = 2048  # a link longer than this is not taken as one
LINK_MARGIN_S = 3600  # a link this close to its end is not reused: the provider fetches it later, while the task runs
_FILE_TYPE_WORDS = re.compile(r"file type|mime|not an image|unsupported|format", re.I)


def sends_links(request: GenerationRequest, provider: Any, model: str) -> bool:
    """True when this request's reference images go as links in ``image_urls`` (EvoLink's routes)."""
    return request.is_edit and route(provider, model).references == "image_urls"


def uploads_url(client: ImageClient) -> str:
    """The file API of this configuration's API host, or ``InvalidInput`` when none is known."""
    endpoint = client.settings.endpoint
    url = files_upload_url(endpoint.root) or _sandbox_files_host(client)
    if url is None:
        raise E.InvalidInput(
            f"No file host is known for '{host_of(endpoint.root)}', so the reference images cannot be uploaded: "
            "EvoLink's are uploaded to files-api.evolink.ai, which the key is sent to only beside api.evolink.ai. "
            "Use EvoLink's base URL, or rehearse on the sandbox's EvoLink face (a sandbox started by hand names its "
            "file host at /sandbox/config: is it running?).",
            param="base_url",
            code="no_files_host",
        )
    return url


SANDBOX_CONFIG_PATH = "/sandbox/config"  # where a sandbox names its file host (``files_root``)


def _sandbox_files_host(client: ImageClient) -> str | None:
    """A sandbox started by hand (``imagelab sandbox``) runs in another process: its EvoLink face is on
    this machine and names its file host at /sandbox/config. Asked once, without the key; the file host is
    taken only on this machine too, and bound to that API host for the rest of this process."""
    endpoint = client.settings.endpoint
    if host_of(endpoint.root) not in LOOPBACK_HOSTS or urlsplit(endpoint.api_base).path.rstrip("/") != SANDBOX_EVOLINK_PATH:
        return None
    try:
        answer = client._request("GET", endpoint.root + SANDBOX_CONFIG_PATH, deadline_s=min(5.0, client.settings.read_timeout_s))
        payload = load_json(answer.content.decode("utf-8", "replace")) if answer.status_code == 200 else None
    except (E.ImageLabError, httpx.HTTPError, ValueError):
        return None
    files_root = payload.get("files_root") if isinstance(payload, dict) else None
    if not (isinstance(files_root, str) and _is_link(files_root) and host_of(files_root) in LOOPBACK_HOSTS):
        return None
    bind_files_root(endpoint.root, files_root)
    return files_upload_url(endpoint.root)


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: float  # epoch seconds


class Links:
    """The links of one client's uploads, by the sha256 of the bytes and the file host; with a store that keeps
    them (``upload_link`` / ``upload_kept``, lib/store/uploads.py), also the links of earlier runs."""

    def __init__(self, clock: Callable[[], float] = time.time, store: Any = None) -> None:
        self._clock = clock
        self._store = store if hasattr(store, "upload_link") and hasattr(store, "upload_kept") else None
        self._lock = threading.Lock()
        self._links: dict[tuple[str, str], Link] = {}

    def get(self, sha256: str, files_root: str) -> str | None:
        """A link to these bytes at this file host that stays valid a while yet, or None."""
        valid_until = self._clock() + LINK_MARGIN_S
        with self._lock:
            link = self._links.get((sha256, files_root))
        if link is None and self._store is not None:
            try:
                kept = self._store.upload_link(sha256, files_root, valid_until=valid_until)
            except Exception:  # a record that cannot be read means one upload more, nothing worse
                log.exception("could not read the kept upload links")
                kept = None
            if kept is not None:
                link = Link(*kept)
                with self._lock:
                    self._links[(sha256, files_root)] = link
        if link is None or link.expires_at <= valid_until:
            return None
        return link.url

    def put(self, sha256: str, files_root: str, link: Link) -> None:
        with self._lock:
            self._links[(sha256, files_root)] = link
        if self._store is not None:
            try:
                self._store.upload_kept(sha256, files_root, link.url, link.expires_at)
            except Exception:  # the link still serves this run
                log.exception("could not keep the upload link")


def _root_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _sha(ref: ReferenceImage) -> str:
    return hashlib.sha256(ref.data).hexdigest()


def upload_references(client: ImageClient, request: GenerationRequest, *, model: str, attempt_no: int, emit) -> list[str]:
    """The link of each reference image, in order: uploaded now, or one still valid from before."""
    target = uploads_url(client)
    files_root = _root_of(target)
    urls: list[str] = []
    total = len(request.images)
    for position, ref in enumerate(request.images, start=1):
        sha = _sha(ref)
        known = client.links.get(sha, files_root)
        if known is None:
            client._token.check()
            emit(
                "uploading",
                f"Uploading reference image {position} of {total} ({safe_filename(ref)}, {ref.byte_size:,} bytes) to {urlsplit(target).netloc}",
                model=model,
                attempt_no=attempt_no,
            )
            link = _upload(client, ref, target, position)
            client.links.put(sha, files_root, link)
            known = link.url
        urls.append(known)
    return urls


def _upload(client: ImageClient, ref: ReferenceImage, target: str, position: int) -> Link:
    name = safe_filename(ref)
    what = f"Uploading reference image {position} ('{name}') to the file API"
    headers = client._headers(masked=False, url=target)  # the key rule, for the file host too
    ctype = ref.content_type or sniff(ref.data) or "application/octet-stream"
    body = {"base64_data": f"data:{ctype};base64,{base64.b64encode(ref.data).decode('ascii')}", "file_name": name}
    try:
        answer = client._request("POST", target, deadline_s=client.settings.read_timeout_s, headers=headers, json=body)
    except E.ImageLabError as err:
        err.message = f"{what}: {err.message}"
        raise
    except httpx.HTTPError as exc:
        err = classify_exception(exc)
        err.message = f"{what}: {err.message}"
        raise err from exc
    from lib.client._client import classify_answer

    status = answer.status_code
    if not 200 <= status < 300:
        raise _refusal(classify_answer(status, answer.content, answer.headers, now=client.wall_clock()), what)
    try:
        payload = load_json(answer.content.decode("utf-8", "replace"))
    except ValueError:
        raise E.BadResponse(f"{what}: the answer (HTTP {status}) is not JSON.", status=status, code="upload_not_json") from None
    if error_envelope(payload):  # a 200 that carries an error of its own ({"success": false, "code": 401, ...})
        raise _refusal(classify_answer(status, json.dumps(payload, ensure_ascii=False), answer.headers, now=client.wall_clock()), what)
    data = payload.get("data") if isinstance(payload, dict) else None
    url = data.get("file_url") if isinstance(data, dict) else None
    if not (isinstance(url, str) and _is_link(url)):
        raise E.BadResponse(
            f"{what}: the answer (HTTP {status}) holds no file_url link: {describe_shape(payload)}.",
            status=status,
            code="upload_no_link",
        )
    return Link(url, _expiry(data.get("expires_at"), client.wall_clock()))


def _refusal(err: E.ImageLabError, what: str) -> E.ImageLabError:
    """The file API's refusal as the attempt's error, saying it was the upload; a file refused for its type is invalid_image."""
    said = err.provider_message or ""
    if err.error_type == "bad_request" and _FILE_TYPE_WORDS.search(said):
        return E.InvalidImage(
            f"{what}: the file API refused the file ({redact.scrub(said, limit=300)}).",
            status=err.status,
            code="upload_refused",
            provider_message=said,
        )
    err.message = f"{what}: {err.message}"
    return err


def _is_link(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= MAX_LINK_CHARS and not any(c.isspace() for c in url)


def _expiry(value: Any, now: float) -> float:
    """When a link ends: the answer's ``expires_at`` (ISO 8601 or epoch seconds), at most EvoLink's 72 hours."""
    latest = now + EVOLINK_FILE_LINK_S
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = float(value)
        elif isinstance(value, str) and value:
            when = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        else:
            return latest
    except (ValueError, OverflowError):
        return latest
    return min(when, latest)


def link_body(request: GenerationRequest, model: str, urls: list[str]) -> dict[str, Any]:
    """The JSON body of a generation with its references as links."""
    return {**request.body(model), "image_urls": urls}


def preview_body(client: ImageClient, request: GenerationRequest, model: str | None) -> dict[str, Any]:
    """The body as sent, ``image_urls`` included: the links made, or the files still to upload, by name."""
    target = files_upload_url(client.settings.endpoint.root)
    files_root = _root_of(target) if target else ""
    links = [
        client.links.get(_sha(ref), files_root) or f"(uploaded when sent: {safe_filename(ref)}, {ref.byte_size:,} bytes)"
        for ref in request.images
    ]
    return link_body(request, model or request.model, [redact.strip_query(u) for u in links])
