"""The rate-limit budget a provider announces: read leniently, paced by, recorded, and shown at step 5."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from lib import constants as C
from lib.client import RETRY_AFTER_UNBOUNDED_S, ImageClient, RateBudget, budget_waits, duration_seconds, rate_budget
from lib.diagnostics.checks import run_checks
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.media_support import image_bytes

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

NOW = 1_800_000_000.0
OPENAI = {
    "x-ratelimit-limit-requests": "50",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1.5s",
    "x-ratelimit-limit-tokens": "40000",
    "x-ratelimit-remaining-tokens": "38000",
    "x-ratelimit-reset-tokens": "6m0s",
}


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("6m 0s", 360.0),
        ("1.5S", 1.5),
        ("250us", 0.00025),
        ("0.5", 0.5),
        ("60", 60.0),
        (" 7 ", 7.0),
        (str(NOW + 30), 30.0),  # a Unix time in seconds
        (str(int((NOW + 12) * 1000)), 12.0),  # ...or in milliseconds
        (str(NOW - 30), 0.0),  # already past
        ("Fri, 01 Jan 2100 00:00:00 GMT", None),  # a date: checked below
        ("inf", RETRY_AFTER_UNBOUNDED_S),
        ("1e400", RETRY_AFTER_UNBOUNDED_S),
        ("-3", None),
        ("nan", None),
        ("soon", None),
        ("", None),
        ("5x", None),
    ],
)
def test_durations_in_every_form_providers_send(text, seconds):
    value = duration_seconds(text, now=NOW)
    if text.startswith("Fri"):
        assert value is not None and value > 0
    elif seconds is None:
        assert value is None
    else:
        assert value == pytest.approx(seconds, abs=1e-6)


def test_an_iso_date_reset_is_read_relative_to_now():
    assert duration_seconds("2027-01-15T08:00:30Z", now=duration_seconds("0") or 0) is not None
    import datetime as dt

    at = dt.datetime(2027, 1, 15, 8, 0, 0, tzinfo=dt.UTC).timestamp()
    assert duration_seconds("2027-01-15T08:00:30Z", now=at) == pytest.approx(30.0)


def test_openais_headers():
    b = rate_budget(OPENAI, now=NOW)
    assert (b.remaining_requests, b.limit_requests, b.remaining_tokens, b.limit_tokens) == (0, 50, 38000, 40000)
    assert (b.reset_requests_s, b.reset_tokens_s) == (1.5, 360.0)
    assert b.spent and b.low and b.reset_s == 1.5  # the spent budget's reset, not the later one of the other
    assert "0 of 50 request(s)" in b.describe() and "1.5 s" in b.describe()


@pytest.mark.parametrize(
    "headers, remaining, limit, reset",
    [
        ({"X-RateLimit-Remaining": "7", "X-RateLimit-Limit": "60", "X-RateLimit-Reset": "30"}, 7, 60, 30.0),
        ({"ratelimit-remaining": "3", "ratelimit-limit": "100, 100;w=60", "ratelimit-reset": "12"}, 3, 100, 12.0),
        ({"x-ratelimit-remaining-requests": "59.0"}, 59, None, None),
        ({"x-ratelimit-remaining-requests": "a lot"}, None, None, None),
        ({"x-ratelimit-remaining-requests": "-1"}, None, None, None),
        ({"x-ratelimit-remaining-requests": "9" * 40}, 10**15, None, None),
        ({"x-ratelimit-remaining-requests": "2", "x-ratelimit-reset-requests": str(NOW + 60)}, 2, None, 60.0),
    ],
)
def test_other_families_and_garbage(headers, remaining, limit, reset):
    b = rate_budget(headers, now=NOW)
    assert b.remaining_requests == remaining and b.limit_requests == limit
    assert b.reset_s == (pytest.approx(reset) if reset is not None else None)


def test_no_headers_is_no_budget():
    assert not rate_budget({"content-type": "application/json"}).announced and not rate_budget(None).announced


@pytest.mark.parametrize(
    "budget, waits",
    [
        (RateBudget(remaining_requests=0, limit_requests=50, reset_requests_s=1.5), (1.5, 0.0)),
        (RateBudget(remaining_requests=0, reset_requests_s=None), (C.COOLDOWN_AFTER_429_S, 0.0)),
        (RateBudget(remaining_requests=0, reset_requests_s=999_999), (0.0, 0.0)),  # over the cap: never waited for
        (RateBudget(remaining_requests=3, limit_requests=50, reset_requests_s=20), (0.0, 5.0)),  # 3 left over 20 s
        (RateBudget(remaining_requests=3, limit_requests=50, reset_requests_s=1e9), (0.0, 0.0)),
        (RateBudget(remaining_requests=40, limit_requests=50, reset_requests_s=20), (0.0, 0.0)),  # plenty left
        (RateBudget(remaining_requests=2, reset_requests_s=9), (0.0, 3.0)),  # no limit said: a few left is low
        (RateBudget(remaining_tokens=100, limit_tokens=40000, reset_tokens_s=4), (0.0, 4 / 101)),
    ],
)
def test_how_long_the_limiter_holds_or_spaces(budget, waits):
    assert budget_waits(budget) == pytest.approx(waits)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_limiter_holds_while_spent_and_spaces_while_low():
    t = FakeTime()
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, clock=t.clock, sleep=t.sleep)
    why = []
    limiter.pace(2.0, 0.0)
    with limiter.slot(lambda w, s, a: why.append((w, s))):
        pass
    assert why == [("budget", 2.0)] and t.now == pytest.approx(102.0) and limiter.budget_waits == 1
    limiter.pace(0.0, 5.0)
    starts = []
    for _ in range(3):
        with limiter.slot():
            starts.append(t.now)
    assert starts[1] - starts[0] == pytest.approx(5.0) and starts[2] - starts[1] == pytest.approx(5.0)
    limiter.pace(0.0, 0.0)  # a comfortable budget lifts the spacing
    before = t.now
    with limiter.slot():
        pass
    assert t.now == before


def image_answer(headers):
    body = json.dumps({"data": [{"b64_json": base64.b64encode(image_bytes()).decode()}]}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json", **headers}, content=body)

    return httpx.MockTransport(handler)


def test_a_spent_budget_holds_the_next_request_and_both_are_recorded(tmp_path):
    t = FakeTime()
    store = Store(tmp_path / "db.sqlite")
    settings = ClientSettings(provider="custom", base_url="https://gw.example/v1", api_key="sk-budget-" + "w4" * 12, max_retries=0)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, clock=t.clock, sleep=t.sleep)
    request = GenerationRequest(prompt="a red kite", model="gpt-image-2", size="1024x1024")
    with ImageClient(
        settings=settings,
        recorder=store,
        keeper=store.keeper,
        transport=image_answer(OPENAI),
        clock=t.clock,
        sleep=t.sleep,
        limiter=limiter,
    ) as client:
        first = client.generate(request)
        events = []
        second = client.generate(request, on_event=events.append)
    assert first.ok and second.ok
    assert any(e.kind == "queued" and e.data.get("why") == "budget" for e in events)
    a1 = store.attempt(first.attempts[0].attempt_id)
    a2 = store.attempt(second.attempts[0].attempt_id)
    assert (a1["ratelimit_remaining_requests"], a1["ratelimit_limit_requests"], a1["ratelimit_reset_s"]) == (0, 50, 1.5)
    assert (a1["ratelimit_remaining_tokens"], a1["ratelimit_limit_tokens"]) == (38000, 40000)
    assert a1["ratelimit_wait_ms"] is None and a2["ratelimit_wait_ms"] == 1500
    assert a2["wait_ms"] >= 1500 and a2["latency_ms"] < 1500  # the app's wait, not the provider's time

    step = next(s for s in run_checks(settings, "gpt-image-2", store=store, probe=False, now=t.now + 60).steps if s.step == 5)
    text = " ".join(item.text for item in step.evidence)
    assert "Latest budget the provider announced" in text and "0 of 50 request(s)" in text
    assert "held 1 request(s) back" in text
    store.close()


def test_step_5_says_when_the_app_did_not_need_to_slow_down(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    settings = ClientSettings(provider="custom", base_url="https://gw.example/v1", api_key="sk-budget-" + "w5" * 12, max_retries=0)
    plenty = {"x-ratelimit-limit-requests": "50", "x-ratelimit-remaining-requests": "49", "x-ratelimit-reset-requests": "1s"}
    with ImageClient(
        settings=settings, recorder=store, keeper=store.keeper, transport=image_answer(plenty), sleep=lambda s: None
    ) as client:
        assert client.generate(GenerationRequest(prompt="a red kite", model="gpt-image-2", size="1024x1024")).ok
    step = next(s for s in run_checks(settings, "gpt-image-2", store=store, probe=False).steps if s.step == 5)
    text = " ".join(item.text for item in step.evidence)
    assert "49 of 50 request(s)" in text and "did not need to slow down" in text
    assert step.status == "pass"
    store.close()
