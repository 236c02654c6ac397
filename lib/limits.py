"""Client-side limits shared by every call to one provider: a token bucket,
a concurrency cap and a cooldown after a 429, one registry per process.

Waits do not poll: a request that has to wait sleeps on a condition variable
and is woken when a slot frees, the post-429 probe is answered, the settings
change, or its generation is cancelled (``CancelToken.on_cancel``). A request
that waits says so once per reason (``on_wait``), with its place in the queue.

The registry is passed in (``JobRunner(limiters=...)``, ``ImageClient(limiters=...)``):
tests and benchmarks get isolated limiters, the app has one per process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lib import constants as C
from lib import errors as E
from lib.generation import CancelToken, ClientSettings

# on_wait(why, seconds, ahead): why is cooldown | budget | rate | concurrency | probe;
# seconds the expected wait (0.0 when unknown); ahead how many wait before this one.
OnWait = Callable[[str, float, int], None]


class ProviderLimiter:
    """A token bucket, a concurrency cap and a cooldown after a 429.

    After a 429 every request to the provider waits out the cooldown; then a
    single request goes first as a probe (the others wait for its answer). The
    bucket restarts empty and its rate is halved, then creeps back up to the
    configured rate with each success (additive increase, multiplicative
    decrease), so a burst of parallel requests settles at what the provider
    really allows instead of hitting it again all at once.

    Before any 429, the budget the provider announces (``pace``) holds requests
    while it is spent and spaces them out while it is nearly spent.

    ``clock`` and ``sleep`` may be injected for tests: with ``sleep`` given,
    timed waits call it (a fake clock then moves) instead of waiting on the
    condition variable.
    """

    def __init__(
        self,
        *,
        rate_per_s: float = C.DEFAULT_RATE_PER_S,
        burst: int = C.DEFAULT_BURST,
        max_concurrency: int = C.DEFAULT_MAX_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
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
        self._cond = threading.Condition(self._lock)
        self._max_concurrency = max(int(max_concurrency), 1)
        self._active = 0
        self._queue: deque[object] = deque()  # tickets waiting for a concurrency slot, first come first served
        self.waits = 0  # waits that happened (benchmarks: events per wait)
        self._budget_until = 0.0  # the provider's announced budget is spent: hold until then
        self._budget_gap = 0.0  # ...nearly spent: requests go at least this far apart
        self._budget_next = 0.0  # the next request may go then
        self.budget_waits = 0  # requests held back for the announced budget

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

    def configure(self, *, rate_per_s: float, burst: int, max_concurrency: int | None = None) -> None:
        """New settings, same state: a running cooldown and the requests in flight are kept."""
        with self._cond:
            self.rate_per_s = max(rate_per_s, 0.001)
            self.effective_rate = min(self.effective_rate, self.rate_per_s)
            self.burst = max(int(burst), 1)
            self._tokens = min(self._tokens, self.burst)
            if max_concurrency is not None:
                self._max_concurrency = max(int(max_concurrency), 1)
            self._cond.notify_all()

    def cooldown(self, seconds: float) -> None:
        """Hold every request to this provider for ``seconds`` (after a 429; the
        client decides how long, ``lib.client.cooldown_seconds``), send one probe
        request after it, and halve the client's own rate. Never longer than the
        retry cap (``C.MAX_RETRY_AFTER_S``, the rule of ``lib.client._retry``):
        a longer wait asked for is cut to it, a negative or unreadable one is none."""
        seconds = min(max(seconds, 0.0), C.MAX_RETRY_AFTER_S) if seconds == seconds else 0.0
        with self._cond:
            self._cooldown_until = max(self._cooldown_until, self.clock() + max(seconds, 0.0))
            self._half_open = True
            self._tokens = 0.0
            self.effective_rate = max(self.effective_rate * C.RATE_DECREASE_FACTOR, C.MIN_RATE_PER_S)
            self._cond.notify_all()

    def pace(self, hold_s: float, gap_s: float) -> None:
        """The provider's announced rate-limit budget, as of its latest answer: hold every
        request for ``hold_s`` seconds (spent), or space requests ``gap_s`` apart (nearly
        spent); (0, 0) lifts both. The client works both out from the headers, already
        within the retry cap (``lib.client._retry.budget_waits``). Unlike a 429's cooldown
        this sends no probe and leaves the rate alone: nothing was refused yet."""
        hold = max(hold_s, 0.0) if hold_s == hold_s else 0.0
        gap = max(gap_s, 0.0) if gap_s == gap_s else 0.0
        with self._cond:
            now = self.clock()
            self._budget_until = now + hold if hold > 0 else 0.0
            self._budget_gap = gap
            self._budget_next = min(self._budget_next, now + gap) if gap else 0.0
            self._cond.notify_all()

    @property
    def cooling_down_s(self) -> float:
        with self._lock:
            return max(0.0, self._cooldown_until - self.clock())

    # -- waiting (called with the lock held) ---------------------------------------

    def _wait(self, seconds: float | None, cancel: CancelToken | None) -> None:
        if cancel is not None and cancel.cancelled:
            raise E.Cancelled(cancel.reason or "cancelled")
        if self.sleep is not None and seconds is not None:
            self._cond.release()
            try:
                self.sleep(seconds)
            finally:
                self._cond.acquire()
        else:
            self._cond.wait(seconds)
        if cancel is not None and cancel.cancelled:
            raise E.Cancelled(cancel.reason or "cancelled")

    def _acquire_slot(self, on_wait: OnWait | None, cancel: CancelToken | None) -> None:
        ticket = object()
        with self._cond:
            if self._active < self._max_concurrency and not self._queue:
                self._active += 1
                return
            self._queue.append(ticket)
            self.waits += 1
            ahead = len(self._queue) - 1
            try:
                if on_wait is not None:
                    self._cond.release()
                    try:
                        on_wait("concurrency", 0.0, ahead)
                    finally:
                        self._cond.acquire()
                while not (self._queue[0] is ticket and self._active < self._max_concurrency):
                    self._wait(None, cancel)
                self._queue.popleft()
                self._active += 1
            except BaseException:
                try:
                    self._queue.remove(ticket)
                except ValueError:
                    pass
                self._cond.notify_all()
                raise
            self._cond.notify_all()  # the next in line may fit too (the cap may have grown)

    def _release_slot(self) -> None:
        with self._cond:
            self._active = max(0, self._active - 1)
            self._cond.notify_all()

    def _take(self, on_wait: OnWait | None, cancel: CancelToken | None = None) -> bool:
        """Wait for the right to send; True when this request is the probe."""
        told: str | None = None
        with self._cond:
            while True:
                now = self.clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.effective_rate)
                self._last = now
                if self._cooldown_until > now:
                    wait, why = self._cooldown_until - now, "cooldown"
                elif max(self._budget_until, self._budget_next) > now:
                    wait, why = max(self._budget_until, self._budget_next) - now, "budget"
                elif self._half_open and self._probe_out:
                    wait, why = None, "probe"  # woken by the probe's answer
                elif self._half_open:
                    self._probe_out = True
                    return True
                elif self._tokens >= 1:
                    self._tokens -= 1
                    if self._budget_gap:
                        self._budget_next = now + self._budget_gap
                    return False
                else:
                    wait, why = (1 - self._tokens) / self.effective_rate, "rate"
                if why != told:
                    if told is None:
                        self.waits += 1
                    if why == "budget":
                        self.budget_waits += 1
                    told = why
                    if on_wait is not None:
                        self._cond.release()
                        try:
                            on_wait(why, wait or 0.0, 0)
                        finally:
                            self._cond.acquire()
                        continue  # the state may have changed while we were out of the lock
                self._wait(wait, cancel)

    def report(self, probe: bool, *, rate_limited: bool) -> None:
        """Tell the limiter how a request ended: a probe's answer closes or
        reopens the cooldown; every success lets the rate recover a step."""
        with self._cond:
            if probe:
                self._probe_out = False
                if not rate_limited:
                    self._half_open = False
            if not rate_limited:
                step = self.rate_per_s * C.RATE_RECOVERY_STEP
                self.effective_rate = min(self.rate_per_s, self.effective_rate + step)
            self._cond.notify_all()

    @contextmanager
    def slot(self, on_wait: OnWait | None = None, cancel: CancelToken | None = None) -> Iterator[bool]:
        """Hold a concurrency slot and a token; yields True when this request is the probe."""
        remove = cancel.on_cancel(self._wake) if cancel is not None else None
        try:
            self._acquire_slot(on_wait, cancel)
            try:
                yield self._take(on_wait, cancel)
            finally:
                self._release_slot()
        finally:
            if remove is not None:
                remove()

    def token(self, cancel: CancelToken | None = None) -> None:
        """A token of the rate limit without a concurrency slot (task polls).
        Polls wait out a cooldown and the rate like any request, but never
        wait for the post-429 probe: they belong to tasks already accepted."""
        remove = cancel.on_cancel(self._wake) if cancel is not None else None
        try:
            with self._cond:
                while True:
                    now = self.clock()
                    self._tokens = min(self.burst, self._tokens + (now - self._last) * self.effective_rate)
                    self._last = now
                    if self._cooldown_until > now:
                        self._wait(self._cooldown_until - now, cancel)
                    elif self._tokens >= 1:
                        self._tokens -= 1
                        return
                    else:
                        self._wait((1 - self._tokens) / self.effective_rate, cancel)
        finally:
            if remove is not None:
                remove()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class LimiterRegistry:
    """One limiter per (provider, host). Settings changes reconfigure the
    existing limiter (its cooldown, rate and queue are kept), never replace it."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None) -> None:
        self.clock = clock
        self.sleep = sleep
        self._limiters: dict[tuple[str, str], ProviderLimiter] = {}
        self._lock = threading.Lock()

    def get(self, settings: ClientSettings) -> ProviderLimiter:
        key = (settings.provider, settings.endpoint.root)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = ProviderLimiter(
                    rate_per_s=settings.rate_per_s,
                    burst=settings.burst,
                    max_concurrency=settings.max_concurrency,
                    clock=self.clock,
                    sleep=self.sleep,
                )
                self._limiters[key] = limiter
            else:
                limiter.configure(rate_per_s=settings.rate_per_s, burst=settings.burst, max_concurrency=settings.max_concurrency)
            return limiter

    def find(self, settings: ClientSettings) -> ProviderLimiter | None:
        """The limiter for these settings, if one exists (no side effects)."""
        with self._lock:
            return self._limiters.get((settings.provider, settings.endpoint.root))

    def __len__(self) -> int:
        return len(self._limiters)


