"""The retry policy: one place for backoff, Retry-After and the cap on waiting.

Three small functions and the loop in ``ImageClient.generate``:
``should_retry`` (is the error worth another attempt, and may we wait that
long), ``retry_delay`` (exponential backoff with jitter, or the provider's
Retry-After) and ``should_fall_back`` (move on to the next model). A
``Retry-After`` longer than ``C.MAX_RETRY_AFTER_S`` is never waited for:
not before a retry, not between task polls, not in the shared cooldown (so
not on a fallback hop either); the attempt fails as ``rate_limited`` instead,
naming the wait that was asked, and the run ends there: no retry and no
fallback hop either (each would meet the same wait or be charged for nothing).
``over_cap`` is that rule and ``cooldown_seconds`` the shared wait it allows;
``ProviderLimiter.cooldown`` cuts anything longer to the same cap.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import time
from collections.abc import Callable, Mapping

from lib import constants as C
from lib import errors as E

# Network failures that no other model on the same host can fix: no fallback walk.
UNREACHABLE_CODES = ("dns_failure", "tls_failure", "connection_refused")

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
    values are kept, at most RETRY_AFTER_UNBOUNDED_S), so a card can show what
    was asked; what is actually waited is decided by ``over_cap``."""
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


def over_cap(retry_after_s: float | None) -> bool:
    """The provider asked for a longer wait than this app is willing to block for."""
    return retry_after_s is not None and retry_after_s > C.MAX_RETRY_AFTER_S


def cooldown_seconds(retry_after_s: float | None) -> float:
    """How long the shared limiter holds a provider after a 429: the Retry-After
    when it was within the cap, ``C.COOLDOWN_AFTER_429_S`` when none was given,
    and nothing when it was over the cap (that attempt failed instead of waiting,
    and a fallback hop must not wait it out either)."""
    if retry_after_s is None or retry_after_s != retry_after_s or retry_after_s < 0:
        return C.COOLDOWN_AFTER_429_S
    return 0.0 if over_cap(retry_after_s) else retry_after_s


def wait_text(seconds: float) -> str:
    """A provider's requested wait, in words (days for absurd values, 'forever' for infinite)."""
    if seconds >= RETRY_AFTER_UNBOUNDED_S:
        return "forever (an infinite or unreadable wait)"
    if seconds >= 2 * 86400:
        return f"{seconds:,.0f} s (about {seconds / 86400:,.0f} days)"
    return f"{seconds:,.0f} s"


def note_over_cap(err: E.ImageLabError) -> None:
    """Say on the error that its Retry-After was over the cap, so it was not retried."""
    if over_cap(err.retry_after_s):
        assert err.retry_after_s is not None
        err.message = (
            f"{err.message} (The provider asked to wait {wait_text(err.retry_after_s)}; "
            f"this app waits at most {C.MAX_RETRY_AFTER_S:.0f} s, so the run stopped here: no retry and no fallback to another model.)"
        )


def should_retry(err: E.ImageLabError, retries_done: int, max_retries: int) -> bool:
    if retries_done >= max_retries or not E.is_retryable(err):
        return False
    return not over_cap(err.retry_after_s)


def retry_delay(retries_done: int, retry_after_s: float | None = None, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retries_done + 1``: the provider's
    Retry-After when it gave one within the cap, else backoff with jitter."""
    if retry_after_s is not None and retry_after_s >= 0 and not over_cap(retry_after_s):
        return retry_after_s
    base = min(C.INITIAL_RETRY_DELAY_S * (2**retries_done), C.MAX_RETRY_DELAY_S)
    return base * (1 - C.RETRY_JITTER_FRACTION * rand())


def should_fall_back(err: E.ImageLabError) -> bool:
    """Move to the next model: the model is unknown, or retries ran out on a
    retryable error. Not when the host itself cannot be reached (DNS, refused,
    TLS): another model on the same host would fail the same way. Not when the
    provider asked for a wait over the cap: the run fails at once, saying so."""
    if err.error_type == "network" and err.code in UNREACHABLE_CODES:
        return False
    if over_cap(err.retry_after_s):
        return False
    return err.error_type == "model_not_found" or E.is_retryable(err)
