"""The judge: its request, its price before it runs, and a verdict read from answers of many shapes."""

from __future__ import annotations

import base64
import json

import pytest
from PIL import Image

from lib.checks.judge import (
    DEFAULT_JUDGE_MODEL,
    JUDGE_MAX_OUTPUT_TOKENS,
    JUDGE_PRICES,
    estimate_cost,
    image_tokens,
    judge_body,
    judge_result,
    read_verdict,
    usage_cost,
)
from tests.checks.support import encode, scene


def chat(content, **extra):
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}], **extra}


@pytest.mark.parametrize(
    ("answer", "passed", "reason"),
    [
        (chat('{"verdict": "pass", "reason": "A red fox sits on a rock."}'), True, "A red fox sits on a rock."),
        (chat('```json\n{"verdict": "FAIL", "reason": "No text on the sign."}\n```'), False, "No text on the sign."),
        (chat('{"pass": true, "explanation": "ok"}'), True, "ok"),
        (chat('{"result": "no"}'), False, ""),
        (chat("PASS - the poster reads GRAND OPENING."), True, "the poster reads GRAND OPENING"),
        (chat("Verdict: fail. The fox is blue."), False, "The fox is blue"),
        (chat([{"type": "text", "text": '{"verdict": "pass", "reason": "fine"}'}]), True, "fine"),
    ],
)
def test_verdict_families(answer, passed, reason):
    got, why, _text = read_verdict(answer)
    assert got is passed and why == reason


@pytest.mark.parametrize(
    "answer",
    [None, {}, {"choices": []}, {"choices": ["x"]}, chat(None), chat("I cannot tell from this image."), chat('{"verdict": "maybe"}')],
)
def test_no_verdict_is_never_a_pass(answer):
    passed, _reason, _text = read_verdict(answer)
    assert passed is None
    result = judge_result(answer, rubric="r", model="m")
    assert not result.passed and result.score == 0.0 and result.summary.startswith("No verdict")


@pytest.mark.parametrize(("w", "h", "tokens"), [(1024, 1024, 765), (2048, 4096, 1105), (512, 512, 255), (4096, 1024, 765)])
def test_image_tokens_follow_the_tile_rule(w, h, tokens):
    assert image_tokens(w, h) == tokens


def test_estimate_before_running():
    est = estimate_cost("the sign says OPEN", 1536, 1024)
    assert est.model == DEFAULT_JUDGE_MODEL and est.output_tokens == JUDGE_MAX_OUTPUT_TOKENS
    prices = JUDGE_PRICES[DEFAULT_JUDGE_MODEL]
    assert est.usd == pytest.approx((est.input_tokens * prices["text_input"] + JUDGE_MAX_OUTPUT_TOKENS * prices["text_output"]) / 1e6)
    assert "$" in est.label() and "per image" in est.label()
    unknown = estimate_cost("r", 1024, 1024, model="my-vision-model")
    assert "no price known for my-vision-model" in unknown.note
    table = {"my-vision-model": {"text_input": 10.0, "text_output": 20.0}}
    priced = estimate_cost("r", 1024, 1024, model="my-vision-model", table=table)
    assert priced.usd > unknown.usd and "priced as my-vision-model" in priced.note


def test_usage_cost_reads_only_counts():
    assert usage_cost({"prompt_tokens": 1000, "completion_tokens": 100}, "gpt-4.1-mini") == pytest.approx((1000 * 0.40 + 100 * 1.60) / 1e6)
    assert usage_cost({"prompt_tokens": "many"}, "gpt-4.1-mini") is None
    assert usage_cost(None, "gpt-4.1-mini") is None


def test_body_sends_the_image_as_a_data_url_scaled_down():
    big = encode(scene(3, (2048, 1024)))
    body = judge_body("a red square", big)
    assert body["model"] == DEFAULT_JUDGE_MODEL and body["max_tokens"] == JUDGE_MAX_OUTPUT_TOKENS
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "Rubric: a red square"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    from lib.checks._base import open_image

    sent = open_image(base64.b64decode(url.split(",", 1)[1]))
    assert sent.size == (1024, 512)
    json.dumps(body)  # JSON-able as it stands


def test_jpeg_stays_jpeg():
    body = judge_body("r", encode(Image.new("RGB", (64, 64), "blue"), "JPEG"))
    assert body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_result_carries_cost_and_reason():
    est = estimate_cost("r", 1024, 1024)
    result = judge_result(
        chat('{"verdict": "fail", "reason": "The text is misspelled."}', usage={"prompt_tokens": 800, "completion_tokens": 20}),
        rubric="r",
        model="gpt-4.1-mini",
        estimate=est,
    )
    assert not result.passed and result.summary == "Fail: The text is misspelled."
    assert result.detail["cost_usd"] == pytest.approx((800 * 0.40 + 20 * 1.60) / 1e6)
    assert result.detail["estimated_usd"] == round(est.usd, 6)
