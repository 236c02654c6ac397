"""No answer can exhaust memory or time, and fetches go only where they should.

Every probe runs against the hostile provider over loopback (tests/support/hostile_provider.py).
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from lib import constants as C
from lib import errors as E
from lib.client import (
    RETRY_AFTER_UNBOUNDED_S,
    AnswerTooLarge,
    DeadlineTransport,
    ImageClient,
    cooldown_seconds,
    deadline,
    read_capped,
    retry_after_seconds,
)
from lib.generation import ClientSettings, GenerationRequest
from lib.images import validate
from lib.limits import ProviderLimiter
from lib.providers import build_endpoint, task_segment
from tests.support.hostile_probes import PROBES, probes
from tests.support.hostile_provider import lying_png
from tests.support.memory_recorder import MemoryRecorder

KEY = "sk-hostile-" + "Kp4" * 12 + "Zz9Q"
REQ = GenerationRequest(prompt="a harbour", model="gpt-image-2", size="1024x1024")


def run(hostile, probe, *, read_timeout_s=10.0, max_retries=0, **settings):
    s = ClientSettings(
        provider="custom",
        base_url=hostile.base_url(probe),
        api_key=KEY,
        key_source="typed",
        read_timeout_s=read_timeout_s,
        max_retries=max_retries,
        use_fallback=False,
        task_deadline_s=5,
        **settings,
    )
    recorder = MemoryRecorder()
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4)
    t0 = time.monotonic()
    with ImageClient(settings=s, recorder=recorder, limiter=limiter, sleep=lambda x: None) as client:
        out = client.generate(REQ)
    elapsed = time.monotonic() - t0
    assert all(a["status"] != "pending" for a in recorder.attempts.values())
    return out, elapsed, limiter


# --- bounded reads ---------------------------------------------------------------------


def test_a_gzip_bomb_stops_at_the_cap(hostile, monkeypatch):
    monkeypatch.setattr(C, "MAX_ANSWER_BYTES", 8 * 1024 * 1024)
    out, elapsed, _ = run(hostile, "gzip_bomb")
    assert out.error.error_type == "bad_response" and out.error.code == "answer_too_large"
    assert "limit" in out.error.message


def test_a_gzip_bombed_error_page_is_read_only_as_far_as_needed(hostile):
    out, _, _ = run(hostile, "gzip_bomb_error")
    assert out.error.error_type == "server_error" and out.error.status == 500


def test_a_huge_content_length_fails_before_reading(hostile):
    out, elapsed, _ = run(hostile, "huge_length")
    assert out.error.code == "answer_too_large" and "declares" in out.error.message
    assert elapsed < 5


def test_an_endless_body_stops_at_the_cap(hostile, monkeypatch):
    monkeypatch.setattr(C, "MAX_ANSWER_BYTES", 4 * 1024 * 1024)
    out, _, _ = run(hostile, "endless_chunked")
    assert out.error.code == "answer_too_large"


def test_a_slow_body_is_bounded_by_the_read_timeout_as_a_whole(hostile):
    out, elapsed, _ = run(hostile, "slow_body", read_timeout_s=1.5)
    assert out.error.error_type == "timeout" and out.error.code == "deadline"
    assert 1.4 < elapsed < 3.0  # the body trickles a byte every 0.25 s: per-read timeouts would never fire


def test_a_slow_download_has_a_deadline_of_its_own(hostile, monkeypatch):
    monkeypatch.setattr(C, "DOWNLOAD_TIMEOUT_S", 1.5)
    out, elapsed, _ = run(hostile, "slow_download")
    assert out.error.error_type == "image_fetch_failed" and out.error.code == "deadline"
    assert elapsed < 3.0


def test_read_capped_decodes_gzip_in_bounded_steps():
    import gzip

    body = gzip.compress(b"x" * 3000)
    response = httpx.Response(200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(body))
    assert read_capped(response, 5000) == b"x" * 3000
    response = httpx.Response(200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(body))
    with pytest.raises(AnswerTooLarge):
        read_capped(response, 1000)
    response = httpx.Response(500, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(body))
    assert read_capped(response, 1000, truncate=True) == b"x" * 1000


def test_an_unasked_content_encoding_is_refused(hostile):
    def handler(request):
        return httpx.Response(200, headers={"content-encoding": "br"}, stream=httpx.ByteStream(b"\x1b\x00"))

    s = ClientSettings(
        provider="custom", base_url="https://gw.example.com/v1", api_key=KEY, key_source="typed", max_retries=0, use_fallback=False
    )
    with ImageClient(settings=s, transport=httpx.MockTransport(handler), limiter=ProviderLimiter(), sleep=lambda x: None) as c:
        out = c.generate(REQ)
    assert out.error.error_type == "bad_response" and out.error.code == "bad_encoding"


def test_the_deadline_covers_connect_and_headers_too():
    """A listener that accepts and never answers: the deadline, not the (long) read timeout, ends it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        with httpx.Client(transport=DeadlineTransport(), timeout=60) as http:
            t0 = time.monotonic()
            with pytest.raises(httpx.ReadTimeout, match="deadline"), deadline(0.5):
                http.get(f"http://127.0.0.1:{port}/")
            assert time.monotonic() - t0 < 2
    finally:
        listener.close()


