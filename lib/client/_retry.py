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
from dataclasses import dataclass
from typing import Any

from lib import constants as C
from lib import errors as E

# Network failures that no other model on the same host can fix: no fallback walk.
UNREACHABLE_CODES = ("dns_failure", "tls_failure", "connection_refused", "host_unreachable")

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


# --------------------------------------------------------------------------
# The rate-limit budget a provider announces on every answer
#
# OpenAI: x-ratelimit-{limit,remaining,reset}-{requests,tokens}, resets as
# durations (``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``). Gateways also send the
# unsuffixed x-ratelimit-{limit,remaining,reset} (requests) or the IETF draft's
# ratelimit-{limit,remaining,reset}, resets in seconds, as a Unix time (seconds
# or milliseconds) or as a date. Every value is read leniently; an unreadable
# one is unknown, never zero.

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|μs|ms|h|m|s)", re.I)
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = re.compile(r"[-+]?(\d+(?:\.\d*)?|\.\d+)(e[-+]?\d+)?", re.I)
_EPOCH_S = 1e9  # a "reset" this large is a Unix time (2001 on), not a wait
_EPOCH_MS = 1e12
_MAX_COUNT = 10**15  # remaining / limit figures larger than this are read as this (they fit a SQLite integer)


def duration_seconds(text: str | None, *, now: float | None = None) -> float | None:
    """Seconds until a rate-limit budget resets, from any of the forms providers send:
    a Go-style duration (``6m0s``, ``20ms``, ``1h2m3.5s``), a number of seconds, a Unix
    time in seconds or milliseconds, or an HTTP / ISO date. None when unreadable.

    Like ``retry_after_seconds`` this is the provider's value, kept (at most
    RETRY_AFTER_UNBOUNDED_S); how long is waited for it is ``cooldown_seconds``'s cap."""
    if text is None:
        return None
    raw = str(text).strip().strip('"')[:100]
    if not raw:
        return None
    compact = raw.replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if parts and "".join(n + u for n, u in parts).lower() == compact.lower():
        return min(sum(float(n) * _UNIT_S[u.lower()] for n, u in parts), RETRY_AFTER_UNBOUNDED_S)
    current = time.time() if now is None else now
    if _NUMBER.fullmatch(raw) or re.fullmatch(r"inf(inity)?|nan", raw, re.I):
        value = _seconds(raw, 1.0)
        if value is None:
            return None
        exact = float(raw) if _NUMBER.fullmatch(raw) else value
        if _EPOCH_MS <= exact < _EPOCH_MS * 100:  # a Unix time in milliseconds
            return max(0.0, exact / 1000 - current)
        if _EPOCH_S <= exact < RETRY_AFTER_UNBOUNDED_S:  # ...or in seconds
            return max(0.0, exact - current)
        return value
    for parse in (email.utils.parsedate_to_datetime, _iso_date):
        try:
            parsed = parse(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if parsed is not None:
            try:
                return min(max(0.0, parsed.timestamp() - current), RETRY_AFTER_UNBOUNDED_S)
            except (OverflowError, ValueError, OSError):
                return None
    return None


def _iso_date(raw: str):
    import datetime as dt

    parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _count(text: str | None) -> int | None:
    """A remaining or limit figure: the first number of the value (``"59"``, ``"59.0"``,
    ``"100, 100;w=60"``); None when there is none or it is negative."""
    if text is None:
        return None
    match = _NUMBER.search(str(text)[:100])
    if match is None:
        return None
    try:
        value = float(match.group(0))
    except (ValueError, OverflowError):
        return None
    if value != value or value < 0:
        return None
    return int(min(value, _MAX_COUNT))


@dataclass(frozen=True)
class RateBudget:
    """What the provider announced it still allows, as of one answer."""

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    limit_requests: int | None = None
    limit_tokens: int | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None

    @property
    def announced(self) -> bool:
        return self.remaining_requests is not None or self.remaining_tokens is not None

    @property
    def spent(self) -> bool:
        """Nothing left of one of the budgets: the next request would meet a 429."""
        return self.remaining_requests == 0 or self.remaining_tokens == 0

    def _share(self, remaining: int | None, limit: int | None) -> float | None:
        if remaining is None:
            return None
        if limit:
            return remaining / limit
        return 0.0 if remaining <= C.RATE_BUDGET_LOW_REMAINING else 1.0

    @property
    def low(self) -> bool:
        """Nearly spent: under ``C.RATE_BUDGET_LOW_FRACTION`` of the limit (or a few requests when no limit is said)."""
        shares = [x for x in (self._share(self.remaining_requests, self.limit_requests),) if x is not None]
        if self.remaining_tokens is not None and self.limit_tokens:
            shares.append(self.remaining_tokens / self.limit_tokens)
        return self.spent or any(x < C.RATE_BUDGET_LOW_FRACTION for x in shares)

    @property
    def reset_s(self) -> float | None:
        """When the budget that matters resets: the latest of the spent ones, else the scarcer one's."""
        pairs = [
            (self.remaining_requests, self.limit_requests, self.reset_requests_s),
            (self.remaining_tokens, self.limit_tokens, self.reset_tokens_s),
        ]
        spent = [reset for remaining, _, reset in pairs if remaining == 0 and reset is not None]
        if spent:
            return max(spent)
        known = [(self._share(r, lim) if r is not None else 2.0, reset) for r, lim, reset in pairs if reset is not None]
        return min(known, key=lambda pair: pair[0])[1] if known else None

    @property
    def remaining(self) -> int | None:
        """The requests left before the budget that is lower runs out (requests, else tokens' count)."""
        return self.remaining_requests if self.remaining_requests is not None else self.remaining_tokens

    def fields(self) -> dict[str, Any]:
        """The attempt's columns for it (``m011_rate_budget``)."""
        reset = self.reset_s
        return {
            "ratelimit_remaining_requests": self.remaining_requests,
            "ratelimit_remaining_tokens": self.remaining_tokens,
            "ratelimit_limit_requests": self.limit_requests,
            "ratelimit_limit_tokens": self.limit_tokens,
            "ratelimit_reset_s": round(reset, 3) if reset is not None else None,
        }

    def describe(self) -> str:
        """In words, for a progress line and Diagnostics."""
        parts = []
        if self.remaining_requests is not None:
            parts.append(f"{self.remaining_requests:,}" + (f" of {self.limit_requests:,}" if self.limit_requests else "") + " request(s)")
        if self.remaining_tokens is not None:
            parts.append(f"{self.remaining_tokens:,}" + (f" of {self.limit_tokens:,}" if self.limit_tokens else "") + " token(s)")
        reset = self.reset_s
        text = " and ".join(parts) + " left"
        return text + (f", resetting in {wait_text(reset) if reset >= 10 else f'{reset:.1f} s'}" if reset is not None else "")


def rate_budget(headers: Mapping[str, str] | None, *, now: float | None = None) -> RateBudget:
    """The budget announced in an answer's headers (every field None when none was)."""
    if not headers:
        return RateBudget()
    lower = {str(k).lower(): v for k, v in headers.items()}

    def first(*names: str) -> str | None:
        for name in names:
            if name in lower:
                return lower[name]
        return None

    return RateBudget(
        remaining_requests=_count(first("x-ratelimit-remaining-requests", "x-ratelimit-remaining", "ratelimit-remaining")),
        remaining_tokens=_count(first("x-ratelimit-remaining-tokens")),
        limit_requests=_count(first("x-ratelimit-limit-requests", "x-ratelimit-limit", "ratelimit-limit")),
        limit_tokens=_count(first("x-ratelimit-limit-tokens")),
        reset_requests_s=duration_seconds(first("x-ratelimit-reset-requests", "x-ratelimit-reset", "ratelimit-reset"), now=now),
        reset_tokens_s=duration_seconds(first("x-ratelimit-reset-tokens"), now=now),
    )


def budget_waits(budget: RateBudget) -> tuple[float, float]:
    """(hold, gap) for the shared limiter: hold every request for ``hold`` seconds (the
    budget is spent: until its reset), or space them ``gap`` seconds apart (nearly spent:
    what is left spread over the time to the reset). A reset over the cap is not waited
    for, as a Retry-After over it is not (``cooldown_seconds``): the provider's 429 then
    says what it wants. (0, 0) when the budget is comfortable or unknown."""
    if not budget.announced or not budget.low:
        return 0.0, 0.0
    reset = budget.reset_s
    if budget.spent:
        return cooldown_seconds(reset), 0.0
    if reset is None or over_cap(reset):
        return 0.0, 0.0
    return 0.0, reset / ((budget.remaining or 0) + 1)
