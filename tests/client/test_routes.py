"""Capabilities belong to a route (a provider x model): pre-flight, the widgets' choices and
Diagnostics step 6 read the route's row, and a refusal names the route before anything is sent."""

from __future__ import annotations

import httpx
import pytest

from lib import errors as E
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage
from lib.limits import ProviderLimiter
from lib.preflight import preflight
from lib.providers import (
    EVOLINK_RATIOS,
    PRESETS,
    capability_rows,
    check_size,
    estimate_tokens,
    request_limits,
    route,
    size_choices,
)
from tests.support.memory_recorder import MemoryRecorder

EVOLINK = ClientSettings(provider="evolink", api_key="ev-test-key-0001")
WISGATE = ClientSettings(provider="wisgate", api_key="wg-test-key-0001")
OPENAI = ClientSettings(provider="openai", api_key="sk-proj-" + "a1B2c3D4" * 12)


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buf, "PNG")
    return buf.getvalue()


def refusal(settings: ClientSettings, **fields) -> E.InvalidInput:
    fields.setdefault("prompt", "a red kite over dunes")
    with pytest.raises(E.InvalidInput) as info:
        preflight(GenerationRequest(**fields), settings)
    return info.value


@pytest.mark.parametrize(
    "settings,fields,param,words",
    [
        (EVOLINK, dict(model="gpt-image-2-beta", n=2), "n", "gpt-image-2-beta @ EvoLink makes at most 1 image(s)"),
        (EVOLINK, dict(model="gpt-image-2-beta", quality="high"), "quality", "gpt-image-2-beta @ EvoLink takes no quality"),
        (EVOLINK, dict(model="gpt-image-2-beta", prompt="kite " * 2001), "prompt", "gpt-image-2-beta @ EvoLink takes at most 2,000"),
        (EVOLINK, dict(model="gpt-image-2", size="7:5"), "size", "not a ratio gpt-image-2 @ EvoLink takes"),
        (EVOLINK, dict(model="gpt-image-2", stream=True), "stream", "gpt-image-2 @ EvoLink does not stream"),
        (EVOLINK, dict(model="gpt-image-2", background="transparent"), "background", "gpt-image-2 @ EvoLink does not take background"),
        (OPENAI, dict(model="gpt-image-2", size="16:9"), "size", "gpt-image-2 @ OpenAI does not take a size as a ratio"),
        (WISGATE, dict(model="dall-e-3", size="1024x1024", n=2), "n", "dall-e-3 @ WisGate makes at most 1 image(s)"),
        (WISGATE, dict(model="dall-e-3", size="1024x1024", prompt="x" * 4001), "prompt", "dall-e-3 @ WisGate takes at most 4,000"),
    ],
)
def test_preflight_refuses_what_the_route_does_not_take_naming_it(settings, fields, param, words):
    err = refusal(settings, **fields)
    assert err.param == param and words in err.message, err.message


def test_an_evolink_mask_is_refused_naming_the_route():
    png = _png()
    err = refusal(
        EVOLINK,
        model="gpt-image-2",
        images=[ReferenceImage(data=png, filename="a.png")],
        mask=ReferenceImage(data=png, filename="m.png"),
    )
    assert err.param == "mask" and "gpt-image-2 @ EvoLink does not take a mask" in err.message


def test_dall_e_3_at_wisgate_cannot_edit_and_names_the_models_that_can():
    err = refusal(WISGATE, model="dall-e-3", size="1024x1024", images=[ReferenceImage(data=_png(), filename="a.png")])
    assert "dall-e-3 @ WisGate cannot edit images" in err.message and "gpt-image-2" in err.message


def test_what_a_route_takes_is_accepted():
    preflight(GenerationRequest(prompt="a kite", model="gpt-image-2", size="16:9"), EVOLINK)
    preflight(GenerationRequest(prompt="a kite", model="gpt-image-2", size="2048x1152", quality="high", n=4), EVOLINK)
    preflight(GenerationRequest(prompt="kite " * 400, model="gpt-image-2-beta", size="21:9"), EVOLINK)
    preflight(GenerationRequest(prompt="a kite", model="gpt-image-2", background="transparent"), WISGATE)


def test_a_refused_route_sends_nothing():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4)
    with ImageClient(settings=EVOLINK, recorder=MemoryRecorder(), limiter=limiter, transport=httpx.MockTransport(handler)) as client:
        out = client.generate(GenerationRequest(prompt="a kite", model="gpt-image-2-beta", n=3))
    assert out.error.error_type == "invalid_input" and "gpt-image-2-beta @ EvoLink" in out.error.message
    assert seen == []


