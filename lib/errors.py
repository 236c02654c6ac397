"""The error vocabulary of Image Prompt Lab: its types, its exception tree, and
the one mapping from an error to its checklist step.

Every failure the app can meet is one ``error_type``; the names are a
contract (stored in SQLite, shown in the UI, read by exports). Each type
knows, in ``ERROR_INFO``, whether it is retried, which checklist step it
belongs to, and the fix in plain words.

The exception tree::

    ImageLabError                       error_type, status, code, param, message, request_id
    ├── InvalidInput                    invalid_input       (never sent)
    ├── ProviderError                   the provider answered with an error status
    │   ├── AuthError                   auth
    │   ├── PermissionDenied            permission
    │   ├── EndpointNotFound            endpoint_not_found
    │   ├── ModelNotFound               model_not_found
    │   ├── BadRequest                  bad_request
    │   ├── ContentPolicy               content_policy
    │   ├── RateLimited                 rate_limited        (.retry_after_s)
    │   ├── QuotaExceeded               quota_exceeded
    │   └── ServerError                 server_error
    ├── TransportError                  nothing usable came back over the wire
    │   ├── Timeout                     timeout
    │   └── NetworkError                network
    ├── TaskFailed                      task_failed
    ├── BadResponse                     bad_response
    ├── InvalidImage                    invalid_image
    ├── ImageFetchFailed                image_fetch_failed
    ├── Interrupted                     interrupted
    └── AppError                        app_error           (a bug of Image Prompt Lab itself)

    Cancelled                           not an error: stopped on purpose (.reason: cancelled,
                                        interrupted or deadline)

``lib.classify`` maps what a provider or the network did onto these types;
conversion happens at the boundary (``lib.client``) with
``raise classify_exception(err) from err``, so nothing else in the app needs
to know what httpx raises. ``Cancelled`` is not an error of the vocabulary: a
generation stopped on purpose (by the user, a shutdown or the run deadline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------
# The vocabulary


@dataclass(frozen=True)
class ErrorInfo:
    error_type: str
    title: str  # the error in plain words, for a card heading
    retryable: bool
    step: int | None  # checklist step (see checklist_step); None: no step
    step_name: str
    fix: str


CHECKLIST_STEPS: dict[int, str] = {
    1: "Key",
    2: "Endpoint",
    3: "Model",
    4: "Delivery",
    5: "Limits",
    6: "Request and response shape",
    7: "Decode and keep",
    8: "Content policy",
    9: "Latency",
}


def _info(*, error_type: str, title: str, retryable: bool, step: int | None, fix: str, step_name: str | None = None) -> ErrorInfo:
    return ErrorInfo(
        error_type=error_type,
        title=title,
        retryable=retryable,
        step=step,
        step_name=step_name or (CHECKLIST_STEPS[step] if step else "-"),
        fix=fix,
    )


ERROR_INFO: dict[str, ErrorInfo] = {
    i.error_type: i
    for i in (
        _info(
            error_type="invalid_input",
            title="The request was stopped before sending",
            retryable=False,
            step=6,
            fix=("Correct the field named in the message; nothing was sent to the provider."),
        ),
        _info(
            error_type="auth",
            title="The provider did not accept the API key",
            retryable=False,
            step=1,
            fix=(
                "Check that the key belongs to this provider, is complete, and has no spaces, "
                "quotes or line breaks. Create a new key if it was revoked."
            ),
        ),
        _info(
            error_type="permission",
            title="The key is valid but lacks access",
            retryable=False,
            step=1,
            fix=(
                "The key works but this account may not use this model or endpoint. For gpt-image "
                "models on OpenAI, verify the organization in the dashboard; on gateways, enable "
                "the model for the key's group."
            ),
        ),
        _info(
            error_type="endpoint_not_found",
            title="The endpoint URL does not exist",
            retryable=False,
            step=2,
            fix=(
                "Use the base URL ending in /v1 (or the full .../v1/images/generations). Look for "
                "a doubled or missing /v1, a singular /image/generation, or a model name inside "
                "the path."
            ),
        ),
        _info(
            error_type="model_not_found",
            title="This provider does not know the model",
            retryable=False,
            step=3,
            fix=(
                "Use an exact model id that this provider serves (ids are case- and "
                "dash-sensitive), or let the fallback chain pick another model."
            ),
        ),
        _info(
            error_type="bad_request",
            title="The provider rejected a parameter",
            retryable=False,
            step=6,
            fix=(
                "Read the parameter named in the message: size, quality, background or output "
                "format may not be supported by this model. Do not send response_format to "
                "gpt-image models."
            ),
        ),
        _info(
            error_type="content_policy",
            title="The safety system blocked the prompt or image",
            retryable=False,
            step=8,
            fix=(
                "Rephrase the prompt without the flagged content. Blocked requests are never "
                "retried: repeating them can get a key restricted."
            ),
        ),
        _info(
            error_type="rate_limited",
            title="Too many requests for now",
            retryable=True,
            step=5,
            fix=(
                "Wait for the time the provider asked for, lower the rate limit or concurrency in Settings, or move to a higher usage tier."
            ),
        ),
        _info(
            error_type="quota_exceeded",
            title="Out of credits or quota",
            retryable=False,
            step=5,
            fix=("Add credits or raise the spending limit for this key's account; retrying will not help until the balance is topped up."),
        ),
        _info(
            error_type="server_error",
            title="The provider had a server error",
            retryable=True,
            step=2,
            fix=(
                "Usually temporary: it is sent again when retries are on. If it persists, check that the "
                "base URL is the provider's API (not a website or another service) and the provider's "
                "status page, or fall back to another model."
            ),
        ),
        _info(
            error_type="timeout",
            title="No answer before the timeout",
            retryable=True,
            step=9,
            fix=(
                "Image models can take two minutes or more: raise the read timeout to at least "
                "120 s (240 s for high quality or large sizes)."
            ),
        ),
        _info(
            error_type="network",
            title="The connection failed",
            retryable=True,
            step=2,
            fix=("Check the host name and port of the base URL, your network or proxy, and TLS settings; the message says which failed."),
        ),
        _info(
            error_type="task_failed",
            title="The provider's task failed",
            retryable=True,
            step=4,
            fix=(
                "The gateway's job failed on its side; the app submits a new task. If it keeps "
                "failing, try another model or a simpler prompt."
            ),
        ),
        _info(
            error_type="bad_response",
            title="The answer had no usable image",
            retryable=False,
            step=6,
            fix=(
                "The provider answered with success but in a shape the app cannot read. Check the "
                "delivery setting (sync vs task) and the endpoint; see 'What came back' for the "
                "raw answer."
            ),
        ),
        _info(
            error_type="invalid_image",
            title="The returned bytes are not a valid image",
            retryable=False,
            step=7,
            fix=(
                "The provider sent data that does not decode as an image (bad base64, truncated "
                "or oversized). Try again; report it to the provider if it repeats."
            ),
        ),
        _info(
            error_type="image_fetch_failed",
            title="Downloading the image failed",
            retryable=False,
            step=7,
            fix=(
                "Result URLs expire (often after 24 h) and the app downloads them at once. A "
                "403/404/410 means the link is gone: generate again."
            ),
        ),
        _info(
            error_type="interrupted",
            title="The app stopped during the request",
            retryable=False,
            step=None,
            fix=(
                "The app or its process stopped while this request was in flight. Run it again; the provider may still have charged for it."
            ),
        ),
        _info(
            error_type="app_error",
            title="Image Prompt Lab hit an unexpected error",
            retryable=False,
            step=None,
            step_name="App",
            fix=(
                "This is a bug in the app, not a problem with your request or the provider. The "
                "attempt was recorded and the details are in logs/imagelab.log in the data "
                "directory. Try again; if it repeats, report it with that log."
            ),
        ),
    )
}

ERROR_TYPES: tuple[str, ...] = tuple(ERROR_INFO)

# --------------------------------------------------------------------------
# The exception tree


class ImageLabError(Exception):
    """Base of every error the app reports. Carries the vocabulary fields."""

    error_type: str = "bad_response"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
        provider_message: str | None = None,
        raw: str | None = None,
        error_type: str | None = None,
        provider_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider_code = provider_code  # the code the provider's answer gave, if any (never a type or ours)
        if error_type is not None:
            self.error_type = error_type
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.request_id = request_id
        self.retry_after_s = retry_after_s
        self.provider_message = provider_message
        self.raw = raw

    @property
    def info(self) -> ErrorInfo:
        return ERROR_INFO[self.error_type]

    @property
    def retryable(self) -> bool:
        return is_retryable(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_type": self.error_type,
            "message": self.message,
            "http_status": self.status,
            "error_code": self.code,
            "param": self.param,
            "request_id": self.request_id,
            "retry_after_s": self.retry_after_s,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error_type}, status={self.status}, {self.message!r})"


class InvalidInput(ImageLabError):
    error_type = "invalid_input"


class ProviderError(ImageLabError):
    error_type = "bad_request"


class AuthError(ProviderError):
    error_type = "auth"


class PermissionDenied(ProviderError):
    error_type = "permission"


class EndpointNotFound(ProviderError):
    error_type = "endpoint_not_found"


class ModelNotFound(ProviderError):
    error_type = "model_not_found"


class BadRequest(ProviderError):
    error_type = "bad_request"


class ContentPolicy(ProviderError):
    error_type = "content_policy"


class RateLimited(ProviderError):
    error_type = "rate_limited"


class QuotaExceeded(ProviderError):
    error_type = "quota_exceeded"


class ServerError(ProviderError):
    error_type = "server_error"


class TransportError(ImageLabError):
    error_type = "network"


class Timeout(TransportError):
    error_type = "timeout"


class NetworkError(TransportError):
    error_type = "network"


class TaskFailed(ImageLabError):
    error_type = "task_failed"


class BadResponse(ImageLabError):
    error_type = "bad_response"


class InvalidImage(ImageLabError):
    error_type = "invalid_image"


class ImageFetchFailed(ImageLabError):
    error_type = "image_fetch_failed"


class Interrupted(ImageLabError):
    error_type = "interrupted"


class AppError(ImageLabError):
    error_type = "app_error"


class Cancelled(Exception):
    """A generation was stopped on purpose: not an error of the vocabulary.

    ``reason`` is ``cancelled`` (the user: rows end ``cancelled`` with no
    error_type), ``interrupted`` (the app shut down: rows end ``interrupted``)
    or ``deadline`` (the run's total deadline: the attempt ends as ``timeout``)."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


def _leaf_classes(base: type[ImageLabError]) -> list[type[ImageLabError]]:
    out = [base]
    for sub in base.__subclasses__():
        out.extend(_leaf_classes(sub))
    return out


# Each error type's own class: the one whose name-giving attribute is set on it directly
# (ProviderError and TransportError are groups, not types of their own).
_CLASS_FOR_TYPE: dict[str, type[ImageLabError]] = {
    cls.error_type: cls
    for cls in _leaf_classes(ImageLabError)
    if cls not in (ImageLabError, ProviderError, TransportError) and "error_type" in vars(cls)
}
assert set(_CLASS_FOR_TYPE) == set(ERROR_INFO)


def make_error(error_type: str, message: str, **fields: Any) -> ImageLabError:
    """Build the exception class that belongs to ``error_type``."""
    return _CLASS_FOR_TYPE[error_type](message, **fields)


def is_retryable(err: ImageLabError) -> bool:
    """Whether the whole attempt is worth sending again.

    image_fetch_failed is not: the download itself already retried network
    failures (constants.DOWNLOAD_RETRIES), an expired link stays expired, and a
    new generation would be charged again."""
    return ERROR_INFO[err.error_type].retryable


# An app_error that is a write on this machine failing (a full disk, a read-only data directory), not a bug.
LOCAL_WRITE_CODE = "local_write"
LOCAL_WRITE_TITLE = "Image Prompt Lab could not write to its data directory"
LOCAL_WRITE_FIX = (
    "Free space on the disk that holds the data directory named above, or make that directory writable "
    "(or point IMAGELAB_DATA_DIR at one that is). Nothing more was sent to the provider after the write failed; "
    "what could not be recorded is written once the disk accepts it again, or marked interrupted at the next start."
)

# Errors of one type that need words of their own, by their code: (title, fix).
CODE_INFO: dict[tuple[str, str], tuple[str, str]] = {
    ("timeout", "task_deadline"): (
        "The task did not finish before the task deadline",
        "The provider accepted the task and it was polled, but it was not done in time. Raise the task deadline "
        "in Settings (high quality and 4K take longer); the read timeout does not limit a task.",
    ),
    ("timeout", "run_deadline"): (
        "The generation reached its run deadline",
        "The whole generation (every retry and fallback hop) has a deadline of its own: raise the run deadline "
        "in Settings, or allow fewer retries.",
    ),
    ("network", "connection_refused"): (
        "Nothing listens at that address",
        "The host answered but no server listens on that port. Check the port and scheme in the base URL "
        "(https is 443), and that the service (or the local sandbox) is running.",
    ),
    ("network", "dns_failure"): (
        "The host name does not resolve",
        "Check the spelling of the host in the base URL; if it is right, check this machine's DNS or network.",
    ),
    ("network", "tls_failure"): (
        "The secure connection could not be set up",
        "The TLS handshake failed: an http address spoken to as https (or the reverse), a certificate not trusted "
        "here (a corporate proxy), or a wrong port.",
    ),
    ("network", "host_unreachable"): (
        "The host cannot be reached",
        "There is no route from this machine to the host: check the network, VPN or firewall.",
    ),
    ("network", "connection_reset"): (
        "The connection was cut in the middle of the answer",
        "The provider or a proxy in between closed the connection before the answer was complete; it is sent "
        "again when retries are on. If it repeats on long generations, a proxy's idle timeout is the usual cause.",
    ),
    ("network", "proxy_error"): (
        "The proxy refused or failed the connection",
        "Check the proxy settings (HTTPS_PROXY / HTTP_PROXY) and that the proxy allows this host.",
    ),
    ("network", "stream_cut"): (
        "The stream was cut off before the final image",
        "The provider or a proxy in between closed the stream early; a proxy that buffers or times out "
        "server-sent events is the usual cause. Try again without streaming.",
    ),
    ("bad_response", "html_answer"): (
        "The address answered with a web page, not the API",
        "A 200 with an HTML page means the base URL points at a website or a sign-in page, not the API: use the "
        "API's base URL (usually ending in /v1).",
    ),
    ("endpoint_not_found", "redirect_login"): (
        "The address redirects to a sign-in page",
        "A proxy or gateway in front of the API asks to sign in: use the API's own base URL, or an address "
        "reachable without a browser login.",
    ),
}


def retry_note(err: ImageLabError, attempts: list[Any]) -> str:
    """What a card says about retries, from the run's attempts (never from the error type's policy alone)."""
    model = attempts[-1].model if attempts else None
    same = [a for a in attempts if getattr(a, "model", None) == model] if attempts else []
    retries = max(0, len(same) - 1)
    hops = len({getattr(a, "model", None) for a in attempts}) - 1 if attempts else 0
    parts = []
    if retries:
        parts.append(f"sent {len(same)} times ({retries} retr{'y' if retries == 1 else 'ies'})")
    elif not is_retryable(err):
        parts.append("not retried (it would fail the same way)")
    else:
        parts.append("not retried")
    if hops:
        parts.append(f"after {hops} fallback hop{'s' if hops > 1 else ''}")
    return ", ".join(parts)


# Which field an invalid_input names, and the checklist step of that field.
INPUT_PARAM_STEPS = {"api_key": 1, "base_url": 2, "model": 3}
TASK_TIMEOUT_CODES = ("task_deadline",)  # a task past its deadline: step 4, not 9


def checklist_step(error_type: str | None, *, code: str | None = None, param: str | None = None) -> int | None:
    """The checklist step of an error (DESIGN.md), or None for errors of no step
    (interrupted, app_error): the vocabulary's step, except
    invalid_input (the field that failed: key 1, base URL 2, model 3, anything
    else 6) and timeout (a task past its deadline 4, no answer in time 9).

    The one mapping: error cards, Diagnostics evidence and exports all ask here,
    for live errors and stored attempts alike (``attempts.error_param``)."""
    if not error_type:
        return None
    if error_type == "invalid_input":
        return INPUT_PARAM_STEPS.get(param or "", 6)
    if error_type == "timeout":
        return 4 if code in TASK_TIMEOUT_CODES else 9
    if error_type == "app_error" and code == LOCAL_WRITE_CODE:
        return 7  # decode and keep: files stored locally
    info = ERROR_INFO.get(error_type)
    return info.step if info else None


def step_of(err: ImageLabError) -> int | None:
    """``checklist_step`` of a live error."""
    return checklist_step(err.error_type, code=err.code, param=err.param)


def describe(err: ImageLabError) -> dict[str, Any]:
    """Everything an error card needs, in one dict (no Streamlit here)."""
    info = err.info
    step = step_of(err)
    if err.error_type == "app_error" and err.code == LOCAL_WRITE_CODE:
        info = ErrorInfo(info.error_type, LOCAL_WRITE_TITLE, False, step, info.step_name, LOCAL_WRITE_FIX)
    special = CODE_INFO.get((err.error_type, err.code or ""))
    if special is not None:
        info = ErrorInfo(info.error_type, special[0], info.retryable, info.step, info.step_name, special[1])
    if step != info.step:
        info = ErrorInfo(info.error_type, info.title, info.retryable, step, CHECKLIST_STEPS[step] if step else info.step_name, info.fix)
    return {
        "error_type": err.error_type,
        "title": info.title,
        "http_status": err.status,
        "provider_message": err.provider_message or err.message,
        "message": err.message,
        "code": err.code,
        "provider_code": err.provider_code,  # shown on cards as "code:": the provider's own, never a type
        "param": err.param,
        "fix": info.fix,
        "step": info.step,
        "step_name": info.step_name,
        "retryable": is_retryable(err),
        "retry_after_s": err.retry_after_s,
        "request_id": err.request_id,
    }