class LargeAnswers:
    """One large answer at a time, process-wide (``C.LARGE_ANSWER_BYTES``): the memory bound.

    A read that grows past the threshold calls ``take()`` and waits while another thread holds
    the turn; the holder keeps it across its further reads (a second large body, an image
    download) until ``release()``, at the end of its attempt, so that two holders never wait on
    each other. The wait ends with the waiter's cancel (``Cancelled``) or deadline (whatever
    ``time_left`` raises once the time is up), checked at least every ``POLL_S``."""

    POLL_S = 0.25

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holder: int | None = None
        self.waits = 0  # takes that had to wait (figures and tests)

    @property
    def held(self) -> bool:
        with self._cond:
            return self._holder is not None

    def take(self, cancel: CancelToken | None = None, time_left: Callable[[], float | None] | None = None) -> float:
        """Hold the turn for this thread (at once when free or already held); the seconds waited."""
        me = threading.get_ident()
        with self._cond:
            if self._holder in (None, me):
                self._holder = me
                return 0.0
            self.waits += 1
            started = time.monotonic()
            while self._holder not in (None, me):
                if cancel is not None and cancel.cancelled:
                    raise E.Cancelled(cancel.reason or "cancelled")
                left = time_left() if time_left is not None else None
                self._cond.wait(self.POLL_S if left is None else max(0.0, min(self.POLL_S, left)))
            self._holder = me
            return time.monotonic() - started

    def release(self) -> None:
        """Give the turn back, if this thread holds it."""
        with self._cond:
            if self._holder == threading.get_ident():
                self._holder = None
                self._cond.notify_all()


LARGE_ANSWERS = LargeAnswers()  # the app's and the CLI's one per process; tests pass their own