def test_route_rows_name_their_source_and_what_is_not_confirmed():
    for pid in PRESETS:
        rows = capability_rows(pid)
        assert [r["route"].split(" @ ")[0] for r in rows] == list(PRESETS[pid].models)
        assert all(r["source"] and r["not confirmed"] for r in rows)
    beta = {r["route"]: r for r in capability_rows("evolink")}["gpt-image-2-beta @ EvoLink"]
    assert beta["n"] == "1" and beta["quality"] == "not taken" and beta["prompt"] == "2,000 tokens"
    assert beta["pricing"] == "per call, by resolution tier" and "callback_url" in beta["not confirmed"]
    assert "image_urls" in beta["edits"]


def test_widget_choices_follow_the_route():
    assert set(EVOLINK_RATIOS) <= set(size_choices("gpt-image-2", "evolink"))
    assert "16:9" not in size_choices("gpt-image-2", "openai")
    assert request_limits("gpt-image-2-beta", "evolink").qualities == ("auto",)
    assert request_limits("gpt-image-2", "evolink").qualities == ("auto", "low", "medium", "high")
    assert check_size("16:9", "gpt-image-2", "evolink") is None


def test_unknown_routes_leave_the_decision_to_the_provider():
    r = route("custom", "my-gateway-model")
    assert not r.capabilities.known and "may differ" in r.not_confirmed
    assert route("wisgate", "seedream-4-5").references == "multipart"
    # EvoLink has no /images/edits: a model it serves takes its references as links, whatever the model
    assert route("evolink", "seedream-4-5").references == "image_urls"


def test_token_estimate_errs_high():
    assert estimate_tokens("") == 0
    assert estimate_tokens("a kite") == 2
    assert estimate_tokens("internationalization") == 5  # 20 letters, 4 a token
    assert estimate_tokens("東京の夜") == 4


def test_gpt_image_2_beta_is_priced_per_call_by_tier():
    from lib import pricing as P

    assert P.estimate_request("gpt-image-2-beta", {"size": "16:9", "resolution": "2K"}, 1).usd is None  # no figures shipped
    table, problems = P.merge_overrides(P.DEFAULT_PRICES, {"gpt-image-2-beta": {"per_call_tier": {"1K": 0.01, "2k": 0.02, "8K": 1}}})
    row = table["gpt-image-2-beta"]
    assert problems == ["[prices] gpt-image-2-beta.per_call_tier.8K: expected 1K, 2K or 4K = price; ignored"]
    assert P.per_image_price(row, {"size": "16:9", "resolution": "2K"})[0] == 0.02
    assert P.per_image_price(row, {"size": "1024x1536"})[0] == 0.01  # 1.57 MP: tier 1K
    assert P.per_image_price(row, {"size": "2048x2048"})[0] == 0.02  # 4.19 MP: tier 2K
    price, notes = P.per_image_price(row, {"size": "3840x2160"})  # 8.29 MP: tier 4K, no price set
    assert price is None and "no per-call price for tier 4K" in notes
    assert route("evolink", "gpt-image-2-beta").pricing == "per_call_tier"


def test_a_ratio_size_travels_with_its_resolution():
    request = GenerationRequest(prompt="a kite", model="gpt-image-2", size="16:9", resolution="2K")
    preflight(request, EVOLINK)
    assert request.body()["size"] == "16:9" and request.body()["resolution"] == "2K"
    assert request.params()["resolution"] == "2K"
    assert GenerationRequest.from_dict(request.to_dict()).resolution == "2K"
    assert "resolution" not in GenerationRequest(prompt="a kite").body()


@pytest.mark.parametrize(
    "settings,fields,words",
    [
        (EVOLINK, dict(model="gpt-image-2", size="16:9", resolution="8K"), "gpt-image-2 @ EvoLink takes resolution 1K, 2K, 4K"),
        (OPENAI, dict(model="gpt-image-2", size="2048x1152", resolution="2K"), "gpt-image-2 @ OpenAI takes no resolution"),
    ],
)
def test_a_resolution_the_route_does_not_take_is_refused_naming_it(settings, fields, words):
    err = refusal(settings, **fields)
    assert err.param == "resolution" and words in err.message, err.message
