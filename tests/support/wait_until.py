"""One way for a test to wait for something that happens on another thread or in another process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "the condition did not come true",
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that; ``interval`` seconds between calls.

    After ``timeout`` seconds, raise TimeoutError with ``message`` (a callable is asked only then, so it can
    describe the state the wait ended in). The predicate is always called at least once, and once more
    at the deadline, so a slow last interval does not turn a success into a failure.
    """
    deadline = clock() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - clock()
        if left <= 0:
            raise TimeoutError(f"{message() if callable(message) else message} (waited {timeout:g} s)")
        sleep(min(interval, left))
