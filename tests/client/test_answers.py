"""Families of answers the engine used to misread, in the shapes gateways really send.

Sources of the shapes (public): one-api / new-api relay errors ({"error": {"message",
"type": "one_api_error"|"new_api_error", "code": "insufficient_user_quota"|"model_not_found"}},
sent with 403 or 503 and Chinese messages); Azure OpenAI content filters (code
"content_filter" / "contentFilter", innererror.code "ResponsibleAIPolicyViolation",
content_filter_result per category); gateways that answer HTTP 200 with an envelope
of their own ({"code": 401|429, "msg": ...}, {"success": false, "message": ...});
quota errors in a flat 429 body without an "error" wrapper.
"""

from __future__ import annotations

import json

import httpx
import pytest

from lib.answers import error_envelope
from lib.classify import classify_response
from lib.generation import GenerationRequest
from tests.support.mock_client import mock_client, png_b64

J = "application/json"

FAMILIES = [
    # --- errors wrapped in HTTP 200 ---------------------------------------------------
    ("200-code-429-msg", 200, {"code": 429, "msg": "请求过于频繁，请稍后再试", "data": None}, "rate_limited"),
    ("200-code-401-msg", 200, {"code": 401, "msg": "invalid token"}, "auth"),
    ("200-code-401-as-text", 200, {"code": "401", "message": "令牌验证失败"}, "auth"),
    ("200-code-403", 200, {"code": 403, "message": "no permission for this model group"}, "permission"),
    ("200-code-500", 200, {"code": 500, "msg": "upstream error"}, "server_error"),
    ("200-success-false-balance", 200, {"success": False, "message": "Insufficient account balance"}, "quota_exceeded"),
    ("200-success-false-model", 200, {"success": False, "message": "model gpt-image-2 not found"}, "model_not_found"),
    (
        "200-error-object-quota",
        200,
        {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}},
        "quota_exceeded",
    ),
    # --- gateway codes that contradict the HTTP status (one-api / new-api) -------------
    (
        "newapi-503-model-not-found",
        503,
        {"error": {"message": "当前分组 default 下对于模型 gpt-image-2 无可用渠道", "type": "new_api_error", "code": "model_not_found"}},
        "model_not_found",
    ),
    (
        "oneapi-403-user-quota",
        403,
        {
            "error": {
                "message": "用户额度不足，剩余额度为: $0.000000",
                "type": "one_api_error",
                "param": "",
                "code": "insufficient_user_quota",
            }
        },
        "quota_exceeded",
    ),
    (
        "newapi-403-pre-consume",
        403,
        {
            "error": {
                "message": "预扣费额度失败, 用户剩余额度: 0, 需要预扣费额度: 4000",
                "type": "new_api_error",
                "code": "insufficient_user_quota",
            }
        },
        "quota_exceeded",
    ),
    ("newapi-401-token", 401, {"error": {"message": "无效的令牌", "type": "new_api_error", "code": "invalid_api_key"}}, "auth"),
    (
        "oneapi-503-no-channel",
        503,
        {
            "error": {
                "message": "No available channel for model gpt-image-2 under group default",
                "type": "one_api_error",
                "code": "model_not_found",
            }
        },
        "model_not_found",
    ),
    # --- Azure OpenAI content filters ------------------------------------------------------
    (
        "azure-400-content-filter",
        400,
        {
            "error": {
                "code": "content_filter",
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
                "param": "prompt",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        "sexual": {"filtered": True, "severity": "high"},
                        "violence": {"filtered": False, "severity": "safe"},
                    },
                },
            }
        },
        "content_policy",
    ),
    (
        "azure-400-contentFilter-images",
        400,
        {"error": {"code": "contentFilter", "message": "Your task failed as a result of our safety system."}},
        "content_policy",
    ),
    (
        "azure-innererror-only",
        400,
        {"error": {"code": "BadRequest", "message": "Request blocked", "innererror": {"code": "ResponsibleAIPolicyViolation"}}},
        "content_policy",
    ),
    # --- quota in a flat 429 body ---------------------------------------------------------
    ("flat-429-insufficient-balance", 429, {"message": "insufficient balance"}, "quota_exceeded"),
    ("flat-429-account-balance", 429, {"msg": "Insufficient account balance, please top up"}, "quota_exceeded"),
    ("flat-429-chinese", 429, {"message": "账户余额不足"}, "quota_exceeded"),
    ("flat-429-credits", 429, {"detail": "Not enough credits to run this request"}, "quota_exceeded"),
    ("flat-429-real-rate-limit", 429, {"message": "Too many requests, slow down"}, "rate_limited"),
]


