"""The official openai SDK against the sandbox: it must work, and raise its own matching classes."""

from __future__ import annotations

import base64

import pytest

openai = pytest.importorskip("openai")

from lib.images import validate  # noqa: E402


@pytest.fixture
def sdk(sandbox):
    # Under the sandbox's hang (3 s in tests) for the timeout case, with room for a busy machine otherwise.
    return openai.OpenAI(base_url=sandbox.base_url, api_key="sk-sandbox-test", max_retries=0, timeout=2.0)


def test_images_generate_returns_decodable_b64(sdk):
    result = sdk.images.generate(model="gpt-image-2", prompt="a teapot", size="1024x1536", n=2)
    assert len(result.data) == 2
    info = validate(base64.b64decode(result.data[0].b64_json))
    assert (info.width, info.height) == (1024, 1536)
    assert result.usage.total_tokens > 0


@pytest.mark.parametrize(
    "scenario,exc_name",
    [
        ("auth", "AuthenticationError"),
        ("permission", "PermissionDeniedError"),
        ("endpoint_not_found", "NotFoundError"),
        ("model_not_found", "NotFoundError"),
        ("bad_request", "BadRequestError"),
        ("content_policy", "BadRequestError"),
        ("rate_limited_always", "RateLimitError"),
        ("quota_exceeded", "RateLimitError"),
        ("server_error", "InternalServerError"),
        ("timeout", "APITimeoutError"),
        ("network", "APIConnectionError"),
    ],
)
def test_each_fault_raises_the_sdk_class(sdk, scenario, exc_name):
    with pytest.raises(getattr(openai, exc_name)) as info:
        sdk.images.generate(model="gpt-image-2", prompt="x", extra_headers={"X-Sandbox-Scenario": scenario})
    if scenario in ("content_policy", "quota_exceeded", "model_not_found"):
        code = {"content_policy": "moderation_blocked", "quota_exceeded": "insufficient_quota", "model_not_found": "model_not_found"}[
            scenario
        ]
        assert info.value.code == code


def test_sdk_retries_a_429_and_recovers(sandbox):
    sandbox.configure(scenario="rate_limited")
    client = openai.OpenAI(base_url=sandbox.base_url, api_key="sk-sandbox-test", max_retries=2, timeout=5)
    assert client.images.generate(model="gpt-image-2", prompt="retry me").data[0].b64_json
