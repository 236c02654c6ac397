"""lib/pricing.py: every model in the table, from usage and from size x quality; overrides; the store hook."""

from __future__ import annotations

import math

import pytest

from lib import constants as C
from lib import pricing as P
from lib.client import ImageClient
from lib.generation import ClientSettings
from lib.store import Store

MODELS = ["gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini", "seedream-4-5"]


@pytest.fixture(autouse=True)
def no_user_secrets(tmp_path, monkeypatch):
    """Tests read the built-in table unless they write a secrets file of their own."""
    monkeypatch.setattr(P, "secrets_paths", lambda: [tmp_path / "none" / "secrets.toml"])
    P.reset_cache()
    yield
    P.reset_cache()


def test_table_has_every_required_row_and_a_checked_date():
    table = P.price_table()
    assert set(MODELS) <= set(table)
    assert P.PRICES_CHECKED.count("-") == 2 and P.PRICES_CHECKED[:2] == "20"
    for model in MODELS[:4]:
        row = table[model]
        for field in ("text_input", "image_input", "image_output"):
            assert row[field] > 0
        for quality in P.QUALITY_TIERS:
            assert set(row["per_image"][quality]) == {P.SQUARE, P.PORTRAIT, P.LANDSCAPE}
    assert table["seedream-4-5"]["flat_per_image"] > 0


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("quality", P.QUALITY_TIERS)
@pytest.mark.parametrize("size", [P.SQUARE, P.PORTRAIT, P.LANDSCAPE])
def test_size_quality_for_every_model(model, quality, size):
    row = P.DEFAULT_PRICES[model]
    one = row.get("flat_per_image") or row["per_image"][quality][size]
    cost = P.estimate(model, {"size": size, "quality": quality}, None, 3)
    assert cost.basis == "size_quality"
    assert cost.usd == pytest.approx(3 * one)
    assert "3 image(s)" in cost.note
    before = P.estimate_request(model, {"size": size, "quality": quality}, 3)
    assert before.usd == pytest.approx(cost.usd) and before.basis == "size_quality"


# text in, image in, image out, and the expected USD for each model with token rates
USAGE = {
    "input_tokens": 1250,
    "output_tokens": 4160,
    "total_tokens": 5410,
    "input_tokens_details": {"text_tokens": 250, "image_tokens": 1000},
}


@pytest.mark.parametrize(
    "model, expected",
    [
        ("gpt-image-2", 250 * 5 + 1000 * 8 + 4160 * 30),
        ("gpt-image-1.5", 250 * 5 + 1000 * 8 + 4160 * 32),
        ("gpt-image-1", 250 * 5 + 1000 * 10 + 4160 * 40),
        ("gpt-image-1-mini", 250 * 2 + 1000 * 2.5 + 4160 * 8),
    ],
)
def test_usage_for_every_model_with_token_rates(model, expected):
    cost = P.estimate(model, {"size": "1024x1024", "quality": "high"}, USAGE, 1)
    assert cost.basis == "usage"
    assert cost.usd == pytest.approx(expected / 1_000_000)
    assert "5,410 tokens" in cost.note


def test_seedream_usage_falls_back_to_its_per_image_price_and_says_so():
    cost = P.estimate("seedream-4-5", {}, USAGE, 2)
    assert cost.basis == "size_quality"
    assert cost.usd == pytest.approx(0.08)
    assert "usage not priced" in cost.note


def test_chat_style_usage_is_understood():
    usage = {"prompt_tokens": 100, "completion_tokens": 1000, "total_tokens": 1100}
    cost = P.estimate("gpt-image-1-mini", {}, usage, 1)
    assert cost.basis == "usage"
    assert cost.usd == pytest.approx((100 * 2 + 1000 * 8) / 1e6)


def test_openai_usage_without_details_counts_input_as_text_and_output_details_split():
    usage = {"input_tokens": 40, "output_tokens": 2000, "output_tokens_details": {"image_tokens": 1900, "text_tokens": 100}}
    cost = P.estimate("gpt-image-2", {}, usage, 1)
    assert cost.usd == pytest.approx((40 * 5 + 1900 * 30 + 100 * 10) / 1e6)


@pytest.mark.parametrize(
    "usage", [None, {}, {"total_tokens": 12}, {"input_tokens": 0, "output_tokens": 0}, "garbage", {"input_tokens": "many"}]
)
def test_useless_usage_falls_back_to_size_quality(usage):
    cost = P.estimate("gpt-image-2", {"size": "1024x1024", "quality": "low"}, usage, 1)
    assert cost.basis == "size_quality"
    assert cost.usd == pytest.approx(0.006)


