"""The client against the real sandbox over loopback: every dialect, every error type."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from lib.client import ImageClient
from lib.errors import ERROR_TYPES
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.sandbox import DIALECTS, SCENARIOS
from tests.support.memory_recorder import MemoryRecorder

# scenario -> the error_type the client must report
EXPECTED = {
    "auth": "auth",
    "permission": "permission",
    "endpoint_not_found": "endpoint_not_found",
    "model_not_found": "model_not_found",
    "bad_request": "bad_request",
    "content_policy": "content_policy",
    "rate_limited_always": "rate_limited",
    "quota_exceeded": "quota_exceeded",
    "server_error": "server_error",
    "timeout": "timeout",
    "network": "network",
    "bad_response": "bad_response",
    "invalid_image": "invalid_image",
    "image_fetch_failed": "image_fetch_failed",
    "task_failed": "task_failed",
}


def client_for(sandbox, **settings) -> ImageClient:
    settings.setdefault("read_timeout_s", 1.0)
    settings.setdefault("max_retries", 1)
    s = ClientSettings(provider="sandbox", base_url=sandbox.base_url, **settings)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=16)
    return ImageClient(settings=s, recorder=MemoryRecorder(), limiter=limiter)


REQ = GenerationRequest(prompt="a paper boat on a pond", model="gpt-image-2", size="1024x1024")


def test_every_error_type_is_covered_here_or_elsewhere():
    covered = set(EXPECTED.values()) | {"invalid_input"}
    # interrupted: tests/store/test_store_reliability.py; app_error (a bug of ours): tests/client/test_client.py
    assert covered | {"interrupted", "app_error"} == set(ERROR_TYPES)


@pytest.mark.parametrize("dialect", list(DIALECTS))
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_every_dialect_returns_a_real_image(sandbox, dialect, fmt):
    sandbox.configure(dialect=dialect)
    req = GenerationRequest(prompt=f"a lantern {dialect}", model="gpt-image-2", size="1536x1024", output_format=fmt)
    with client_for(sandbox) as client:
        out = client.generate(req)
    assert out.ok, out.error
    (image,) = out.images
    assert (image.info.width, image.info.height) == (1536, 1024)
    assert image.info.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert image.source == ("b64" if dialect == "b64" else "url")


def test_n_images_and_distinct_prompts_give_distinct_images(sandbox):
    with client_for(sandbox) as client:
        a = client.generate(GenerationRequest(prompt="red", n=2))
        b = client.generate(GenerationRequest(prompt="blue"))
    assert len(a.images) == 2
    hashes = {i.info.sha256 for i in a.images + b.images}
    assert len(hashes) == 3


@pytest.mark.parametrize("scenario,expected", sorted(EXPECTED.items()))
@pytest.mark.parametrize("trigger", ["config", "header", "prompt"])
def test_every_fault_is_classified(sandbox, scenario, expected, trigger):
    headers = {}
    prompt = "a paper boat"
    if trigger == "config":
        sandbox.configure(scenario=scenario)
    elif trigger == "header":
        headers = {"X-Sandbox-Scenario": scenario}
    else:
        prompt += f" #{scenario}"
    # Only the hanging answer needs a short timeout; the others get time to answer on a busy machine.
    read_timeout_s = 0.4 if scenario == "timeout" else 10.0
    with client_for(sandbox, extra_headers=headers, read_timeout_s=read_timeout_s, max_retries=0, use_fallback=False) as client:
        out = client.generate(GenerationRequest(prompt=prompt, model="gpt-image-2"))
    assert not out.ok
    assert out.error.error_type == expected, out.error.message
    assert out.attempts[-1].error_type == expected


def test_blocked_word_is_content_policy(sandbox):
    with client_for(sandbox) as client:
        out = client.generate(GenerationRequest(prompt="a scene full of gore"))
    assert out.error.error_type == "content_policy" and len(out.attempts) == 1


@pytest.mark.parametrize("dialect", ["task_a", "task_b"])
def test_policy_block_inside_a_task(sandbox, dialect):
    sandbox.configure(dialect=dialect, scenario="content_policy")
    with client_for(sandbox) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "content_policy"


def test_invalid_input_sends_nothing(sandbox):
    before = sandbox.sandbox.requests
    with client_for(sandbox) as client:
        out = client.generate(GenerationRequest(prompt=""))
    assert out.error.error_type == "invalid_input"
    assert sandbox.sandbox.requests == before


def test_rate_limited_recovers_after_a_retry(sandbox):
    sandbox.configure(scenario="rate_limited")
    events = []
    with client_for(sandbox) as client:
        out = client.generate(REQ, on_event=events.append)
    assert out.ok
    assert [a.error_type for a in out.attempts] == ["rate_limited", None]
    assert any(e.kind == "retry" and "Retry-After" in e.message for e in events)


def test_fallback_chain_on_the_sandbox(sandbox):
    sandbox.configure(scenario="fallback")
    with client_for(sandbox) as client:
        out = client.generate(REQ)
    assert out.ok and out.model == "gpt-image-1.5"
    assert out.attempts[1].fallback_from == "gpt-image-2"


def test_unknown_model_is_model_not_found(sandbox):
    with client_for(sandbox, use_fallback=False) as client:
        out = client.generate(GenerationRequest(prompt="x", model="flux-ultra-9"))
    assert out.error.error_type == "model_not_found" and out.error.param == "model"


def test_k_requests_a_window_then_429_with_retry_after(sandbox):
    sandbox.configure(rate_limit_k=2, rate_window_s=30.0)
    with client_for(sandbox, max_retries=0, use_fallback=False) as client:
        results = [client.generate(REQ) for _ in range(3)]
    assert [r.ok for r in results] == [True, True, False]
    assert results[2].error.error_type == "rate_limited"
    assert 0 < results[2].error.retry_after_s <= 30


def test_task_progress_events(sandbox):
    sandbox.configure(dialect="task_b", task_duration_s=1.2)
    events = []
    with client_for(sandbox) as client:
        out = client.generate(REQ, on_event=events.append)
    assert out.ok
    kinds = [e.kind for e in events]
    assert "accepted" in kinds and "polling" in kinds and "downloading" in kinds and "saved" in kinds


def test_url_expires_after_its_ttl(sandbox):
    sandbox.configure(dialect="url", url_ttl_s=1.0)  # long enough for a busy machine to fetch it once
    with client_for(sandbox) as client:
        out = client.generate(REQ)
        assert out.ok
        time.sleep(1.1)
        with pytest.raises(Exception) as info:
            client.download(out.images[0].source_url)
    assert info.value.error_type == "image_fetch_failed" and info.value.status == 410


def test_a_wrong_prefix_reaches_the_server_and_is_endpoint_not_found(sandbox):
    # /api/v1 passes the pre-flight shape checks; the server has no such route.
    s = ClientSettings(provider="sandbox", base_url=sandbox.url + "/api/v1", max_retries=0)
    with ImageClient(settings=s, limiter=ProviderLimiter(rate_per_s=100, burst=100)) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "endpoint_not_found" and out.error.status == 404
    assert "nginx" in out.raw_response


def test_runtime_config_endpoint(sandbox):
    r = httpx.post(sandbox.url + "/sandbox/config", json={"scenario": "quota_exceeded"})
    assert r.status_code == 200 and r.json()["scenario"] == "quota_exceeded"
    bad = httpx.post(sandbox.url + "/sandbox/config", json={"scenario": "nope"})
    assert bad.status_code == 400 and "unknown scenario" in bad.text
    assert set(httpx.get(sandbox.url + "/sandbox/config").json()["scenarios"]) == set(SCENARIOS)


class _NoCooldown(ProviderLimiter):
    def cooldown(self, seconds: float) -> None:  # the behaviour we are guarding against
        pass


def _storm(sandbox, limiter_cls) -> tuple[int, list]:
    sandbox.configure(rate_limit_k=1, rate_window_s=0.5)
    s = ClientSettings(provider="sandbox", base_url=sandbox.base_url, read_timeout_s=5, max_retries=8, use_fallback=False)
    limiter = limiter_cls(rate_per_s=4, burst=8, max_concurrency=8)
    start = sandbox.sandbox.requests
    results = []

    def work():
        with ImageClient(settings=s, limiter=limiter, rand=lambda: 0.0) as client:
            results.append(client.generate(REQ))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sandbox.sandbox.requests - start, results


def test_eight_parallel_requests_after_a_429_do_not_storm(sandbox):
    """One 429 puts the whole provider in cooldown, then a single probe goes first."""
    sent, results = _storm(sandbox, ProviderLimiter)
    assert len(results) == 8 and all(r.ok for r in results)
    time.sleep(0.6)  # let the sandbox's window close
    sent_without, _ = _storm(sandbox, _NoCooldown)
    print(f"sends for 8 images: {sent} with the shared cooldown, {sent_without} without")
    assert sent < sent_without
