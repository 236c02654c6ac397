"""The sandbox's part in checks, over loopback: quoted text lettered legibly, #misspell, #wrong_size,
/v1/moderations and the deterministic vision judge at /v1/chat/completions."""

from __future__ import annotations

import base64

import httpx
import pytest
from PIL import Image

from lib.checks import CheckRequest, parse_spec, run_checks
from lib.checks.judge import judge_body, read_verdict
from lib.sandbox import BLOCKED_WORDS, misspell, sign_texts, wrong_size
from tests.checks.support import encode

KEY = {"Authorization": "Bearer sk-sandbox-test"}


def generate(sandbox, prompt: str, **fields) -> bytes:
    body = {"model": "gpt-image-2", "prompt": prompt, "size": "1024x1024", **fields}
    answer = httpx.post(sandbox.base_url + "/images/generations", json=body, headers=KEY, timeout=30)
    assert answer.status_code == 200, answer.text
    return base64.b64decode(answer.json()["data"][0]["b64_json"])


def test_misspell_changes_exactly_one_letter():
    for text in ("GRAND OPENING", "Fresh bread", "Hi", "50% off"):
        for seed in (b"\x00", b"\x07", b"\xff"):
            changed = misspell(text, seed)
            assert len(changed) == len(text) and sum(a != b for a, b in zip(text, changed, strict=True)) == 1
            assert changed.upper() != text.upper()
    assert sign_texts('a sign "OPEN" #misspell') != ["OPEN"]
    assert sign_texts('a sign "OPEN" and "CLOSED" #misspell')[1] == "CLOSED"  # the first piece only
    assert sign_texts('a sign "OPEN"') == ["OPEN"]


@pytest.mark.parametrize(("w", "h"), [(1024, 1024), (1536, 1024), (1024, 1536)])
def test_wrong_size_is_another_size(w, h):
    assert wrong_size(w, h) != (w, h)


def test_quoted_text_is_read_back_and_misspell_fails(sandbox):
    specs = [parse_spec("size"), parse_spec("text")]
    good_prompt = 'a bakery window with a sign that says "GRAND OPENING"'
    bad_prompt = good_prompt + " #misspell"
    good = run_checks(generate(sandbox, good_prompt), CheckRequest(prompt=good_prompt, size="1024x1024"), specs)
    bad = run_checks(generate(sandbox, bad_prompt), CheckRequest(prompt=bad_prompt, size="1024x1024"), specs)
    assert [(r.name, r.passed) for r in good] == [("size", True), ("text", True)], good[1].detail
    assert bad[0].passed and not bad[1].passed
    piece = bad[1].detail["pieces"][0]
    assert piece["asked"] == "GRAND OPENING" and piece["read"] != "grand opening" and piece["score"] > 0.8


def test_wrong_size_fails_the_size_check(sandbox):
    prompt = "a lighthouse #wrong_size"
    data = generate(sandbox, prompt, size="1536x1024", output_format="png")
    with Image.open(__import__("io").BytesIO(data)) as im:
        assert im.size == (1024, 1536)
    [result] = run_checks(data, CheckRequest(prompt=prompt, size="1536x1024", output_format="png"), [parse_spec("size")])
    assert not result.passed and "asked 1536x1024, got 1024x1536" in result.summary


def test_transparent_background_is_really_transparent(sandbox):
    prompt = "a sticker of a cat"
    data = generate(sandbox, prompt, background="transparent", output_format="png")
    [result] = run_checks(
        data, CheckRequest(prompt=prompt, size="1024x1024", background="transparent", output_format="png"), [parse_spec("size")]
    )
    assert result.passed, result.summary


def moderate(sandbox, payload, **headers):
    return httpx.post(sandbox.base_url + "/moderations", json=payload, headers={**KEY, **headers}, timeout=10)


def test_moderations_flag_the_sandbox_policy_words(sandbox):
    clean = moderate(sandbox, {"model": "omni-moderation-latest", "input": "a red fox in the snow"})
    assert clean.status_code == 200
    [result] = clean.json()["results"]
    assert result["flagged"] is False and not any(result["categories"].values())

    word = BLOCKED_WORDS[0]
    flagged = moderate(sandbox, {"input": [f"a scene full of {word}", "a kitten"]}).json()
    assert flagged["model"] == "omni-moderation-latest"
    first, second = flagged["results"]
    assert first["flagged"] and first["categories"]["violence"] and first["category_scores"]["violence"] > 0.5
    assert not second["flagged"]

    parts = [
        {"type": "text", "text": f"make it {word.upper()}"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(encode(Image.new("RGB", (8, 8)))).decode()}},
    ]
    [multi] = moderate(sandbox, {"input": parts}).json()["results"]
    assert multi["flagged"] and multi["category_applied_input_types"]["violence"] == ["text"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [({}, "missing_required_parameter"), ({"input": 42}, "invalid_type"), ({"input": [{"type": "audio"}]}, "invalid_value")],
)
def test_moderations_refuse_bad_input(sandbox, payload, code):
    answer = moderate(sandbox, payload)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code


def test_moderations_honour_scenarios(sandbox):
    assert moderate(sandbox, {"input": "x"}, **{"X-Sandbox-Scenario": "auth"}).status_code == 401
    assert moderate(sandbox, {"input": "x"}, **{"X-Sandbox-Scenario": "server_error"}).status_code == 502


def judge(sandbox, body, **headers):
    return httpx.post(sandbox.base_url + "/chat/completions", json=body, headers={**KEY, **headers}, timeout=10)


def test_judge_passes_a_picture_and_fails_a_blank_frame(sandbox):
    picture = generate(sandbox, 'a poster "JAZZ NIGHT"')
    answer = judge(sandbox, judge_body("the poster says JAZZ NIGHT", picture))
    assert answer.status_code == 200
    data = answer.json()
    passed, reason, _ = read_verdict(data)
    assert passed is True and "visible content" in reason
    assert data["usage"]["prompt_tokens"] > 765 and data["usage"]["completion_tokens"] > 0

    blank = encode(Image.new("RGB", (512, 512), (255, 255, 255)))
    passed, reason, _ = read_verdict(judge(sandbox, judge_body("anything", blank)).json())
    assert passed is False and "nearly blank" in reason
    black = encode(Image.new("RGB", (512, 512), (0, 0, 0)), "JPEG")
    assert read_verdict(judge(sandbox, judge_body("anything", black)).json())[0] is False
    # the same image, the same verdict
    assert judge(sandbox, judge_body("r", picture)).json()["choices"] == judge(sandbox, judge_body("r", picture)).json()["choices"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "gpt-4.1-mini"}, "missing_required_parameter"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "missing_required_parameter"),
        ({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "is it good?"}]}, "missing_image"),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,bm90IGFuIGltYWdl"}}]}
                ],
            },
            "invalid_image_format",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}],
            },
            "invalid_image_format",
        ),
    ],
)
def test_judge_refuses_bad_requests(sandbox, body, code):
    answer = judge(sandbox, body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code


def test_judge_honours_scenarios(sandbox):
    body = judge_body("r", encode(Image.new("RGB", (8, 8))))
    assert judge(sandbox, body, **{"X-Sandbox-Scenario": "rate_limited_always"}).status_code == 429