def test_auto_size_and_quality_are_estimated_and_the_note_says_how():
    cost = P.estimate("gpt-image-2", {"size": "auto", "quality": "auto"}, None, 1)
    expected = P.DEFAULT_PRICES["gpt-image-2"]["per_image"][C.PRICING_AUTO_QUALITY][C.PRICING_AUTO_SIZE]
    assert cost.usd == pytest.approx(expected)
    assert "auto size taken as 1024x1024" in cost.note
    assert f"auto quality taken as {C.PRICING_AUTO_QUALITY}" in cost.note


def test_custom_size_is_priced_by_area_against_the_nearest_shape():
    cost = P.estimate("gpt-image-2", {"size": "3072x2048", "quality": "high"}, None, 1)
    assert cost.usd == pytest.approx(0.165 * (3072 * 2048) / (1536 * 1024))
    assert "custom size 3072x2048" in cost.note and "1536x1024" in cost.note
    square = P.estimate("gpt-image-2", {"size": "2048x2048", "quality": "low"}, None, 1)
    assert square.usd == pytest.approx(0.006 * 4)


def test_unknown_model_is_priced_as_the_default_and_snapshot_ids_find_their_row():
    unknown = P.estimate("my-gateway-model", {"size": "1024x1024", "quality": "medium"}, None, 1)
    assert unknown.usd == pytest.approx(0.053)
    assert "priced as gpt-image-2" in unknown.note
    snap = P.estimate("gpt-image-1-mini-2025-10-06", {"size": "1024x1024", "quality": "medium"}, None, 1)
    assert snap.usd == pytest.approx(0.011)
    assert P.find_row("doubao-seedream-4-5-251128", P.price_table())[0] == "seedream-4-5"
    assert P.find_row("bytedance/seedream-4.5", P.price_table())[0] == "seedream-4-5"
    assert P.find_row("gpt-image-1.5", P.price_table())[0] == "gpt-image-1.5"


@pytest.mark.parametrize("status", ["failed", "interrupted", "cancelled"])
def test_unfinished_or_failed_attempts_cost_nothing_unless_usage_says_so(status):
    none = P.estimate("gpt-image-2", {"quality": "high"}, None, 0, status=status)
    assert none.usd == 0 and none.basis == "size_quality"
    assert "assumed not billed" in none.note
    billed = P.estimate("gpt-image-2", {}, {"input_tokens": 10, "output_tokens": 1000}, 0, status=status)
    assert billed.basis == "usage" and billed.usd == pytest.approx((10 * 5 + 1000 * 30) / 1e6)


def test_nothing_can_be_estimated_without_a_row_and_without_the_default(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "PRICING_UNKNOWN_MODEL_AS", "not-in-the-table")
    cost = P.estimate("mystery", {}, None, 1)
    assert cost.usd is None and "no price known" in cost.note
    assert P.estimate_request("mystery", {}, 1).usd is None


def test_secrets_override_merges_and_bad_values_are_reported(tmp_path, monkeypatch):
    secrets = tmp_path / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text(
        'OPENAI_API_KEY = "sk-not-a-real-key"\n'
        '[prices]\nchecked = "2027-01-02"\n'
        '[prices."gpt-image-2"]\nimage_output = 60.0\ntext_input = "cheap"\n'
        '[prices."gpt-image-2".per_image.high]\n"1024x1024" = 0.5\n'
        '[prices."my-gateway-model"]\nflat_per_image = 0.02\n'
    )
    monkeypatch.setattr(P, "secrets_paths", lambda: [secrets])
    P.reset_cache()
    table = P.price_table()
    assert table["gpt-image-2"]["image_output"] == 60.0
    assert table["gpt-image-2"]["text_input"] == 5.0  # the bad value is ignored
    assert table["gpt-image-2"]["per_image"]["high"]["1024x1024"] == 0.5
    assert table["gpt-image-2"]["per_image"]["high"]["1536x1024"] == 0.165  # untouched
    assert P.prices_checked() == "2027-01-02"
    assert any("cheap" in p for p in P.table_problems())
    assert P.estimate("my-gateway-model", {}, None, 3).usd == pytest.approx(0.06)
    assert P.estimate("gpt-image-2", {"size": "1024x1024", "quality": "high"}, None, 1).usd == pytest.approx(0.5)
    assert "sk-not" not in repr(table)


