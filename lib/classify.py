"""Whatever a provider (or the network) did, mapped onto the error vocabulary.

``classify_response`` reads an HTTP answer judged to be an error: the status,
the body's code, type, param and message (in the many shapes gateways send),
and the content type; signals in the body win over the status (a 429 for
quota is ``quota_exceeded``, a 400 with ``param: model`` is
``model_not_found``, a 400 ``moderation_blocked`` is ``content_policy``).
``classify_task_failure`` reads an async task that ended ``failed``;
``classify_exception`` maps a transport (or any unexpected) exception. None of
them raises. How long a provider asked to wait is read by the client
(``lib.client.retry_after_seconds``) and handed in.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib import redact
from lib.errors import (
    LOCAL_WRITE_CODE,
    AppError,
    BadResponse,
    ContentPolicy,
    ImageLabError,
    InvalidInput,
    ModelNotFound,
    NetworkError,
    QuotaExceeded,
    TaskFailed,
    Timeout,
    make_error,
)

# --------------------------------------------------------------------------
# Reading JSON a provider sent: bounded

MAX_JSON_DEPTH = 64  # no answer of any provider nests deeper; 100,000 levels of '[' must not reach a recursive reader


def load_json(text: str | bytes) -> Any:
    """Parse an answer as JSON, bounded: ``ValueError`` for anything that is not JSON or
    nests deeper than ``MAX_JSON_DEPTH`` (the parser's own recursion limit included), so no
    reader after this one (classification, image fields, previews, redaction) can recurse too deep."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # iterative: a depth check must not itself recurse
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


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
    reported: bool = False  # the body itself names an error (a message or code field), not just text we quote


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
            obj = load_json(stripped)
        except ValueError:
            obj = None
        if obj is not None:
            out.is_json = True
            _fields_from_obj(obj, out)
            out.reported = out.message is not None or out.code is not None
            if not out.reported:
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
_BUSY_WORDS = ("busy", "maintenance", "service unavailable", "upstream error", "bad gateway", "系统繁忙", "服务繁忙")
_TIMEOUT_WORDS = ("timed out", "timeout", "time out", "超时")
_PARAM_WORDS = ("invalid param", "invalid_param", "parameter", "required", "must be", "invalid value", "参数")


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
    retry_after_s: float | None = None,
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
    if 200 <= status < 300 and f.code and f.code.strip().isdigit():
        # A gateway's own envelope in a 200 ({"code": 429, "msg": ...}): read it by the code it reports,
        # also a business code that extends one (40001, 42901, 500100: the status it starts with).
        number = f.code.strip()
        if 400 <= int(number) < 600:
            status = int(number)
        elif 5 <= len(number) <= 6 and 400 <= int(number[:3]) < 600:
            status = int(number[:3])
    provider_message = f.message

    def build(error_type: str, summary: str, code: str | None = None) -> ImageLabError:
        detail = provider_message or f"HTTP {status} with an empty body"
        return make_error(
            error_type,
            f"{summary}: {detail}" if summary else detail,
            status=real_status,
            code=f.code or f.type or code,
            param=f.param,
            request_id=request_id,
            retry_after_s=retry_after_s,
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
        if status not in (400, 413, 415, 422) and _has(text, _BUSY_WORDS):
            return build("server_error", "The provider is unavailable for now")  # e.g. KIE.ai's 455 for maintenance
        return build("bad_request", "Parameters rejected")
    if status >= 500:
        return build("server_error", "Server error" if not f.is_html else "Gateway error page")
    # A 2xx/3xx the caller could not use. Some gateways answer 200 with an
    # error object: read it as the error it reports, keeping the real status.
    if f.is_html:
        return build("bad_response", "An HTML page instead of JSON", "html_answer")
    if f.is_json and (f.code or f.type or f.param or f.message):
        if _mentions_model(f, text):
            return build("model_not_found", "Model not available (reported in a success answer)")
        if _has(text, _AUTH_WORDS):
            return build("auth", "Key rejected (reported in a success answer)")
        if _has(text, _RATE_WORDS):
            return build("rate_limited", "Rate limited (reported in a success answer)")
        if _has(text, _OVERLOAD_WORDS) or _has(text, _BUSY_WORDS):
            return build("server_error", "Server error reported in a success answer")
        if _has(text, _TIMEOUT_WORDS):
            return build("timeout", "The provider timed out (reported in a success answer)")
        if _has(text, _PERMISSION_WORDS):
            return build("permission", "Access denied (reported in a success answer)")
        if f.param or _has(text, _PARAM_WORDS):
            return build("bad_request", "Parameters rejected (reported in a success answer)")
        if f.reported:
            # An answer that says it failed ({"success": false, ...}, a non-zero code) in words we cannot place.
            return build("bad_request", "The provider refused the request (reported in a success answer)")
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
        for key in ("fail_reason", "failure_reason", "failed_reason", "failMsg", "fail_msg", "errorMessage", "error_msg", "errorMsg"):
            if error.get(key) not in (None, "") and "message" not in reason:
                reason["message"] = error[key]
        for key in ("failCode", "fail_code", "errorCode"):
            if error.get(key) not in (None, "") and "code" not in reason:
                reason["code"] = error[key]
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


def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


# A write on this machine that failed: what failed, in words, by errno or by SQLite's message.
_LOCAL_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "it is on a read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.EIO: "a disk input/output error",
    errno.ENOENT: "the directory does not exist (was it removed?)",
    errno.ENOTDIR: "part of the path is not a directory",
    errno.EFBIG: "the file would be too large",
    errno.EMFILE: "too many files are open",
}
_SQLITE_WORDS = (
    ("database or disk is full", "the disk is full"),
    ("disk is full", "the disk is full"),
    ("readonly database", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("disk i/o error", "a disk input/output error"),
    ("unable to open database", "the database file cannot be opened"),
    ("locked", "the database stayed locked by another process"),
)


def is_contention(exc: BaseException) -> bool:
    """Another connection holds the database for a moment (locked, busy): worth a wait and a replay,
    and no failure of the run. A full disk, a read-only file or an I/O error is not."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def is_local_failure(exc: BaseException) -> bool:
    """A failure of this machine (its disk, its database), not of the provider or the network."""
    if isinstance(exc, sqlite3.Error):
        return True
    if isinstance(exc, (ConnectionError, socket.gaierror, TimeoutError)) or not isinstance(exc, OSError):
        return False
    return exc.errno in _LOCAL_ERRNOS or exc.filename is not None


def local_failure(exc: BaseException, *, place: Any = None, doing: str = "writing its data") -> AppError:
    """A local write that failed, as ``app_error`` naming where and what (never the provider's fault:
    nothing is retried against it). ``place``: the data directory (or the file) that could not be written."""
    what = None
    if isinstance(exc, OSError) and exc.errno in _LOCAL_ERRNOS:
        what = _LOCAL_ERRNOS[exc.errno]
    elif isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        what = next((words for key, words in _SQLITE_WORDS if key in text), None)
    what = what or redact.scrub(f"{type(exc).__name__}: {exc}", limit=200)
    where = f"could not write to {place}" if place else "could not write its data"
    return AppError(f"Image Prompt Lab {where} while {doing}: {what}.", code=LOCAL_WRITE_CODE)


def _host_port(exc: BaseException) -> str:
    """host:port of the request an httpx exception belongs to ("the provider" when unknown)."""
    try:
        url = exc.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return "the provider"
    port = url.port or {"https": 443, "http": 80}.get(url.scheme, 0)
    return f"{url.host}:{port}" if url.host else "the provider"


def classify_exception(exc: BaseException) -> ImageLabError:
    """Map a transport (or any unexpected) exception onto the vocabulary."""
    if isinstance(exc, ImageLabError):
        return exc
    if is_local_failure(exc):
        return local_failure(exc)
    import httpx  # here, not at the top: the store reads this module's rules, and pages need no HTTP client

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
    where = _host_port(exc)
    if isinstance(exc, httpx.ProxyError) or "proxy" in text:
        return NetworkError(
            f"Network error: the proxy between this app and {where} refused or failed the connection ({name}: {exc}).", code="proxy_error"
        )
    if isinstance(exc, httpx.ConnectError):
        code = "connect_failed"
        if (
            "name or service not known" in text
            or "nodename nor servname" in text
            or "getaddrinfo" in text
            or "name resolution" in text
            or "no address associated" in text
        ):
            why, code = f"the host name of {where} could not be resolved (DNS): no such host, or no DNS", "dns_failure"
        elif "certificate" in text or "ssl" in text or "tls" in text:
            why, code = f"the TLS handshake with {where} failed (certificate or protocol)", "tls_failure"
        elif "refused" in text:
            why, code = f"nothing listens at {where}: the connection was refused", "connection_refused"
        elif "unreachable" in text:
            why, code = f"{where} cannot be reached from this machine (no route)", "host_unreachable"
        else:
            why = f"could not connect to {where}"
        return NetworkError(f"Network error: {why}. ({exc})", code=code)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
        return NetworkError(
            f"The connection to {where} was reset or closed in the middle of the exchange ({name}: {exc}).", code="connection_reset"
        )
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
