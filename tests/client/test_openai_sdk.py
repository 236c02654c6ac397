"""The official openai SDK against the sandbox: it must work, stream and edit, and raise its own matching classes."""

from __future__ import annotations

import base64

import pytest

openai = pytest.importorskip("openai")

from lib.images import validate  # noqa: E402
from tests.support.media_support import image_bytes, mask_bytes  # noqa: E402

REF = image_bytes((96, 64), colour=(20, 120, 220))


@pytest.fixture
def sdk(sandbox):
    # Under the sandbox's hang (3 s in tests) for the timeout case, with room for a busy machine otherwise.
    return openai.OpenAI(base_url=sandbox.base_url, api_key="sk-sandbox-test", max_retries=0, timeout=2.0)


@pytest.fixture
def media_sdk(sandbox):
    """With room for streams and edits, which take longer than one plain generation."""
    return openai.OpenAI(base_url=sandbox.base_url, api_key="sk-sandbox-test", max_retries=0, timeout=5)


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


# --- streaming and edits ------------------------------------------------------------


@pytest.mark.usefixtures("no_keys_from_other_tests")
def test_sdk_images_generate_stream_with_partials(media_sdk):
    events = list(
        media_sdk.images.generate(model="gpt-image-2", prompt="a harbour at night", stream=True, partial_images=2, size="1024x1024")
    )
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert validate(base64.b64decode(events[-1].b64_json)).width == 1024 and events[-1].usage.total_tokens > 0


@pytest.mark.usefixtures("no_keys_from_other_tests")
def test_sdk_images_edit_with_two_images_and_a_mask(media_sdk):
    result = media_sdk.images.edit(
        model="gpt-image-1.5",
        prompt="add a moon",
        image=[("a.png", REF, "image/png"), ("b.png", image_bytes((40, 40)), "image/png")],
        mask=("m.png", mask_bytes((96, 64)), "image/png"),
    )
    info = validate(base64.b64decode(result.data[0].b64_json))
    assert (info.width, info.height) == (96, 64) and result.usage.input_tokens_details.image_tokens > 0


@pytest.mark.usefixtures("no_keys_from_other_tests")
def test_sdk_streamed_edit_and_an_error_event(media_sdk):
    events = list(
        media_sdk.images.edit(model="gpt-image-1.5", prompt="x", image=("a.png", REF, "image/png"), stream=True, partial_images=1)
    )
    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    with pytest.raises(openai.APIError):
        list(
            media_sdk.images.generate(
                model="gpt-image-2", prompt="x", stream=True, partial_images=2, extra_headers={"X-Sandbox-Scenario": "stream_error"}
            )
        )


@pytest.mark.usefixtures("no_keys_from_other_tests")
def test_sdk_edit_faults_raise_bad_request(media_sdk):
    with pytest.raises(openai.BadRequestError) as info:
        media_sdk.images.edit(
            model="gpt-image-1.5", prompt="x", image=("a.png", REF, "image/png"), mask=("m.png", mask_bytes((10, 10)), "image/png")
        )
    assert info.value.code == "invalid_mask_dimensions"