def test_unreadable_secrets_file_keeps_the_defaults(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("[prices\nbroken = ")
    monkeypatch.setattr(P, "secrets_paths", lambda: [secrets])
    P.reset_cache()
    assert P.price_table()["gpt-image-2"]["image_output"] == 30.0
    assert P.table_problems() and "could not be read" in P.table_problems()[0]


@pytest.mark.parametrize("value", [{"gpt-image-2": "free"}, {"gpt-image-2": {"per_image": {"high": 3}}}, {"x": {"bogus": 1}}, "nope"])
def test_malformed_overrides_never_crash(value):
    table, problems = P.merge_overrides(P.DEFAULT_PRICES, value)
    assert problems
    assert table["gpt-image-2"]["image_output"] == 30.0


def test_label_always_says_estimate():
    assert P.Cost(0.0531, "size_quality", "").label() == "~$0.053 (estimate)"
    assert P.Cost(None, "size_quality", "").label() == "no estimate"
    assert P.format_usd(12.5) == "~$12.50" and P.format_usd(0.004) == "~$0.0040"


def test_every_finished_attempt_is_stored_with_its_cost(tmp_path):
    store = Store(tmp_path / "imagelab.db")
    run = store.start_run(kind="generate", label="x", settings={})
    client = ImageClient(settings=ClientSettings(), recorder=store)

    def attempt(model, params, **fields):
        row = {"run_id": run, "model": model, "prompt": "p", "params": params}
        aid = store.attempt_started(row)
        client.finish_attempt(aid, {"finished_at": 1.0, **fields}, row=row)
        return store.attempt(aid)

    ok = attempt("gpt-image-1", {"size": "1024x1536", "quality": "low"}, status="succeeded", image_count=2)
    assert ok["cost_basis"] == "size_quality" and math.isclose(ok["cost_usd"], 0.032)
    used = attempt(
        "gpt-image-2", {"size": "1024x1024"}, status="succeeded", image_count=1, usage={"input_tokens": 20, "output_tokens": 1000}
    )
    assert used["cost_basis"] == "usage" and math.isclose(used["cost_usd"], (20 * 5 + 1000 * 30) / 1e6)
    failed = attempt("gpt-image-2", {"quality": "high"}, status="failed", error_type="rate_limited", image_count=0)
    assert failed["cost_usd"] == 0 and failed["cost_basis"] == "size_quality"
    given = attempt("gpt-image-2", {}, status="succeeded", image_count=1, cost_usd=1.25, cost_basis="usage")
    assert given["cost_usd"] == 1.25


def _sandbox_usage(sandbox, **body) -> dict:
    import httpx

    body.setdefault("prompt", "a lighthouse on a basalt cliff at dusk")
    answer = httpx.post(f"{sandbox.base_url}/images/generations", json=body, headers={"X-Sandbox-Latency": "0"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["usage"]


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1.5", "gpt-image-1"])
@pytest.mark.parametrize("quality", ["low", "medium", "high"])
@pytest.mark.parametrize("size", [P.SQUARE, P.PORTRAIT, P.LANDSCAPE])
def test_sandbox_usage_priced_gives_the_documented_per_image_cost(sandbox, model, quality, size):
    usage = _sandbox_usage(sandbox, model=model, quality=quality, size=size, n=1)
    documented = P.DEFAULT_PRICES[model]["per_image"][quality][size]
    image_cost = usage["output_tokens"] * P.DEFAULT_PRICES[model]["image_output"] / 1_000_000
    assert image_cost == pytest.approx(documented, rel=0.04), (usage, documented)
    priced = P.estimate(model, {"size": size, "quality": quality}, usage, 1)
    assert priced.basis == "usage"
    text_cost = usage["input_tokens"] * P.DEFAULT_PRICES[model]["text_input"] / 1_000_000
    assert priced.usd == pytest.approx(image_cost + text_cost, abs=1e-6)


def test_sandbox_usage_follows_n_area_prompt_and_the_auto_defaults(sandbox):
    one = _sandbox_usage(sandbox, model="gpt-image-2", quality="high", size="1024x1024", n=1)
    three = _sandbox_usage(sandbox, model="gpt-image-2", quality="high", size="1024x1024", n=3)
    assert three["output_tokens"] == 3 * one["output_tokens"]
    assert three["input_tokens"] == one["input_tokens"]  # the prompt is read once
    wide = _sandbox_usage(sandbox, model="gpt-image-2", quality="high", size="2048x1152", n=1)
    landscape = _sandbox_usage(sandbox, model="gpt-image-2", quality="high", size="1536x1024", n=1)
    assert wide["output_tokens"] == round(landscape["output_tokens"] * (2048 * 1152) / (1536 * 1024))
    low = _sandbox_usage(sandbox, model="gpt-image-2", quality="low", size="1024x1024", n=1)
    assert low["output_tokens"] < one["output_tokens"] / 10
    auto = _sandbox_usage(sandbox, model="gpt-image-2", quality="auto", size="auto", n=1)
    medium = _sandbox_usage(sandbox, model="gpt-image-2", quality="medium", size="1024x1024", n=1)
    assert auto["output_tokens"] == medium["output_tokens"]
    long_prompt = _sandbox_usage(sandbox, model="gpt-image-2", quality="low", size="1024x1024", prompt="word " * 400)
    assert long_prompt["input_tokens_details"]["text_tokens"] == 500  # 2,000 characters at about 4 a token
    assert long_prompt["input_tokens"] > one["input_tokens"]