@pytest.mark.parametrize("name,status,body,expected", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_answer_families_are_classified(name, status, body, expected):
    err = classify_response(status, json.dumps(body, ensure_ascii=False).encode(), headers={"content-type": J})
    assert err.error_type == expected, (name, err)
    assert err.status == status  # the real HTTP status is kept, whatever the body says


TASK_FAILURES = [
    ("a-error-string-policy", {"data": {"task_id": "t1", "status": "failed", "error": "content_policy_violation"}}, "content_policy"),
    (
        "a-error-object",
        {"data": {"task_id": "t1", "status": "failed", "error": {"code": "generation_failed", "message": "worker crashed"}}},
        "task_failed",
    ),
    ("a-fail-reason-quota", {"data": {"task_id": "t1", "status": "failed", "fail_reason": "insufficient balance"}}, "quota_exceeded"),
    (
        "b-error-object",
        {
            "id": "task-1",
            "object": "image.generation.task",
            "status": "failed",
            "error": {"code": "internal_error", "message": "upstream failed"},
        },
        "task_failed",
    ),
    (
        "b-error-object-policy",
        {
            "id": "task-1",
            "object": "image.generation.task",
            "status": "failed",
            "error": {"code": "moderation_blocked", "message": "Your request was rejected by the safety system"},
        },
        "content_policy",
    ),
    (
        "b-error-object-quota",
        {
            "id": "task-1",
            "object": "image.generation.task",
            "status": "failed",
            "error": {"code": "insufficient_quota", "message": "You exceeded your current quota"},
        },
        "quota_exceeded",
    ),
    ("b-no-reason", {"id": "task-1", "object": "image.generation.task", "status": "failed"}, "task_failed"),
]


REQ = GenerationRequest(prompt="a kite", model="gpt-image-2", size="1024x1024")


def _pending(failed: dict) -> dict:
    if "data" in failed:
        return {"data": {"task_id": failed["data"]["task_id"], "status": "pending"}}
    return {"id": failed["id"], "object": failed["object"], "status": "pending", "progress": 10}


@pytest.mark.parametrize("when", ["first answer", "on a poll"])
@pytest.mark.parametrize("name,failed,expected", TASK_FAILURES, ids=[t[0] for t in TASK_FAILURES])
def test_a_failed_task_is_read_in_both_shapes(name, failed, expected, when):
    answers = [failed] if when == "first answer" else [_pending(failed), failed]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers.pop(0) if len(answers) > 1 else answers[0])

    with mock_client(handler) as client:
        out = client.generate(REQ)
    assert not out.ok and out.error.error_type == expected, out.error


@pytest.mark.parametrize("name,status,body,expected", [f for f in FAMILIES if f[1] == 200], ids=[f[0] for f in FAMILIES if f[1] == 200])
def test_errors_wrapped_in_200_are_read_through_the_client(name, status, body, expected):
    with mock_client(lambda request: httpx.Response(200, json=body)) as client:
        out = client.generate(REQ)
    assert out.error.error_type == expected
    assert out.attempts[0].http_status == 200


@pytest.mark.parametrize(
    "payload,is_error",
    [
        ({"created": 1, "data": [{"b64_json": "x" * 10}]}, False),  # an image: never an error
        ({"code": 0, "msg": "ok", "data": {"task_id": "t", "status": "pending"}}, False),
        ({"code": 200, "message": "success", "data": [{"url": "https://x/y.png"}]}, False),
        ({"code": 429, "msg": "slow down"}, True),
        ({"success": False, "message": "nope"}, True),
        ({"error": {"message": "x"}}, True),
        ({"id": "task-1", "status": "pending"}, False),
    ],
)
def test_error_envelope_is_told_from_an_answer(payload, is_error):
    assert error_envelope(payload) is is_error


def test_a_code_zero_envelope_with_an_image_still_succeeds():
    body = {"code": 0, "msg": "success", "data": [{"b64_json": png_b64((10, 20, 30), size=(8, 8))}]}
    with mock_client(lambda request: httpx.Response(200, json=body)) as client:
        out = client.generate(REQ)
    assert out.ok and len(out.images) == 1
