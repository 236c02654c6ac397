"""The value types a generation passes around.

A ``GenerationRequest`` (what to make) and ``ClientSettings`` (where and how
to send it) go in; ``Event``s come out while it runs; an ``Outcome`` with its
``ResultImage``s and one ``AttemptSummary`` per attempt comes back. The
``Recorder`` protocol is where attempts are reported (``lib.store.Store``).
Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from dataclasses import fields as dc_fields
from functools import lru_cache
from typing import Any, Protocol

from lib import constants as C
from lib import errors as E
from lib import redact
from lib.images import ImageInfo
from lib.providers import (
    Endpoint,
    Provider,
    bound_host,
    build_endpoint,
    fallback_chain,
    get_provider,
    key_destination_problem,
    route_delivery,
)


@dataclass
class ReferenceImage:
    """A file sent to /v1/images/edits: a reference image or the mask.

    The bytes stay in memory; ``describe()`` is what may be shown or stored."""

    filename: str
    data: bytes = field(repr=False)
    role: str = "image"  # "image" or "mask"
    content_type: str = ""  # filled in by pre-flight from the bytes, never from the name

    @property
    def byte_size(self) -> int:
        return len(self.data)

    def describe(self) -> dict[str, Any]:
        return {"role": self.role, "filename": self.filename, "byte_size": self.byte_size, "content_type": self.content_type}

    def to_dict(self) -> dict[str, Any]:
        """What a stored request keeps of this file: its description and sha256, never the bytes."""
        return {**self.describe(), "sha256": hashlib.sha256(self.data).hexdigest()}


@dataclass
class GenerationRequest:
    prompt: str
    model: str = "gpt-image-2"
    size: str = "auto"
    n: int = 1
    quality: str = "auto"
    background: str = "auto"
    output_format: str = "png"
    output_compression: int | None = None
    moderation: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)
    # --- media: streaming partial images, edits with reference images
    stream: bool = False
    partial_images: int = 2  # 0-3, sent only when stream is on
    keep_partials: bool = False  # keep the decoded partials on the Outcome (memory only; never saved)
    images: list[ReferenceImage] = field(default_factory=list)  # non-empty: an edit (/v1/images/edits)
    mask: ReferenceImage | None = None
    input_fidelity: str | None = None  # "low" / "high", only for models that take it
    resolution: str | None = None  # "1K" / "2K" / "4K" with a ratio size, on routes that take one (EvoLink)

    @property
    def is_edit(self) -> bool:
        return bool(self.images)

    def params(self) -> dict[str, Any]:
        """The parameters as stored with each attempt (no prompt, no model)."""
        out: dict[str, Any] = {
            "size": self.size,
            "n": self.n,
            "quality": self.quality,
            "background": self.background,
            "output_format": self.output_format,
            "moderation": self.moderation,
        }
        if self.output_compression is not None:
            out["output_compression"] = self.output_compression
        if self.stream:
            out["stream"] = True
            out["partial_images"] = self.partial_images
        if self.input_fidelity:
            out["input_fidelity"] = self.input_fidelity
        if self.resolution:
            out["resolution"] = self.resolution
        if self.images:
            out["reference_images"] = len(self.images)
            out["mask"] = self.mask is not None
        out.update(self.extra)
        return out

    def body(self, model: str | None = None) -> dict[str, Any]:
        """The JSON body: defaults the API would assume anyway are left out,
        which keeps strict gateways happy."""
        body: dict[str, Any] = {"model": model or self.model, "prompt": self.prompt, "n": self.n, "size": self.size}
        if self.quality != "auto":
            body["quality"] = self.quality
        if self.background != "auto":
            body["background"] = self.background
        if self.output_format != "png":
            body["output_format"] = self.output_format
        if self.output_compression is not None and self.output_format in ("jpeg", "webp"):
            body["output_compression"] = self.output_compression
        if self.moderation != "auto":
            body["moderation"] = self.moderation
        if self.stream:
            body["stream"] = True
            body["partial_images"] = self.partial_images
        if self.input_fidelity:
            body["input_fidelity"] = self.input_fidelity
        if self.resolution:
            body["resolution"] = self.resolution
        body.update(self.extra)
        return body

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, stored as runs.request so a run can be sent again.

        Reference images and the mask are described (name, role, type, size,
        sha256), never inlined: their bytes are kept content-addressed with the
        attempt (``Store.inputs_saved``) and loaded back through ``from_dict(load=...)``."""
        out: dict[str, Any] = {}
        for f in dc_fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                value = dict(value)
            elif f.name == "images":
                value = [ref.to_dict() for ref in value]
            elif f.name == "mask":
                value = value.to_dict() if value is not None else None
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, load: Callable[[str], bytes | None] | None = None) -> GenerationRequest:
        """The inverse of ``to_dict``; unknown keys are ignored, missing ones take their defaults.

        ``load(sha256)`` gives back the bytes of a kept reference image; without it,
        or when a file is gone, a request that had reference images is refused
        with a clear message rather than silently sent as a plain generation."""
        if not isinstance(data, dict):
            raise ValueError("a stored request must be a JSON object")
        known = {f.name for f in dc_fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "prompt" not in values:
            raise ValueError("a stored request has no prompt")
        if values.get("extra") is None:
            values.pop("extra", None)

        def ref(entry: Any) -> ReferenceImage:
            if not isinstance(entry, dict):
                raise ValueError("a stored reference image is not an object")
            sha = str(entry.get("sha256") or "")
            blob = load(sha) if (load is not None and sha) else None
            if blob is None:
                raise ValueError(f"the reference image '{entry.get('filename', '?')}' of this request is no longer available")
            return ReferenceImage(
                str(entry.get("filename") or "image"), blob, str(entry.get("role") or "image"), str(entry.get("content_type") or "")
            )

        values["images"] = [ref(e) for e in (values.get("images") or [])]
        values["mask"] = ref(values["mask"]) if values.get("mask") else None
        return cls(**values)


@dataclass
class ClientSettings:
    provider: str = "sandbox"
    base_url: str | None = None  # None: the preset's
    api_key: str = field(default="", repr=False)
    key_source: str = ""  # "secrets", "environment", "host_keys", "typed", "argument", "" (none)
    connect_timeout_s: float = C.DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = C.DEFAULT_READ_TIMEOUT_S
    max_retries: int = C.DEFAULT_MAX_RETRIES
    fallbacks: tuple[str, ...] | None = None  # None: the preset's chain
    use_fallback: bool = True
    rate_per_s: float = C.DEFAULT_RATE_PER_S
    burst: int = C.DEFAULT_BURST
    max_concurrency: int = C.DEFAULT_MAX_CONCURRENCY
    task_deadline_s: float = C.DEFAULT_TASK_DEADLINE_S
    run_deadline_s: float = C.DEFAULT_RUN_DEADLINE_S  # the whole generation: every retry and fallback hop
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Security: the host a configured key belongs to (providers.resolve_key_for);
    # "" for a secrets/environment key means the preset's own host.
    key_host: str = ""
    # Result URLs on loopback/private/link-local hosts other than the provider's own are refused
    # unless the operator allows a private image store (IMAGELAB_ALLOW_PRIVATE_IMAGES=1, --allow-private-images).
    allow_private_images: bool = False
    moderate: bool = False  # check the prompt and references at the provider's moderations route first (lib.client._moderation)
    # A Custom provider's gateway dialect (lib.dialects.Dialect), or the DialectError that kept the chosen one
    # from loading (pre-flight refuses it); None: OpenAI-compatible.
    dialect: Any = None

    def key_problem(self, url: str) -> tuple[str, str] | None:
        """None when the key may be sent to ``url``; else (param, reason). See providers.key_destination_problem."""
        host = self.key_host or (bound_host(self.preset) if self.key_source in ("secrets", "environment") else "")
        return key_destination_problem(self.api_key, self.key_source, host, url)

    @property
    def preset(self) -> Provider:
        return get_provider(self.provider)

    @property
    def endpoint(self) -> Endpoint:
        return _endpoint(self.base_url if self.base_url is not None else self.preset.base_url, self.provider)

    @property
    def key_hint(self) -> str:
        return key_hint(self.api_key)

    @property
    def delivery(self) -> str:
        """'task' or 'sync' on this route (lib/providers.py, route_delivery)."""
        return route_delivery(self.provider, dialect=self.dialect, sandbox_delivery=self.extra_headers.get("X-Sandbox-Dialect", ""))

    def describe(self, model: str | None = None) -> dict[str, Any]:
        """These settings as stored with a run or a comparison and shown in a report: never
        the key, only where it came from (``key_source``) and its last four characters;
        signed query strings cut; of extra headers only their names (values may hold
        credentials), except the sandbox's own."""
        out: dict[str, Any] = {
            "provider": self.provider,
            "provider_label": self.preset.label,
            "endpoint": redact.strip_query(self.endpoint.url),
            "base_url": redact.strip_query(self.base_url if self.base_url is not None else self.preset.base_url or ""),
            "key_source": self.key_source if self.api_key else "",
            "key_hint": self.key_hint,
            "key_env": self.preset.key_env,
            "delivery": self.delivery,
            "connect_timeout_s": self.connect_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "task_deadline_s": self.task_deadline_s,
            "run_deadline_s": self.run_deadline_s,
            "max_retries": self.max_retries,
            "use_fallback": self.use_fallback,
            "fallbacks": self.chain(model)[1:] if model else list(self.fallbacks if self.fallbacks is not None else self.preset.fallbacks),
            "rate_per_s": self.rate_per_s,
            "burst": self.burst,
            "max_concurrency": self.max_concurrency,
        }
        if model:
            out["model"] = model
        if self.dialect is not None:
            out["dialect"] = getattr(self.dialect, "name", "") or "(could not be loaded)"
        sandbox = {k[len("X-Sandbox-") :].lower(): v for k, v in self.extra_headers.items() if k.startswith("X-Sandbox-")}
        if sandbox:
            out["sandbox"] = sandbox
        others = sorted(k for k in self.extra_headers if not k.startswith("X-Sandbox-"))
        if others:
            out["extra_headers"] = others
        return redact.scrub_obj(out, extra=[self.api_key] if self.api_key else [])

    def chain(self, model: str) -> list[str]:
        if not self.use_fallback:
            return [model]
        return fallback_chain(model, self.fallbacks if self.fallbacks is not None else self.preset.fallbacks)


@lru_cache(maxsize=64)
def _endpoint(base_url: str, provider_id: str) -> Endpoint:
    return build_endpoint(base_url, preset=get_provider(provider_id))


def key_hint(key: str | None) -> str:
    """At most the last four characters of a key, and none of a short one."""
    key = (key or "").strip()
    if len(key) < C.KEY_HINT_MIN_KEY_LEN:
        return ""
    return key[-C.KEY_HINT_CHARS :]


class CancelToken:
    """A cancel signal shared between the thread that runs a generation and the
    ones that may stop it. ``wait`` sleeps until the time passes or a cancel
    comes (no polling); ``on_cancel`` callbacks run in the cancelling thread, so
    they can close an in-flight connection or wake a limiter wait.

    ``reason`` is ``cancelled`` (the user), ``interrupted`` (the app is shutting
    down) or ``deadline`` (the run's total deadline passed)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.reason: str | None = None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            self._event.set()
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one failing closer must not stop the others
                pass

    def wait(self, seconds: float | None) -> bool:
        """Sleep up to ``seconds``; True when cancelled (at once if already)."""
        return self._event.wait(None if seconds is None else max(seconds, 0.0))

    def check(self) -> None:
        """Raise ``errors.Cancelled`` when a cancel has come."""
        if self._event.is_set():
            raise E.Cancelled(self.reason or "cancelled")

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when cancelled (now, if already); returns a remover."""
        with self._lock:
            if self.reason is None:
                self._next += 1
                handle = self._next
                self._callbacks[handle] = callback
                return lambda: self._callbacks.pop(handle, None)
        try:
            callback()
        except Exception:
            pass
        return lambda: None


@dataclass
class Event:
    kind: str  # started submitted waiting queued polling downloading saved retry fallback skipped failed succeeded
    message: str
    elapsed_s: float
    model: str = ""
    attempt_no: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    image: bytes | None = field(default=None, repr=False)  # a "partial" event's decoded image: memory only, never stored


@dataclass
class ResultImage:
    info: ImageInfo
    source: str
    source_url: str | None = None
    path: str | None = None  # absolute path when kept on disk
    rel_path: str | None = None
    data: bytes | None = None  # kept in memory when there is no keeper


@dataclass
class AttemptSummary:
    attempt_id: Any
    attempt_no: int
    model: str
    status: str
    error_type: str | None
    http_status: int | None
    latency_ms: int
    fallback_from: str | None = None
    error_message: str | None = None
    error_code: str | None = None
    wait_ms: int = 0  # time queued inside the app before the request went out (not part of latency_ms)


@dataclass
class RequestPreview:
    method: str
    url: str
    headers: dict[str, str]  # the key masked
    body: dict[str, Any]
    curl: str
    form: list[dict[str, Any]] | None = None  # an edit's multipart fields: files by name and size, never bytes


@dataclass
class Outcome:
    ok: bool
    run_id: str
    requested_model: str
    model: str  # the model of the last attempt (the one that succeeded, on success)
    images: list[ResultImage]
    attempts: list[AttemptSummary]
    events: list[Event]
    error: E.ImageLabError | None
    latency_ms: int
    usage: dict[str, Any] | None = None
    revised_prompt: str | None = None
    preview: RequestPreview | None = None
    raw_response: str | None = None
    partials: list[bytes] = field(default_factory=list)  # streamed partial images, kept only when asked
    partial_count: int = 0  # partial images received by the attempt that produced the outcome
    first_partial_ms: int | None = None
    status: str = ""  # succeeded | failed | cancelled | interrupted (set by the client)
    first_error: E.ImageLabError | None = None  # the first model's error, kept visible after a fallback
    sent: bool = True  # False: pre-flight stopped it, nothing went out
    note: str | None = None  # e.g. what happened to an image that could not be kept

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "succeeded" if self.ok else "failed"

    @classmethod
    def without_attempts(
        cls,
        request: GenerationRequest,
        error: E.ImageLabError | None,
        *,
        run_id: str = "",
        status: str = "",
        events: list[Event] | None = None,
        sent: bool = True,
    ) -> Outcome:
        """A run that ended before any attempt: it could not start, or was cancelled or interrupted while queued."""
        return cls(
            ok=False,
            run_id=run_id,
            requested_model=request.model,
            model=request.model,
            images=[],
            attempts=[],
            events=list(events or []),
            error=error,
            latency_ms=0,
            status=status,
            sent=sent,
        )

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


class Recorder(Protocol):
    """Where attempts are reported. ``lib.store.Store`` is the SQLite one.

    The client is the one writer of an attempt's fields: it builds the row, and
    ``attempt_finished`` writes the finish and the attempt's image rows together
    (one transaction in the store), so ``image_count`` always equals its rows."""

    def start_run(
        self,
        *,
        kind: str,
        label: str,
        settings: dict[str, Any],
        comparison_id: str | None = None,
        cell: dict[str, Any] | None = None,
        rerun_of: int | None = None,
        provider: str | None = None,
        prompt: str | None = None,
        request: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> str: ...

    def run_started(self, run_id: str) -> None: ...

    def attempt_started(self, row: dict[str, Any]) -> Any: ...

    def attempt_finished(self, attempt_id: Any, fields: dict[str, Any], images: list[ResultImage] | tuple = ()) -> None: ...

    def run_event(self, run_id: str, seq: int, event: Event) -> None: ...

    def run_finished(self, run_id: str, fields: dict[str, Any]) -> None: ...
