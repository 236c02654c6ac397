"""Client-side limits shared by every call to one provider: a token bucket,
a concurrency cap and a cooldown after a 429, one registry per process."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from lib import constants as C
from lib.generation import ClientSettings



class ProviderLimiter:
    """A token bucket, a concurrency cap and a cooldown after a 429.

    After a 429 every request to the provider waits out the cooldown; then a
    single request goes first as a probe (the others wait for its answer). The
    bucket restarts empty and its rate is halved, then creeps back up to the
    configured rate with each success (additive increase, multiplicative
    decrease), so a burst of parallel requests settles at what the provider
    really allows instead of hitting it again all at once.
    """

    def __init__(
        self,
        *,
        rate_per_s: float = C.DEFAULT_RATE_PER_S,
        burst: int = C.DEFAULT_BURST,
        max_concurrency: int = C.DEFAULT_MAX_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate_per_s = max(rate_per_s, 0.001)
        self.effective_rate = self.rate_per_s
        self.burst = max(int(burst), 1)
        self.clock = clock
        self.sleep = sleep
        self._tokens = float(self.burst)
        self._last = clock()
        self._cooldown_until = 0.0
        self._half_open = False
        self._probe_out = False
        self._lock = threading.Lock()
        self._max_concurrency = max(int(max_concurrency), 1)
        self._slots = threading.BoundedSemaphore(self._max_concurrency)

    def configure(self, *, rate_per_s: float, burst: int) -> None:
        with self._lock:
            self.rate_per_s = max(rate_per_s, 0.001)
            self.effective_rate = min(self.effective_rate, self.rate_per_s)
            self.burst = max(int(burst), 1)
            self._tokens = min(self._tokens, self.burst)

    def cooldown(self, seconds: float) -> None:
        """Hold every request to this provider for ``seconds`` (after a 429), never
        longer than ``C.MAX_RETRY_AFTER_S``: one provider's absurd Retry-After must
        not block every generation to it for days."""
        seconds = min(seconds, C.MAX_RETRY_AFTER_S) if seconds == seconds else C.COOLDOWN_AFTER_429_S
        with self._lock:
            self._cooldown_until = max(self._cooldown_until, self.clock() + max(seconds, 0.0))
            self._half_open = True
            self._tokens = 0.0
            self.effective_rate = max(self.effective_rate * C.RATE_DECREASE_FACTOR, C.MIN_RATE_PER_S)

    def _take(self, on_wait: Callable[[str, float], None] | None) -> bool:
        """Wait for the right to send; True when this request is the probe."""
        while True:
            with self._lock:
                now = self.clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.effective_rate)
                self._last = now
                if self._cooldown_until > now:
                    wait, why = self._cooldown_until - now, "cooldown"
                elif self._half_open and self._probe_out:
                    wait, why = C.LIMITER_PROBE_WAIT_S, "probe"
                elif self._half_open:
                    self._probe_out = True
                    return True
                elif self._tokens >= 1:
                    self._tokens -= 1
                    return False
                else:
                    wait, why = (1 - self._tokens) / self.effective_rate, "rate"
            if on_wait:
                on_wait(why, wait)
            self.sleep(wait)

    def report(self, probe: bool, *, rate_limited: bool) -> None:
        """Tell the limiter how a request ended: a probe's answer closes or
        reopens the cooldown; every success lets the rate recover a step."""
        with self._lock:
            if probe:
                self._probe_out = False
                if not rate_limited:
                    self._half_open = False
            if not rate_limited:
                step = self.rate_per_s * C.RATE_RECOVERY_STEP
                self.effective_rate = min(self.rate_per_s, self.effective_rate + step)

    @contextmanager
    def slot(self, on_wait: Callable[[str, float], None] | None = None) -> Iterator[bool]:
        """Hold a concurrency slot and a token; yields True when this request is the probe."""
        if not self._slots.acquire(blocking=False):
            if on_wait:
                on_wait("concurrency", 0.0)
            self._slots.acquire()
        try:
            yield self._take(on_wait)
        finally:
            self._slots.release()


_LIMITERS: dict[tuple[str, str], ProviderLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(settings: ClientSettings) -> ProviderLimiter:
    """One limiter per (provider, host), shared by every client in this process."""
    key = (settings.provider, settings.endpoint.root)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None or limiter._max_concurrency != max(int(settings.max_concurrency), 1):
            limiter = ProviderLimiter(rate_per_s=settings.rate_per_s, burst=settings.burst, max_concurrency=settings.max_concurrency)
            _LIMITERS[key] = limiter
        else:
            limiter.configure(rate_per_s=settings.rate_per_s, burst=settings.burst)
        return limiter
