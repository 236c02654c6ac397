"""The value types a generation passes around.

A ``GenerationRequest`` (what to make) and ``ClientSettings`` (where and how
to send it) go in; ``Event``s come out while it runs; an ``Outcome`` with its
``ResultImage``s and one ``AttemptSummary`` per attempt comes back. The
``Recorder`` protocol is where attempts are reported (``lib.store.Store``).
Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from lib import constants as C
from lib import errors as E
from lib import redact
from lib.images import ImageInfo
from lib.providers import Endpoint, Provider, bound_host, build_endpoint, fallback_chain, get_provider, key_destination_problem

@dataclass
class ReferenceImage:
    """A file sent to /v1/images/edits: a reference image or the mask (issue 12).

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
    # --- media (issue 12): streaming partial images, edits with reference images
    stream: bool = False
    partial_images: int = 2  # 0-3, sent only when stream is on
    keep_partials: bool = False  # keep the decoded partials on the Outcome (memory only; never saved)
    images: list[ReferenceImage] = field(default_factory=list)  # non-empty: an edit (/v1/images/edits)
    mask: ReferenceImage | None = None
    input_fidelity: str | None = None  # "low" / "high", only for models that take it

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
        body.update(self.extra)
        return body


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
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Security (issue 8): the host a configured key belongs to (providers.resolve_key_for);
    # "" for a secrets/environment key means the preset's own host.
    key_host: str = ""
    # Result URLs on loopback/private/link-local hosts other than the provider's own are refused
    # unless the operator allows a private image store (IMAGELAB_ALLOW_PRIVATE_IMAGES=1, --allow-private-images).
    allow_private_images: bool = False

    def __post_init__(self) -> None:
        # Every key the process learns about is masked wherever a provider echoes it.
        redact.register(self.api_key)

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


class Recorder(Protocol):
    """Where attempts are reported. ``lib.store.Store`` is the SQLite one."""

    def start_run(self, *, kind: str, label: str, settings: dict[str, Any]) -> str: ...

    def attempt_started(self, row: dict[str, Any]) -> Any: ...

    def attempt_finished(self, attempt_id: Any, fields: dict[str, Any]) -> None: ...

    def image_saved(self, attempt_id: Any, saved: ResultImage) -> None: ...

    def run_finished(self, run_id: str, fields: dict[str, Any]) -> None: ...