# --- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize("probe, shown", [(p, PROBES[p].says) for p in probes(family="retry_after", ends="rate_limited")])
def test_an_absurd_retry_after_fails_the_attempt_as_rate_limited(hostile, probe, shown):
    out, elapsed, limiter = run(hostile, probe, max_retries=3)
    assert out.error.error_type == "rate_limited"
    assert len(out.attempts) == 1 and elapsed < 5  # not retried, not waited for
    assert shown in out.error.message and f"at most {C.MAX_RETRY_AFTER_S:.0f} s" in out.error.message
    assert out.error.retry_after_s > C.MAX_RETRY_AFTER_S and out.error.retry_after_s < float("inf")
    assert limiter._cooldown_until - limiter.clock() <= C.MAX_RETRY_AFTER_S  # the shared limiter waits at most the cap


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "inf"}, RETRY_AFTER_UNBOUNDED_S),
        ({"retry-after": "1e400"}, RETRY_AFTER_UNBOUNDED_S),
        ({"retry-after-ms": "1e400"}, RETRY_AFTER_UNBOUNDED_S),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"}, pytest.approx(4102444800.0 - 1_700_000_000.0)),
        ({"retry-after": "Fri, 01 Jan 99999 00:00:00 GMT"}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_is_parsed_safely(headers, expected):
    assert retry_after_seconds(headers, now=1_700_000_000.0) == expected


def test_a_nan_retry_after_on_a_5xx_is_still_a_server_error(hostile):
    out, _, _ = run(hostile, "retry_after_nan")
    assert out.error.error_type == "server_error" and out.error.retry_after_s is None


@pytest.mark.parametrize("asked", [float("inf"), float("nan"), 1e10, C.MAX_RETRY_AFTER_S + 1, -5.0])
def test_the_limiter_never_cools_down_past_the_cap(asked):
    limiter = ProviderLimiter(clock=lambda: 0.0, sleep=lambda s: None)
    limiter.cooldown(cooldown_seconds(asked))
    assert 0.0 <= limiter._cooldown_until <= C.MAX_RETRY_AFTER_S


# --- where result URLs may point ----------------------------------------------------------


@pytest.mark.parametrize("probe", probes(ends="image_fetch_failed/blocked_url"))
def test_result_urls_on_internal_hosts_are_not_fetched(hostile, probe):
    before = len(hostile.internal_hits)
    out, _, _ = run(hostile, probe)
    assert out.error.error_type == "image_fetch_failed" and out.error.code == "blocked_url", out.error.message
    assert len(hostile.internal_hits) == before


def test_a_private_image_store_can_be_allowed(hostile):
    before = len(hostile.internal_hits)
    out, _, _ = run(hostile, "internal_url", allow_private_images=True)
    assert out.ok, out.error
    assert len(hostile.internal_hits) == before + 1


def test_the_providers_own_origin_may_serve_its_images(hostile):
    out, _, _ = run(hostile, "echo_url")
    assert out.ok, out.error


def test_a_name_that_resolves_to_a_private_address_is_refused_at_connect(hostile, monkeypatch):
    port = int(hostile.internal_url.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "images.example.com":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    s = ClientSettings(provider="custom", base_url=hostile.base_url("healthy"), api_key=KEY, key_source="typed")
    before = len(hostile.internal_hits)
    with ImageClient(settings=s, limiter=ProviderLimiter(), sleep=lambda x: None) as c:
        with pytest.raises(E.ImageFetchFailed) as info:
            c.download(f"http://images.example.com:{port}/admin")
    assert info.value.code == "blocked_url" and "127.0.0.1" in info.value.message
    assert len(hostile.internal_hits) == before


def test_a_redirect_loop_is_image_fetch_failed(hostile):
    out, _, _ = run(hostile, "redirect_loop")
    assert out.error.error_type == "image_fetch_failed" and out.error.code == "redirect_loop"


# --- task ids, images, error bodies -----------------------------------------------------


def test_a_task_id_is_one_encoded_path_segment(hostile):
    before = len(hostile.seen_paths)  # the provider is the session's: other tests' requests are in there too
    out, _, _ = run(hostile, "task_traversal")
    assert not out.ok
    polls = [p for p in hostile.seen_paths[before:] if p.startswith("/task_traversal/")]
    assert polls == ["/task_traversal/v1/tasks/..%2F..%2F..%2Fadmin%2Fdelete%3Fall%3D1%23"]


@pytest.mark.parametrize("task_id", ["..", ".", "../../x", "a/b?c#d", "%2e%2e", "ok-123"])
def test_task_segment_never_leaves_its_segment(task_id):
    endpoint = build_endpoint("https://gw.example.com/v1")
    url = httpx.URL(endpoint.task_url_b(task_id))
    assert url.path.startswith("/v1/tasks/") and "/" not in url.raw_path.decode()[len("/v1/tasks/") :]
    assert task_segment(task_id) not in ("", ".", "..")


def test_a_png_that_lies_about_its_pixels_is_invalid(hostile):
    with pytest.raises(E.InvalidImage):
        validate(lying_png())
    out, _, _ = run(hostile, "lying_png")
    assert out.error.error_type == "invalid_image"


def test_an_unparseable_5xx_is_a_server_error(hostile):
    out, _, _ = run(hostile, "garbage_5xx")
    assert out.error.error_type == "server_error" and out.error.status == 503


def test_a_failed_task_with_an_error_object_is_task_failed(hostile):
    """A poll answering {"id", "status": "failed", "error": {...}} is the task's failure, not a 200 error page."""
    out, _, _ = run(hostile, "echo_task_b")
    assert out.error.error_type == "task_failed", out.error
