"""The client: the only package that makes HTTP requests.

- ``_transport``: deadlines for a whole request, capped (decompressed) reads,
  the address guard for result URLs, cancellable sockets;
- ``_retry``: backoff, Retry-After and the one cap on waiting;
- ``_retry``'s second half: the rate-limit budget a provider announces (``x-ratelimit-*``);
- ``_attempt``: what one attempt gathers (a typed context) and what a run has;
- ``_events``: a run's progress events, bounded (coalesced) whatever the provider sends;
- ``_moderation``: the check before paying (the provider's moderations route, before the image request);
- ``_evolink``: references sent as links (``image_urls``): each file uploaded to the file host first;
- ``_dialect``: a gateway dialect file's create and poll requests, and its answers read back;
- ``_client``: ``ImageClient``: ``generate`` (pre-flight, limits, the attempt
  row, the exchange, polling, downloads, retries and fallbacks) and ``send``.
"""

from typing import TYPE_CHECKING

from lib.client._attempt import AttemptContext, AttemptResult, RunState
from lib.client._retry import (
    RETRY_AFTER_UNBOUNDED_S,
    UNREACHABLE_CODES,
    RateBudget,
    budget_waits,
    cooldown_seconds,
    duration_seconds,
    over_cap,
    rate_budget,
    retry_after_seconds,
    retry_delay,
    should_fall_back,
    should_retry,
    wait_text,
)

if TYPE_CHECKING:
    from lib.client._client import USER_AGENT, Exchange, ImageClient, NullRecorder, classify_answer
    from lib.client._moderation import FLAGGED_CODE, MODERATION_MODEL, NO_ROUTE
    from lib.client._transport import AddressGuard, AnswerTooLarge, BadEncoding, DeadlineTransport, SocketTracker, deadline, read_capped

# The client and its transport (httpx under them) load on first use: a page that shows
# an error card or the retry rules needs neither, and the app's first page comes sooner.
_LAZY = {
    **dict.fromkeys(("USER_AGENT", "Exchange", "ImageClient", "NullRecorder", "classify_answer"), "lib.client._client"),
    **dict.fromkeys(
        ("AddressGuard", "AnswerTooLarge", "BadEncoding", "DeadlineTransport", "SocketTracker", "deadline", "read_capped"),
        "lib.client._transport",
    ),
    **dict.fromkeys(("FLAGGED_CODE", "MODERATION_MODEL", "NO_ROUTE"), "lib.client._moderation"),
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lib.client' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "RETRY_AFTER_UNBOUNDED_S",
    "UNREACHABLE_CODES",
    "USER_AGENT",
    "AddressGuard",
    "AnswerTooLarge",
    "AttemptContext",
    "AttemptResult",
    "BadEncoding",
    "DeadlineTransport",
    "Exchange",
    "FLAGGED_CODE",
    "ImageClient",
    "MODERATION_MODEL",
    "NO_ROUTE",
    "NullRecorder",
    "RateBudget",
    "RunState",
    "SocketTracker",
    "budget_waits",
    "classify_answer",
    "cooldown_seconds",
    "deadline",
    "duration_seconds",
    "over_cap",
    "rate_budget",
    "read_capped",
    "retry_after_seconds",
    "retry_delay",
    "should_fall_back",
    "should_retry",
    "wait_text",
]
