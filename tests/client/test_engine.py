"""Engine guarantees: exact records of partial results, limits that keep their state, and no fallback walk
when the host is unreachable."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from lib import errors as E
from lib.client import ImageClient, should_fall_back
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import LimiterRegistry, ProviderLimiter
from lib.store import Store
from tests.support.mock_client import mock_client, png_b64

REQ = GenerationRequest(prompt="a lantern", model="gpt-image-2", size="1024x1024")


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "engine.db")


def client(store, handler, **settings) -> ImageClient:
    return mock_client(handler, recorder=store, keeper=store.keeper, **settings)


# --- one writer, partial results ------------------------------------------------------------


def test_n2_with_a_bad_second_image_keeps_the_good_one_and_says_so(store):
    body = {"created": 1, "data": [{"b64_json": png_b64()}, {"b64_json": base64.b64encode(b"not an image at all").decode()}]}
    with client(store, lambda r: httpx.Response(200, json=body)) as c:
        out = c.generate(GenerationRequest(prompt="two", n=2, size="1024x1024"))
    assert out.ok and len(out.images) == 1
    assert "image 2 of 2" in (out.note or "")
    [attempt] = store.run(out.run_id)["attempts"]
    assert attempt["status"] == "succeeded" and attempt["image_count"] == 1 == len(attempt["images"])
    assert "image 2 of 2 not kept: invalid_image" in attempt["note"]
    kept = {p.name for p in (store.root / "images").rglob("*.png")}
    assert kept == {Path(attempt["images"][0]["path"]).name}  # nothing on disk without a row


def test_image_count_always_equals_the_rows(store):
    body = {"created": 1, "data": [{"b64_json": png_b64((1, 2, 3))}, {"b64_json": png_b64((4, 5, 6))}]}
    with client(store, lambda r: httpx.Response(200, json=body)) as c:
        out = c.generate(GenerationRequest(prompt="two", n=2, size="1024x1024"))
    mismatched = store.db.execute(
        "SELECT count(*) FROM attempts a WHERE image_count != (SELECT count(*) FROM images i WHERE i.attempt_id = a.id)"
    ).fetchone()[0]
    assert out.ok and len(out.images) == 2 and mismatched == 0


# --- limits ----------------------------------------------------------------------------------------


def test_a_settings_change_keeps_the_limiters_state():
    registry = LimiterRegistry()
    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_concurrency=2)
    limiter = registry.get(s)
    limiter.cooldown(30)
    rate_after_429 = limiter.effective_rate
    with _held(limiter, 1):
        same = registry.get(ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_concurrency=5, rate_per_s=3))
        assert same is limiter  # not replaced
        assert limiter.cooling_down_s > 25 and limiter.effective_rate == rate_after_429
        assert limiter.max_concurrency == 5 and limiter._active == 1  # the cap grows; the one in flight still counts


class _held:
    """Hold ``n`` concurrency slots of a limiter without taking tokens (no cooldown wait)."""

    def __init__(self, limiter: ProviderLimiter, n: int) -> None:
        self.limiter, self.n = limiter, n

    def __enter__(self):
        for _ in range(self.n):
            self.limiter._acquire_slot(None, None)

    def __exit__(self, *exc):
        for _ in range(self.n):
            self.limiter._release_slot()


def test_registries_are_isolated():
    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1")
    a, b = LimiterRegistry(), LimiterRegistry()
    a.get(s).cooldown(60)
    assert b.get(s).cooling_down_s == 0 and b.get(s).effective_rate == s.rate_per_s
    assert ImageClient(settings=s).limiter is not ImageClient(settings=s).limiter  # no hidden process-wide limiter


# --- no fallback walk for an unreachable host ----------------------------------------------------


@pytest.mark.parametrize(
    "message,code",
    [
        ("[Errno -2] Name or service not known", "dns_failure"),
        ("[Errno 111] Connection refused", "connection_refused"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "tls_failure"),
    ],
)
def test_an_unreachable_host_is_not_walked_down_the_fallback_chain(store, message, code):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError(message, request=request)

    with client(store, handler, use_fallback=True, max_retries=1) as c:
        out = c.generate(REQ)
    assert out.error.error_type == "network" and out.error.code == code
    assert {a.model for a in out.attempts} == {"gpt-image-2"}  # retried, but no other model tried
    assert len(calls) == 2
    assert not should_fall_back(out.error)
    assert should_fall_back(E.NetworkError("reset", code="ReadError"))  # a dropped connection may still fall back
