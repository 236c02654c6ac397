"""Latency is the provider's time only; time queued inside the app is wait_ms, recorded on its own."""

from __future__ import annotations

import httpx

from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.clock import FakeClock
from tests.support.mock_client import png_b64

REQ = GenerationRequest(prompt="a lantern", model="gpt-image-2", size="1024x1024")


def _client(tmp_path, handler, clock: FakeClock, **settings) -> tuple[ImageClient, Store]:
    store = Store(tmp_path / "timing.db")
    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", **settings)
    client = ImageClient(
        settings=s,
        recorder=store,
        keeper=store.keeper,
        transport=httpx.MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000, clock=clock, sleep=clock.sleep),
    )
    return client, store


def test_a_fallback_hop_waiting_out_the_cooldown_records_the_wait_apart_from_latency(tmp_path):
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(clock())
        clock.now += 0.002  # the provider answers in 2 ms
        if len(calls) == 1:
            return httpx.Response(429, headers={"retry-after": "1"}, json={"error": {"message": "slow down", "type": "rate_limit"}})
        return httpx.Response(200, json={"data": [{"b64_json": png_b64()}]})

    client, store = _client(tmp_path, handler, clock, max_retries=0, use_fallback=True)
    with client:
        out = client.generate(REQ)
    assert out.ok and len(calls) == 2
    first, second = store.run(out.run_id)["attempts"]
    assert (first["error_type"], first["latency_ms"], first["wait_ms"]) == ("rate_limited", 2, 0)
    assert second["status"] == "succeeded" and second["latency_ms"] == 2
    assert 990 <= second["wait_ms"] <= 1010  # the shared cooldown, waited inside the app
    assert [a.wait_ms for a in out.attempts] == [first["wait_ms"], second["wait_ms"]]


def test_task_polls_waiting_for_a_token_count_as_wait_not_latency(tmp_path):
    clock = FakeClock()
    polls = []

    def handler(request: httpx.Request) -> httpx.Response:
        clock.now += 0.01
        if request.method == "POST":
            return httpx.Response(200, json={"data": {"task_id": "t-1", "status": "pending"}})
        polls.append(clock())
        if len(polls) < 2:
            return httpx.Response(200, json={"data": {"task_id": "t-1", "status": "running"}})
        return httpx.Response(
            200, json={"data": {"task_id": "t-1", "status": "completed", "image_url": "data:image/png;base64," + png_b64()}}
        )

    client, store = _client(tmp_path, handler, clock, max_retries=0, use_fallback=False)
    client.limiter = ProviderLimiter(rate_per_s=0.5, burst=1, clock=clock, sleep=clock.sleep)  # one token each 2 s
    with client:
        out = client.generate(REQ)
    assert out.ok, out.error
    [row] = store.run(out.run_id)["attempts"]
    total_ms = int((clock() - 1000.0) * 1000)
    assert row["wait_ms"] > 0
    assert abs(row["latency_ms"] + row["wait_ms"] - total_ms) <= 5


def test_an_attempt_that_never_waited_records_wait_ms_zero(tmp_path):
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        clock.now += 0.25
        return httpx.Response(500, json={"error": {"message": "boom"}})

    client, store = _client(tmp_path, handler, clock, max_retries=0, use_fallback=False)
    with client:
        out = client.generate(REQ)
    [row] = store.run(out.run_id)["attempts"]
    assert (row["latency_ms"], row["wait_ms"]) == (250, 0)


def test_time_queued_for_a_worker_is_the_first_attempts_wait(tmp_path):
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        clock.now += 0.1
        return httpx.Response(200, json={"data": [{"b64_json": png_b64()}]})

    client, store = _client(tmp_path, handler, clock, max_retries=0, use_fallback=False)
    with client:
        out = client.generate(REQ, queued_s=3.5)
    [row] = store.run(out.run_id)["attempts"]
    assert (row["latency_ms"], row["wait_ms"]) == (100, 3500)
