"""One redaction function for everything a provider or a user can make us keep.

Every API key the process learns about is registered here (in memory only,
never written). ``scrub`` masks, in any text:

- any run of ``REDACT_MIN_FRAGMENT`` or more characters of a registered key,
  in any letter case (a provider that echoes the key minus one character, or
  upper-cased, is still caught);
- anything shaped like a well-known secret (``sk-...``, ``Bearer ...``), even
  when it is not one of ours;
- the query string of URLs that carry credentials (``token=``, ``signature=``,
  ``key=``, ``X-Amz-*``, ...).

It masks first and cuts after, so cutting a long text never leaves a prefix
of a key behind. Values that are stored, logged, shown or printed go through
``scrub`` (strings) or ``scrub_obj`` (JSON-like values).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from lib import constants as C

MASK = "••••"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_lock = threading.Lock()
_secrets: set[str] = set()  # lower-cased
_grams: set[str] = set()  # every REDACT_MIN_FRAGMENT-long piece of every secret, lower-cased
_max_len = 0

# Secrets we mask on sight, ours or not.
_GENERIC = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:sk|rk|pk)-(?:proj-|svcacct-|ant-)?[A-Za-z0-9_\-]{16,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{12,}"
)
_URL = re.compile(r"""(?i)\b(?:https?:)?//[^\s"'<>`\\]+""")
_CREDENTIAL_PARAM = re.compile(
    r"(?i)^(?:x-amz-.*|x-goog-.*|.*token.*|.*signature.*|sig|se|sp|sv|skoid|sktid|.*key.*|.*secret.*|.*auth.*|"
    r"credential|.*password.*|expires|policy|key-pair-id|ossaccesskeyid)$"
)


def register(secret: str | None) -> None:
    """Remember a secret so that ``scrub`` masks it (and its fragments) from now on."""
    if not secret:
        return
    value = secret.strip().translate(_ASCII_LOWER)
    n = C.REDACT_MIN_FRAGMENT
    if len(value) < n:
        return
    global _max_len
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _grams.update(value[i : i + n] for i in range(len(value) - n + 1))
        _max_len = max(_max_len, len(value))


def _mask_fragments(text: str, extra: Iterable[str] = ()) -> str:
    n = C.REDACT_MIN_FRAGMENT
    grams = _grams
    extra_grams: set[str] = set()
    for secret in extra:
        s = (secret or "").strip().translate(_ASCII_LOWER)
        extra_grams.update(s[i : i + n] for i in range(len(s) - n + 1))
    if (not grams and not extra_grams) or len(text) < n:
        return text
    low = text.translate(_ASCII_LOWER)
    spans: list[list[int]] = []
    for i in range(len(low) - n + 1):
        gram = low[i : i + n]
        if gram in grams or gram in extra_grams:
            if spans and i <= spans[-1][1]:
                spans[-1][1] = i + n
            else:
                spans.append([i, i + n])
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def strip_query(url: str) -> str:
    """The URL without its query string when that query carries credentials
    (a signed or tokenised link); other URLs are returned unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    names = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True)] or [parts.query]
    if any(_CREDENTIAL_PARAM.match(name) for name in names):
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + "?" + MASK
    return url


def scrub(value: Any, *, limit: int | None = None, extra: Iterable[str] = ()) -> Any:
    """Mask every secret in a text, then cut it to ``limit`` characters.

    Non-strings (None, numbers) are returned as they are."""
    if not isinstance(value, str) or not value:
        return value
    text = value
    if limit is not None:
        # Mask a margin beyond the cut too, so a key straddling the cut is masked whole.
        text = text[: limit + max(_max_len, 256)]
    text = _GENERIC.sub(MASK, text)
    text = _URL.sub(lambda m: strip_query(m.group(0)), text)
    text = _mask_fragments(text, extra)
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text


def scrub_obj(obj: Any, *, extra: Iterable[str] = ()) -> Any:
    """``scrub`` applied to every string (keys included) of a JSON-like value."""
    extra = tuple(extra)
    if isinstance(obj, str):
        return scrub(obj, extra=extra)
    if isinstance(obj, dict):
        return {scrub(str(k), extra=extra): scrub_obj(v, extra=extra) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_obj(v, extra=extra) for v in obj]
    return obj


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs every record's message (and its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep it, scrubbed
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
