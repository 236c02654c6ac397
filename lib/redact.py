"""One redaction function for everything a provider or a user can make us keep.

Every API key the process learns about is registered here (in memory only,
never written). ``scrub`` masks, in any text:

- any run of ``REDACT_MIN_FRAGMENT`` or more characters of a registered key,
  in any letter case (a provider that echoes the key minus one character, or
  upper-cased, is still caught);
- anything shaped like a well-known secret (``sk-...``, ``Bearer ...``), even
  when it is not one of ours;
- the query string of URLs that carry credentials (``token=``, ``signature=``,
  ``key=``, ``X-Amz-*``, ...);
- the user name and password in a URL (``https://user:pass@host``, also without a scheme).

It masks first and cuts after, so cutting a long text never leaves a prefix
of a key behind. Values that are stored, logged, shown or printed go through
``scrub`` (strings) or ``scrub_obj`` (JSON-like values).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from lib import constants as C

MASK = "••••"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_KEYLIKE = re.compile(r"[!-~]+")  # printable ASCII, no whitespace
_IMAGE_GRAM = re.compile(r"[a-z0-9_\-]{8,}")  # fragments looked for in binary files: key characters only
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
    if not isinstance(secret, str) or not secret:
        return
    value = secret.strip().translate(_ASCII_LOWER)
    n = C.REDACT_MIN_FRAGMENT
    if len(value) < n or not _KEYLIKE.fullmatch(value):
        return  # API keys are printable ASCII without spaces; anything else is refused before sending
    global _max_len, _pattern
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        # A fragment of fewer than 3 distinct characters ("kkkkkkkk") is not a secret's
        # fingerprint: it would mask ordinary text and flag ordinary image bytes.
        _grams.update(g for g in (value[i : i + n] for i in range(len(value) - n + 1)) if len(set(g)) >= C.REDACT_MIN_DISTINCT)
        _max_len = max(_max_len, len(value))
        _pattern = _compile(_grams)


_pattern: re.Pattern[str] | None = None


def _compile(grams: Iterable[str]) -> re.Pattern[str] | None:
    """One regex finding, in any case, every position where a fragment starts
    (a lookahead, so overlapping fragments are all found)."""
    grams = sorted(set(grams))
    if not grams:
        return None
    return re.compile("(?=(" + "|".join(re.escape(g) for g in grams) + "))", re.IGNORECASE)


def _mask_fragments(text: str, extra: Iterable[str] = ()) -> str:
    n = C.REDACT_MIN_FRAGMENT
    extra_grams: set[str] = set()
    for secret in extra:
        s = (secret or "").strip().translate(_ASCII_LOWER)
        extra_grams.update(s[i : i + n] for i in range(len(s) - n + 1))
    patterns = [p for p in (_pattern, _compile(extra_grams) if extra_grams else None) if p is not None]
    if not patterns or len(text) < n:
        return text
    starts = sorted({m.start() for p in patterns for m in p.finditer(text)})
    if not starts:
        return text
    spans: list[list[int]] = []
    for i in starts:
        if spans and i <= spans[-1][1]:
            spans[-1][1] = i + n
        else:
            spans.append([i, i + n])
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def contains_secret(data: bytes | str) -> bool:
    """True when ``data`` holds any ``REDACT_MIN_FRAGMENT``-long run of a
    registered secret, in any (ASCII) case: for bytes that cannot be masked
    in place, such as an image file a provider sent."""
    grams = list(_grams)
    if not grams or not data:
        return False
    if isinstance(data, str):
        low = data.translate(_ASCII_LOWER)
        return any(g in low for g in grams)
    low_bytes = data.translate(_ASCII_LOWER_BYTES)
    # Binary data is full of runs such as b"QQQQQQQQ" and gradients such as b"cdefghij":
    # a piece of a key that is a run or a steady sequence would match pixels, not a
    # hidden key. Real keys are random, so their other pieces still catch a key hidden
    # in a file.
    return any(g.encode("ascii") in low_bytes for g in grams if _IMAGE_GRAM.fullmatch(g) and _distinctive(g))


def _distinctive(gram: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in zip(gram, gram[1:], strict=False)}
    return len(set(gram)) >= C.REDACT_MIN_DISTINCT_IN_BINARY and len(steps) > 1


_ASCII_LOWER_BYTES = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def strip_query(url: str) -> str:
    """The URL fit to show or keep: its user name and password masked, and without its query
    string when that query carries credentials (a signed or tokenised link)."""
    url = mask_userinfo(url)
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


# user[:password]@ in a URL's authority (scheme://...@host or //...@host); the password may hold
# percent-escapes or even a raw '@' (the last '@' before the path ends the user part).
_USERINFO = re.compile(r"(?i)(?P<head>(?:\b[a-z][a-z0-9+.\-]*:)?//)(?P<userinfo>[^/?#\s\"'<>`\\]*@)(?=[^/?#\s@]*(?:[/?#\s\"'<>`]|$))")
# user:password@host with no scheme at all, as pasted into a base URL field
_BARE_USERINFO = re.compile(r"(?i)(?<![\w/.:@%\-])(?P<userinfo>[a-z0-9._~%+\-]+:[^\s@/\"'<>`]*@)(?=[a-z0-9\[])")


def mask_userinfo(text: str) -> str:
    """``text`` with the user name and password of every URL in it masked
    (``https://user:pass@host/v1`` -> ``https://••••@host/v1``)."""
    if not isinstance(text, str) or "@" not in text:
        return text
    text = _USERINFO.sub(lambda m: m.group("head") + MASK + "@", text)
    return _BARE_USERINFO.sub(MASK + "@", text)


def mask_url(url: str) -> str:
    """A text known to be one URL (a base URL as typed), fit to show: its user name and
    password masked even without a scheme (``user@host/v1``), then ``scrub``."""
    text = (url or "").strip()
    if "://" not in text and not text.startswith("//"):
        authority = re.split(r"[/?#]", text, maxsplit=1)[0]
        if "@" in authority:
            text = MASK + text[authority.rfind("@") :]
    return scrub(text)


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
    text = mask_userinfo(text)
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
        if record.exc_info and not record.exc_text:
            # Format the traceback now, so that its text (exception messages can
            # quote a provider's answer) is scrubbed before any handler writes it.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
