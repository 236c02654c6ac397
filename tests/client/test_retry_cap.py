"""A Retry-After beyond the cap is never waited for, on any hop: the run fails at once, saying what was asked."""

from __future__ import annotations

import httpx
import pytest

from lib import constants as C
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from tests.support.clock import FakeClock
from tests.support.memory_recorder import MemoryRecorder
from tests.support.mock_client import png_b64

REQ = GenerationRequest(prompt="a paper boat on a pond", model="gpt-image-2", size="1024x1024")
CAP = f"at most {C.MAX_RETRY_AFTER_S:.0f} s"


def _client(settings: ClientSettings, clock: FakeClock, transport=None) -> ImageClient:
    return ImageClient(
        settings=settings,
        recorder=MemoryRecorder(),
        transport=transport,
        clock=clock,
        sleep=clock.sleep,
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4, clock=clock, sleep=clock.sleep),
    )


def test_the_sandbox_asking_for_99999_s_ends_the_run_at_once_on_the_default_chain(sandbox):
    sandbox.configure(scenario="rate_limited_always", retry_after_s=99999.0)
    clock = FakeClock()
    s = ClientSettings(provider="sandbox", base_url=sandbox.base_url, max_retries=3, use_fallback=True, read_timeout_s=5.0)
    assert len(s.chain(REQ.model)) > 1  # a chain that could have been walked
    with _client(s, clock) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "rate_limited"
    assert len(out.attempts) == 1 and {a.model for a in out.attempts} == {REQ.model}  # no retry, no fallback hop
    assert sum(clock.sleeps) <= 1.0  # nothing was waited out
    assert "99,999 s" in out.error.message and CAP in out.error.message and "no fallback" in out.error.message
    assert out.error.retry_after_s == pytest.approx(99999.0)


@pytest.mark.parametrize(
    "status, headers",
    [
        (429, {"retry-after": "99999"}),
        (429, {"retry-after-ms": "99999000"}),
        (429, {"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"}),
        (429, {"retry-after": "inf"}),
        (429, {"retry-after": "1e400"}),
        (503, {"retry-after": "3600"}),
        (500, {"retry-after-ms": "121000"}),
    ],
)
def test_every_form_of_a_wait_over_the_cap_fails_the_run_without_waiting(status, headers):
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, headers=headers, json={"error": {"message": "come back later"}})

    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_retries=3, use_fallback=True)
    with _client(s, clock, httpx.MockTransport(handler)) as client:
        out = client.generate(REQ)
    assert len(calls) == 1 and len(out.attempts) == 1
    assert sum(clock.sleeps) == 0
    assert CAP in out.error.message and out.error.retry_after_s > C.MAX_RETRY_AFTER_S
    assert client.limiter.cooling_down_s <= C.MAX_RETRY_AFTER_S


@pytest.mark.parametrize("headers", [{"retry-after": "-5"}, {"retry-after": "soon"}, {"retry-after-ms": "-1"}, {"retry-after": "nan"}])
def test_an_unreadable_or_negative_wait_is_no_wait_asked_and_the_run_retries(headers):
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers=headers, json={"error": {"message": "slow down", "type": "rate_limit"}})
        return httpx.Response(200, json={"data": [{"b64_json": png_b64()}]})

    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_retries=2, use_fallback=False)
    with _client(s, clock, httpx.MockTransport(handler)) as client:
        out = client.generate(REQ)
    assert out.ok and len(calls) == 2
    assert out.attempts[0].error_type == "rate_limited"
    assert max(clock.sleeps) <= C.MAX_RETRY_DELAY_S + C.COOLDOWN_AFTER_429_S


@pytest.mark.parametrize("asked", [99999.0, 1e300, float("inf"), C.MAX_RETRY_AFTER_S + 0.5])
def test_the_shared_cooldown_is_cut_to_the_cap_whoever_asks(asked):
    clock = FakeClock(start=0.0)
    limiter = ProviderLimiter(clock=clock, sleep=clock.sleep)
    limiter.cooldown(asked)
    assert limiter.cooling_down_s == C.MAX_RETRY_AFTER_S


@pytest.mark.parametrize("asked", [-3.0, float("nan"), float("-inf")])
def test_a_negative_or_unreadable_cooldown_holds_nothing(asked):
    clock = FakeClock(start=0.0)
    limiter = ProviderLimiter(clock=clock, sleep=clock.sleep)
    limiter.cooldown(asked)
    assert limiter.cooling_down_s == 0.0
