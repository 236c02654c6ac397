"""The error vocabulary of Image Prompt Lab, and the classifier that maps
whatever a provider (or the network) did onto it.

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

Conversion happens at the boundary (``lib/client.py``) with
``raise classify_exception(err) from err``; nothing else in the app needs to
know what httpx raises.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from lib import redact

# --------------------------------------------------------------------------
# The vocabulary


@dataclass(frozen=True)
class ErrorInfo:
    error_type: str
    title: str  # the error in plain words, for a card heading
    retryable: bool
    step: int | None  # checklist step (see lib/diagnostics.py); None: no step
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
            step=None,
            step_name="Provider",
            fix=(
                "Usually temporary: the app retries on its own. If it persists, check the "
                "provider's status page or fall back to another model."
            ),
        ),
        _info(
            error_type="timeout",
            title="No answer before the timeout",
            retryable=True,
            step=9,
            fix=(
                "Image models can take two minutes or more: raise the read timeout to at least "
                "120 s (240 s for high quality or large sizes). For async gateways, make sure the "
                "task is polled."
            ),
        ),
        _info(
            error_type="network",
            title="The connection failed",
            retryable=True,
            step=2,
            fix=(
                "Check the host name, your network or proxy, and TLS settings. A reset in the "
                "middle of an answer usually means a proxy in between gave up."
            ),
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


# --------------------------------------------------------------------------
# Retry-After


RETRY_AFTER_UNBOUNDED_S = 1e10  # what an infinite or overflowing Retry-After is recorded as (~300 years)


def _seconds(text: str, scale: float = 1.0) -> float | None:
    """A non-negative number of seconds from a header value; None when unreadable.
    Infinite or overflowing values become RETRY_AFTER_UNBOUNDED_S (never inf or nan)."""
    try:
        value = float(text.strip()) * scale
    except (ValueError, OverflowError):
        return None
    if math.isnan(value) or value < 0:
        return None
    return min(value, RETRY_AFTER_UNBOUNDED_S)


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the provider asked us to wait, from ``retry-after-ms`` or
    ``retry-after`` (seconds or an HTTP date). None when absent or unreadable.

    This is the provider's value, parsed safely (huge, infinite or far-future
    values are kept, at most RETRY_AFTER_UNBOUNDED_S); the client caps what it
    actually waits at ``C.MAX_RETRY_AFTER_S`` and fails the attempt as
    ``rate_limited`` when asked for more."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms is not None:
        value = _seconds(str(raw_ms), 0.001)
        if value is not None:
            return value
    raw = lower.get("retry-after")
    if raw is None:
        return None
    raw = str(raw).strip()
    value = _seconds(raw)
    if value is not None or re.fullmatch(r"[-+0-9.eE]+|inf(inity)?|nan", raw, re.I):
        return value
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
        if parsed is None:
            return None
        current = time.time() if now is None else now
        return min(max(0.0, parsed.timestamp() - current), RETRY_AFTER_UNBOUNDED_S)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --------------------------------------------------------------------------
# Reading error bodies


@dataclass
class ErrorFields:
    message: str | None = None
    code: str | None = None
    type: str | None = None
    param: str | None = None
    is_json: bool = False
    is_html: bool = False


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    try:
        return redact.scrub(json.dumps(value, ensure_ascii=False), limit=500)
    except (TypeError, ValueError):
        return redact.scrub(str(value), limit=500)


def _fields_from_obj(obj: Any, out: ErrorFields) -> None:
    """Fill ``out`` from the many error shapes seen in the wild."""
    if isinstance(obj, list):
        if obj:
            _fields_from_obj(obj[0], out)
        return
    if isinstance(obj, str):
        out.message = out.message or obj
        return
    if not isinstance(obj, dict):
        return
    inner = obj.get("error")
    if isinstance(inner, (dict, list)):
        _fields_from_obj(inner, out)
    elif isinstance(inner, str):
        # {"error": "content_policy_violation"} or {"error": "Invalid key"}
        if re.fullmatch(r"[a-z0-9_.\-]+", inner):
            out.code = out.code or inner
        out.message = out.message or inner
    if isinstance(obj.get("errors"), list):
        _fields_from_obj(obj["errors"], out)
    data = obj.get("data")
    if isinstance(data, dict) and ("error" in data or "message" in data):
        _fields_from_obj(data, out)
    for key in ("message", "msg", "detail", "error_description", "error_message", "reason"):
        if out.message is None and obj.get(key) is not None:
            value = obj[key]
            if isinstance(value, dict):
                _fields_from_obj(value, out)
            else:
                out.message = _as_text(value)
    for key in ("code", "error_code"):
        if out.code is None and obj.get(key) not in (None, "", 0):
            out.code = _as_text(obj[key])
    if out.type is None and isinstance(obj.get("type"), str):
        out.type = obj["type"]
    if out.param is None and obj.get("param") is not None:
        out.param = _as_text(obj["param"])


_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


def _html_summary(text: str) -> str:
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    if title and title.group(1).strip():
        return redact.scrub(_WS.sub(" ", title.group(1)).strip(), limit=200)
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.I | re.S)
    if h1:
        return redact.scrub(_WS.sub(" ", _TAG.sub("", h1.group(1))).strip(), limit=200)
    return redact.scrub(_WS.sub(" ", _TAG.sub(" ", text)).strip(), limit=200)


def read_error_fields(body: bytes | str | None, content_type: str | None = None) -> ErrorFields:
    out = ErrorFields()
    if body is None:
        return out
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
    else:
        text = body
    stripped = text.strip()
    if not stripped:
        return out
    ctype = (content_type or "").lower()
    if stripped.startswith(("{", "[")) or "json" in ctype:
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if obj is not None:
            out.is_json = True
            _fields_from_obj(obj, out)
            if out.message is None and out.code is None:
                out.message = redact.scrub(stripped, limit=300)
            return out
    if "html" in ctype or stripped[:200].lower().lstrip().startswith(("<!doctype", "<html", "<head", "<body", "<center", "<h1")):
        out.is_html = True
        out.message = _html_summary(stripped)
        return out
    out.message = redact.scrub(stripped, limit=300)
    return out


# --------------------------------------------------------------------------
# Classification

_POLICY_WORDS = (
    "moderation_blocked",
    "content_policy",
    "content policy",
    "safety system",
    "safety_violation",
    "content_filter",
    "content filter",
    "contentfilter",
    "responsibleaipolicyviolation",
    "content management policy",
    "sensitive content",
    "nsfw",
    "image_generation_user_error",
    "responsible ai",
)
_QUOTA_WORDS = (
    "insufficient_quota",
    "exceeded your current quota",
    "quota exceeded",
    "quota_exceeded",
    "billing_hard_limit",
    "billing hard limit",
    "insufficient_balance",
    "insufficient balance",
    "insufficient credit",
    "not enough credit",
    "out of credit",
    "credit balance",
    "balance is not enough",
    "payment required",
    "余额不足",
    "额度",
)
_MODEL_WORDS = (
    "model_not_found",
    "invalid_model",
    "unknown model",
    "model not found",
    "model does not exist",
    "no such model",
    "unsupported model",
    "model is not supported",
    "model not supported",
    "not support model",
    "invalid model",
    "no available channel",
    "无可用渠道",
)
_AUTH_WORDS = (
    "invalid_api_key",
    "incorrect api key",
    "invalid api key",
    "invalid_authentication",
    "api key not valid",
    "missing bearer",
    "no api key",
    "unauthorized",
    "invalid token",
    "token is invalid",
    "authentication",
    "无效的令牌",
)
_PERMISSION_WORDS = (
    "must be verified",
    "organization_verification",
    "not have access",
    "permission",
    "forbidden",
    "not allowed",
)
_RATE_WORDS = ("rate_limit", "rate limit", "too many requests", "requests per")
_ENDPOINT_WORDS = ("invalid url", "unknown url", "no route", "route not found", "not found")
_OVERLOAD_WORDS = ("overloaded", "server_error", "internal error", "temporarily unavailable", "try again later")


# Azure OpenAI content filters: the inner error and the per-category results.
_POLICY_MARKERS = ("responsibleaipolicyviolation", "content_filter_result", '"contentfilter"', "content management policy")
_MODEL_CODES = ("model_not_found", "invalid_model", "model_not_available", "model_not_supported")
_QUOTA_RE = re.compile(
    r"insufficient[ _-]*(?:user[ _-]*|account[ _-]*)?(?:quota|balance|credits?|funds)"
    r"|(?:quota|credits?|balance)[ _-]*(?:exceeded|exhausted|used up|depleted|too low)"
    r"|not enough (?:credits?|balance|quota|funds)"
    r"|balance is (?:not enough|insufficient|too low)"
    r"|余额不足|额度不足|额度已用尽|余额|额度|残高不足"
)


def _is_quota(text: str) -> bool:
    return _has(text, _QUOTA_WORDS) or bool(_QUOTA_RE.search(text))


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(w in text for w in words)


def _mentions_model(fields: ErrorFields, text: str) -> bool:
    if (fields.param or "").lower() in ("model", "model_id", "modelid"):
        return True
    if _has(text, _MODEL_WORDS):
        return True
    # "The model `gpt-image2` does not exist or you do not have access to it."
    return bool(re.search(r"\bmodel\b[^.]{0,80}\b(does not exist|not (be )?found|unavailable|unknown)", text))


def classify_response(
    status: int,
    body: bytes | str | None,
    *,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
) -> ImageLabError:
    """Classify an HTTP answer the caller has already judged to be an error
    (a status >= 400, or a 2xx with nothing usable). Never raises."""
    headers = headers or {}
    lower_headers = {k.lower(): v for k, v in headers.items()}
    ctype = lower_headers.get("content-type", "")
    request_id = lower_headers.get("x-request-id") or lower_headers.get("request-id") or lower_headers.get("cf-ray")
    f = read_error_fields(body, ctype)
    text = " ".join(x for x in (f.code, f.type, f.param, f.message) if x).lower()
    raw_lower = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body or "")[:20_000].lower()
    real_status = status
    if 200 <= status < 300 and f.code and f.code.strip().lstrip("-").isdigit() and 400 <= int(f.code) < 600:
        # A gateway's own envelope in a 200 ({"code": 429, "msg": ...}): read it by the code it reports.
        status = int(f.code)
    provider_message = f.message
    retry_after = retry_after_seconds(lower_headers, now=now)

    def build(error_type: str, summary: str) -> ImageLabError:
        detail = provider_message or f"HTTP {status} with an empty body"
        return make_error(
            error_type,
            f"{summary}: {detail}" if summary else detail,
            status=real_status,
            code=f.code or f.type,
            param=f.param,
            request_id=request_id,
            retry_after_s=retry_after,
            provider_message=provider_message,
            provider_code=f.code,
            raw=redact.scrub(body.decode("utf-8", "replace") if isinstance(body, bytes) else body or "", limit=2000),
        )

    # Strong signals in the body win over the status code.
    if (
        _has(text, _POLICY_WORDS)
        or _has(raw_lower, _POLICY_MARKERS)
        or (f.code or "").lower() in ("content_policy_violation", "moderation_blocked")
    ):
        return build("content_policy", "Blocked by the safety system")
    if status == 402 or _is_quota(text):
        return build("quota_exceeded", "Quota or credits exhausted")
    if status in (400, 403, 404, 422) and _mentions_model(f, text):
        return build("model_not_found", "Model not available")
    if (f.code or "").lower() in _MODEL_CODES:
        # one-api / new-api answer 503 (or 403) with code model_not_found: the code is right, the status is not.
        return build("model_not_found", "Model not available")
    if status == 429:
        return build("rate_limited", "Rate limited")
    if status == 401 or (status == 403 and _has(text, _AUTH_WORDS) and not _has(text, _PERMISSION_WORDS)):
        return build("auth", "Key rejected")
    if status == 403:
        return build("permission", "Access denied")
    if status in (404, 405):
        return build("endpoint_not_found", "No such endpoint")
    if status == 408:
        return build("timeout", "The provider timed out")
    if status in (400, 409, 413, 415, 422) or 400 <= status < 500:
        if status == 409:
            return build("server_error", "Conflict (a transient lock on the provider's side)")
        if _has(text, _AUTH_WORDS) and "invalid_api_key" in text:
            return build("auth", "Key rejected")
        return build("bad_request", "Parameters rejected")
    if status >= 500:
        return build("server_error", "Server error" if not f.is_html else "Gateway error page")
    # A 2xx/3xx the caller could not use. Some gateways answer 200 with an
    # error object: read it as the error it reports, keeping the real status.
    if f.is_html:
        return build("bad_response", "An HTML page instead of JSON")
    if f.is_json and (f.code or f.type or f.param or f.message):
        if _mentions_model(f, text):
            return build("model_not_found", "Model not available (reported in a success answer)")
        if _has(text, _AUTH_WORDS):
            return build("auth", "Key rejected (reported in a success answer)")
        if _has(text, _RATE_WORDS):
            return build("rate_limited", "Rate limited (reported in a success answer)")
        if _has(text, _OVERLOAD_WORDS):
            return build("server_error", "Server error reported in a success answer")
        if f.param:
            return build("bad_request", "Parameters rejected (reported in a success answer)")
    return build("bad_response", "No usable image in the answer")


def classify_task_failure(error: Any, *, task_id: str | None = None, status: int | None = None) -> ImageLabError:
    """An async task that ended as ``failed``: policy blocks are content_policy,
    a provider that ran out of quota is quota_exceeded, anything else task_failed."""
    f = ErrorFields()
    if isinstance(error, dict) and isinstance(error.get("data"), dict) and "error" not in error:
        error = error["data"]  # {"data": {"status": "failed", ...}}: the task is inside
    if isinstance(error, dict):
        # A whole task answer: read its error (object or string), or its reason fields.
        reason = {
            k: error[k]
            for k in ("error", "message", "msg", "reason", "error_message", "code", "error_code")
            if error.get(k) not in (None, "")
        }
        for key in ("fail_reason", "failure_reason", "failed_reason"):
            if error.get(key) not in (None, "") and "message" not in reason:
                reason["message"] = error[key]
        _fields_from_obj(reason if reason else {"error": error.get("status") or "failed"}, f)
    else:
        _fields_from_obj({"error": error}, f)
    text = " ".join(x for x in (f.code, f.type, f.message) if x).lower()
    detail = f.message or f.code or "no reason given"
    common = dict(status=status, code=f.code or f.type, param=f.param, provider_message=f.message, request_id=task_id, provider_code=f.code)
    if _has(text, _POLICY_WORDS) or "policy" in text or "safety" in text:
        return ContentPolicy(f"The task was blocked by the safety system: {detail}", **common)
    if _is_quota(text):
        return QuotaExceeded(f"The task failed for lack of credits: {detail}", **common)
    if _mentions_model(f, text):
        return ModelNotFound(f"The task failed because of the model: {detail}", **common)
    return TaskFailed(f"The provider's task failed: {detail}", **common)


# Network failures that no other model on the same host can fix: no fallback walk.
UNREACHABLE_CODES = ("dns_failure", "tls_failure", "connection_refused")


def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify_exception(exc: BaseException) -> ImageLabError:
    """Map a transport (or any unexpected) exception onto the vocabulary."""
    if isinstance(exc, ImageLabError):
        return exc
    text = " ".join(str(e) for e in _exception_chain(exc)).lower()
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        phase = {
            "ConnectTimeout": "connecting",
            "ReadTimeout": "waiting for the answer",
            "WriteTimeout": "sending the request",
            "PoolTimeout": "waiting for a free connection",
        }.get(name, "waiting")
        return Timeout(f"Timed out while {phase} ({name}).", code=name)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return InvalidInput(f"The endpoint URL cannot be used: {exc}", code=name, param="base_url")
    if isinstance(exc, httpx.ConnectError):
        code = name
        if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text or "name resolution" in text:
            why, code = "the host name could not be resolved (DNS)", "dns_failure"
        elif "certificate" in text or "ssl" in text or "tls" in text:
            why, code = "the TLS handshake failed", "tls_failure"
        elif "refused" in text:
            why, code = "the connection was refused (nothing listens on that port)", "connection_refused"
        else:
            why = "could not connect"
        return NetworkError(f"Network error: {why}. ({exc})", code=code)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
        return NetworkError(f"The connection dropped in the middle of the answer ({name}: {exc}).", code=name)
    if isinstance(exc, httpx.TransportError):
        return NetworkError(f"Network error ({name}: {exc}).", code=name)
    if isinstance(exc, (TimeoutError,)):
        return Timeout(f"Timed out ({exc}).", code=name)
    if isinstance(exc, (ConnectionError, OSError)):
        return NetworkError(f"Network error ({name}: {exc}).", code=name)
    if isinstance(exc, json.JSONDecodeError):
        return BadResponse(f"The answer is not valid JSON ({exc}).", code="invalid_json")
    # Not the provider's fault and not the network's: a bug of Image Prompt Lab.
    return AppError(f"Image Prompt Lab failed while handling this request ({name}: {exc}).", code=name)


INPUT_PARAM_STEPS = {"api_key": 1, "base_url": 2, "model": 3}
TASK_TIMEOUT_CODES = ("task_deadline",)  # a task past its deadline: step 4, not 9


def checklist_step(error_type: str, *, code: str | None = None, param: str | None = None) -> int | None:
    """DESIGN.md's step for an error: the vocabulary's step, except invalid_input
    (the field that failed: key 1, base URL 2, model 3, anything else 6) and
    timeout (a task past its deadline 4, no answer in time 9)."""
    if error_type == "invalid_input":
        return INPUT_PARAM_STEPS.get(param or "", 6)
    if error_type == "timeout":
        return 4 if code in TASK_TIMEOUT_CODES else 9
    info = ERROR_INFO.get(error_type)
    return info.step if info else None


def describe(err: ImageLabError) -> dict[str, Any]:
    """Everything an error card needs, in one dict (no Streamlit here)."""
    info = err.info
    step = checklist_step(err.error_type, code=err.code, param=err.param)
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
