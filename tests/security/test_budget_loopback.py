"""The announced rate-limit budget over a real socket: the hostile provider says the request budget is
spent (OpenAI's headers); the attempt records it and the next request waits for the reset it named."""

from __future__ import annotations

import pytest

from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import Store

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


def test_a_spent_budget_is_recorded_and_waited_for(hostile, tmp_path):
    store = Store(tmp_path / "db.sqlite")
    slept: list[float] = []
    settings = ClientSettings(provider="custom", base_url=hostile.base_url("budget_spent"), api_key="sk-loop-" + "Rt5" * 12, max_retries=0)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, sleep=slept.append)
    request = GenerationRequest(prompt="a kite", model="gpt-image-2", size="1024x1024")
    with ImageClient(settings=settings, recorder=store, keeper=store.keeper, limiter=limiter) as client:
        first = client.generate(request)
        second = client.generate(request)
    assert first.ok and second.ok
    row = store.attempt(first.attempts[0].attempt_id)
    assert (row["ratelimit_remaining_requests"], row["ratelimit_limit_requests"], row["ratelimit_reset_s"]) == (0, 50, 1.0)
    assert (row["ratelimit_remaining_tokens"], row["ratelimit_limit_tokens"]) == (38000, 40000)
    assert slept and 0 < slept[0] <= 1.0  # the next request waited for the announced reset (the rest of 1 s)
    assert store.attempt(second.attempts[0].attempt_id)["ratelimit_wait_ms"] > 0
    store.close()
