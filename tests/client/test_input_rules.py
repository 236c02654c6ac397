"""The inputs the app refuses before sending are the documented ones, each refusal naming its rule,
and a refused request never reaches the (real) sandbox."""

from __future__ import annotations

import pytest

from lib import errors as E
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.preflight import NUMBER_RULES, parse_number, preflight
from tests.support.memory_recorder import MemoryRecorder

SETTINGS = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1")


def refused(**fields) -> E.InvalidInput:
    fields.setdefault("prompt", "a red kite")
    with pytest.raises(E.InvalidInput) as info:
        preflight(GenerationRequest(**fields), SETTINGS)
    return info.value


def accepted(**fields) -> None:
    fields.setdefault("prompt", "a red kite")
    preflight(GenerationRequest(**fields), SETTINGS)


@pytest.mark.parametrize(
    "fields,param,words",
    [
        (dict(model="gpt-image-2", size="512x512"), "size", "at least 655,360 pixels"),
        (dict(model="gpt-image-2", size="2896x2896"), "size", "at most 8,294,400 pixels"),
        (dict(model="dall-e-3", size="1024x1024", n=2), "n", "at most 1 image"),
        (dict(model="dall-e-3", size="1024x1024", prompt="x" * 4001), "prompt", "at most 4,000"),
        (dict(model="dall-e-2", size="512x512", prompt="x" * 1001), "prompt", "at most 1,000"),
        (dict(model="gpt-image-2", prompt="x" * 32_001), "prompt", "at most 32,000"),
        (dict(model="dall-e-3", size="1024x1024", quality="high"), "quality", "standard, hd"),
        (dict(model="gpt-image-2", quality="hd"), "quality", "auto, low, medium, high"),
        (dict(model="dall-e-3", size="1024x1024", output_format="webp"), "output_format", "only gpt-image models"),
        (dict(model="gpt-image-2", n=0), "n", "from 1 to 10"),
        (dict(model="gpt-image-2", n=11), "n", "from 1 to 10"),
        (dict(model="gpt-image-2", output_format="jpeg", output_compression=101), "output_compression", "from 0 to 100"),
        (dict(model="gpt-image-2", output_format="jpeg", output_compression=-1), "output_compression", "from 0 to 100"),
        (dict(model="gpt-image-2", output_format="png", output_compression=50), "output_compression", "jpeg and webp"),
        (dict(model="gpt-image-2", background="transparent", output_format="jpeg"), "background", "png or webp"),
    ],
)
def test_refusals_name_the_field_and_the_rule(fields, param, words):
    err = refused(**fields)
    assert err.param == param
    assert words in err.message


@pytest.mark.parametrize(
    "fields",
    [
        dict(model="gpt-image-2", size="2880x2880"),
        dict(model="gpt-image-2", size="3840x1280", n=10),
        dict(model="dall-e-3", size="1792x1024", quality="hd"),
        dict(model="dall-e-2", size="256x256", n=10, prompt="x" * 1000),
        dict(model="gpt-image-2", output_format="webp", output_compression=0, background="transparent"),
        dict(model="my-gateway-model", size="2K", quality="high"),
    ],
)
def test_documented_values_pass(fields):
    accepted(**fields)


@pytest.mark.parametrize(
    "name,raw,value,words",
    [
        ("n", "11", None, "from 1 to 10; 11 is out of range"),
        ("n", 0, None, "out of range"),
        ("n", "2.5", None, "whole number"),
        ("n", "", None, "is empty"),
        ("n", "three", None, "is not a number"),
        ("n", " 4 ", 4, None),
        ("read_timeout", "0.5", None, "from 1 to 900 s"),
        ("read_timeout", "1,000", None, "1,000 is out of range"),
        ("read_timeout", "nan", None, "finite"),
        ("read_timeout", "240", 240.0, None),
        ("rate_per_s", "0.05", None, "from 0.1 to 50 requests/s"),
        ("max_concurrency", "17", None, "from 1 to 16"),
        ("max_retries", "-1", None, "from 0 to 6"),
        ("size_w", "4000", None, "from 16 to 3,840 px"),
        ("output_compression", "100", 100, None),
    ],
)
def test_typed_numbers_are_read_or_refused_with_the_rule(name, raw, value, words):
    got, problem = parse_number(name, raw)
    assert got == value
    if words is None:
        assert problem is None
    else:
        assert NUMBER_RULES[name].label in problem and words in problem


@pytest.mark.parametrize("size", ["512x512", "16x16", "2896x2896", "1000x1000", "3200x1024"])
def test_a_refused_size_never_reaches_the_sandbox(sandbox, size):
    before = sandbox.sandbox.requests
    settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url, read_timeout_s=5.0, max_retries=0)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4)
    with ImageClient(settings=settings, recorder=MemoryRecorder(), limiter=limiter) as client:
        out = client.generate(GenerationRequest(prompt="a kite", model="gpt-image-2", size=size))
    assert out.error.error_type == "invalid_input" and out.error.param == "size"
    assert "Nearest valid size" in out.error.message
    assert sandbox.sandbox.requests == before


def test_the_sandbox_makes_a_size_at_the_edge_of_the_rule(sandbox):
    settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url, read_timeout_s=30.0, max_retries=0)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4)
    with ImageClient(settings=settings, recorder=MemoryRecorder(), limiter=limiter) as client:
        out = client.generate(GenerationRequest(prompt="a kite", model="gpt-image-2", size="816x816", quality="low"))
    assert out.ok, out.error
    assert (out.images[0].info.width, out.images[0].info.height) == (816, 816)
