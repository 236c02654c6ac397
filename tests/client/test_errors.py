"""The classifier against realistic provider answers and transport failures."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

from lib import errors as E
from lib.classify import classify_exception, classify_response, classify_task_failure
from lib.client import classify_answer, retry_after_seconds

J = "application/json"
H = "text/html"


def oa(message, type_="invalid_request_error", param=None, code=None):
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


# (id, status, content type, body, expected error_type)
ANSWERS = [
    # --- OpenAI error bodies
    ("openai-401-bad-key", 401, J, oa("Incorrect API key provided: sk-abc***xyz.", code="invalid_api_key"), "auth"),
    ("openai-401-no-key", 401, J, oa("You didn't provide an API key.", code=None), "auth"),
    (
        "openai-403-verify-org",
        403,
        J,
        oa(
            "Your organization must be verified to use the model `gpt-image-1`. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization."
        ),
        "permission",
    ),
    (
        "openai-403-region",
        403,
        J,
        oa("Country, region, or territory not supported", code="unsupported_country_region_territory", type_="request_forbidden"),
        "permission",
    ),
    ("openai-404-invalid-url", 404, J, oa("Invalid URL (POST /v1/image/generation)"), "endpoint_not_found"),
    (
        "openai-404-model",
        404,
        J,
        oa("The model `gpt-image-9` does not exist or you do not have access to it.", code="model_not_found"),
        "model_not_found",
    ),
    (
        "openai-400-param-model",
        400,
        J,
        oa("Invalid value: 'gpt-image2'. Supported values are: 'gpt-image-1' and 'gpt-image-2'.", param="model", code="invalid_value"),
        "model_not_found",
    ),
    (
        "openai-400-response-format",
        400,
        J,
        oa("Unknown parameter: 'response_format'.", param="response_format", code="unknown_parameter"),
        "bad_request",
    ),
    (
        "openai-400-size",
        400,
        J,
        oa(
            "Invalid value: '999x999'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.",
            param="size",
            code="invalid_value",
        ),
        "bad_request",
    ),
    (
        "openai-400-moderation",
        400,
        J,
        oa("Your request was rejected as a result of our safety system.", type_="image_generation_user_error", code="moderation_blocked"),
        "content_policy",
    ),
    (
        "openai-400-policy-violation",
        400,
        J,
        oa("Your request was rejected by the content policy.", code="content_policy_violation"),
        "content_policy",
    ),
    ("openai-400-safety-type-only", 400, J, oa("Request blocked.", type_="image_generation_user_error"), "content_policy"),
    (
        "openai-400-transparent-jpeg",
        400,
        J,
        oa("Transparent background requires output_format png or webp.", param="background", code="invalid_value"),
        "bad_request",
    ),
    (
        "openai-413-prompt-too-long",
        413,
        J,
        oa("The prompt is too long. Maximum length is 32000 characters.", param="prompt"),
        "bad_request",
    ),
    ("openai-422", 422, J, oa("Unprocessable entity: 'n' must be <= 10", param="n"), "bad_request"),
    (
        "openai-429-rate",
        429,
        J,
        oa(
            "Rate limit reached for gpt-image-1 in organization org-x on images per minute (IPM): Limit 5, Used 5.",
            type_="requests",
            code="rate_limit_exceeded",
        ),
        "rate_limited",
    ),
    (
        "openai-429-quota",
        429,
        J,
        oa(
            "You exceeded your current quota, please check your plan and billing details.",
            type_="insufficient_quota",
            code="insufficient_quota",
        ),
        "quota_exceeded",
    ),
    (
        "openai-400-billing-limit",
        400,
        J,
        oa("Billing hard limit has been reached", type_="billing_limit_user_error", code="billing_hard_limit_reached"),
        "quota_exceeded",
    ),
    (
        "openai-500",
        500,
        J,
        oa("The server had an error while processing your request. Sorry about that!", type_="server_error"),
        "server_error",
    ),
    (
        "openai-503-overloaded",
        503,
        J,
        oa("The engine is currently overloaded, please try again later", type_="server_error"),
        "server_error",
    ),
    ("openai-409-conflict", 409, J, oa("Another request is modifying this resource."), "server_error"),
    ("openai-408", 408, J, oa("Request timed out."), "timeout"),
    # --- gateway shapes
    (
        "gw-402-balance",
        402,
        J,
        json.dumps({"error": {"message": "Insufficient balance", "code": "insufficient_balance"}}),
        "quota_exceeded",
    ),
    (
        "gw-403-balance-cn",
        403,
        J,
        json.dumps({"error": {"message": "用户额度不足, 剩余额度: $0.01", "type": "new_api_error"}}),
        "quota_exceeded",
    ),
    (
        "gw-503-no-channel",
        503,
        J,
        json.dumps({"error": {"message": "当前分组 default 下对于模型 gpt-image-9 无可用渠道", "type": "new_api_error"}}),
        "server_error",
    ),
    (
        "gw-400-no-channel",
        400,
        J,
        json.dumps({"error": {"message": "No available channel for model gpt-image-9 under group default", "type": "one_api_error"}}),
        "model_not_found",
    ),
    ("gw-401-invalid-token", 401, J, json.dumps({"error": {"message": "无效的令牌", "type": "new_api_error"}}), "auth"),
    ("gw-flat-message", 401, J, json.dumps({"code": 401, "message": "invalid token"}), "auth"),
    ("gw-detail-string", 422, J, json.dumps({"detail": "size must be one of 1024x1024, 2048x2048"}), "bad_request"),
    (
        "gw-detail-list",
        422,
        J,
        json.dumps({"detail": [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]}),
        "bad_request",
    ),
    ("gw-error-string-policy", 400, J, json.dumps({"error": "content_policy_violation"}), "content_policy"),
    ("gw-data-error", 400, J, json.dumps({"data": {"status": "failed", "error": "content_policy_violation"}}), "content_policy"),
    (
        "gw-errors-list",
        400,
        J,
        json.dumps({"errors": [{"message": "Unsupported model seedream-9", "code": "unsupported_model"}]}),
        "model_not_found",
    ),
    ("gw-429-text", 429, "text/plain", "Too Many Requests", "rate_limited"),
    (
        "gw-429-json-quota-words",
        429,
        J,
        json.dumps({"error": {"message": "Your credit balance is too low to access the API."}}),
        "quota_exceeded",
    ),
    (
        "gw-nsfw",
        400,
        J,
        json.dumps({"error": {"message": "NSFW content detected in prompt", "code": "sensitive_content"}}),
        "content_policy",
    ),
    (
        "gw-403-key-invalid",
        403,
        J,
        json.dumps({"error": {"message": "API key not valid. Please pass a valid API key.", "code": 403}}),
        "auth",
    ),
    (
        "gw-200-error-object",
        200,
        J,
        json.dumps({"error": {"message": "upstream overloaded", "type": "server_error", "code": "upstream_error"}}),
        "server_error",
    ),
    (
        "gw-200-model",
        200,
        J,
        json.dumps({"error": {"message": "model gpt-image-9 not found", "code": "model_not_found"}}),
        "model_not_found",
    ),
    (
        "gw-200-param",
        200,
        J,
        json.dumps({"error": {"message": "size is invalid", "param": "size", "code": "invalid_value"}}),
        "bad_request",
    ),
    ("gw-200-rate", 200, J, json.dumps({"code": "rate_limit", "msg": "too many requests"}), "rate_limited"),
    ("gw-200-unknown-shape", 200, J, json.dumps({"created": 1, "output": {"weird": True}}), "bad_response"),
    # --- HTML pages and plain text
    (
        "nginx-404",
        404,
        H,
        "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>",
        "endpoint_not_found",
    ),
    (
        "nginx-405",
        405,
        H,
        "<html><head><title>405 Not Allowed</title></head><body><center><h1>405 Not Allowed</h1></center></body></html>",
        "endpoint_not_found",
    ),
    (
        "proxy-502",
        502,
        H,
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
        "server_error",
    ),
    (
        "cloudflare-524",
        524,
        H,
        "<!DOCTYPE html><html><head><title>example.com | 524: A timeout occurred</title></head></html>",
        "server_error",
    ),
    ("cloudflare-520", 520, H, "<html><head><title>520: Web server is returning an unknown error</title></head></html>", "server_error"),
    ("aws-504", 504, "application/json", json.dumps({"message": "Endpoint request timed out"}), "server_error"),
    ("html-200-login-page", 200, H, "<!doctype html><html><head><title>Sign in</title></head><body>Login</body></html>", "bad_response"),
    ("html-no-content-type", 503, "", "<html><body><h1>Service Unavailable</h1></body></html>", "server_error"),
    ("plain-500", 500, "text/plain", "Internal Server Error", "server_error"),
    ("plain-404-no-type", 404, "text/plain", "404 page not found", "endpoint_not_found"),
    # --- empty and broken bodies
    ("empty-401", 401, "", "", "auth"),
    ("empty-403", 403, "", "", "permission"),
    ("empty-404", 404, "", "", "endpoint_not_found"),
    ("empty-429", 429, "", "", "rate_limited"),
    ("empty-500", 500, "", "", "server_error"),
    ("empty-200", 200, J, "", "bad_response"),
    ("truncated-json-200", 200, J, '{"created": 1, "data": [{"b64_json": "iVBOR', "bad_response"),
    ("truncated-json-500", 500, J, '{"error": {"message": "boo', "server_error"),
    ("binary-garbage-400", 400, "application/octet-stream", b"\x00\x01\xff\xfe\x89".decode("latin-1"), "bad_request"),
]


def test_table_is_large_enough():
    assert len(ANSWERS) >= 40
    assert {a[4] for a in ANSWERS} >= {
        "auth",
        "permission",
        "endpoint_not_found",
        "model_not_found",
        "bad_request",
        "content_policy",
        "rate_limited",
        "quota_exceeded",
        "server_error",
        "timeout",
        "bad_response",
    }


@pytest.mark.parametrize("name,status,ctype,body,expected", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_classify_response(name, status, ctype, body, expected):
    err = classify_response(status, body.encode("utf-8"), headers={"content-type": ctype} if ctype else {})
    assert err.error_type == expected, f"{name}: {err!r}"
    assert isinstance(err, E.ImageLabError)
    assert err.status == status
    assert err.message  # always something to show


def test_provider_message_and_code_are_kept():
    err = classify_response(
        400,
        oa("Unknown parameter: 'response_format'.", param="response_format", code="unknown_parameter").encode(),
        headers={"content-type": J, "x-request-id": "req_123"},
    )
    assert err.provider_message == "Unknown parameter: 'response_format'."
    assert err.code == "unknown_parameter"
    assert err.param == "response_format"
    assert err.request_id == "req_123"
    assert isinstance(err, E.BadRequest) and isinstance(err, E.ProviderError)


def test_html_pages_are_summarised_not_dumped():
    err = classify_response(
        502, b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>", headers={"content-type": H}
    )
    assert err.provider_message == "502 Bad Gateway"


def test_rate_limit_carries_retry_after():
    err = classify_answer(429, oa("Rate limit", code="rate_limit_exceeded").encode(), {"content-type": J, "retry-after": "7"})
    assert isinstance(err, E.RateLimited)
    assert err.retry_after_s == 7
    assert err.retryable


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),  # now is 07:28:00
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),  # in the past
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "abc"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds(headers, now=now) == expected


def _req():
    return httpx.Request("POST", "https://api.example.com/v1/images/generations")


@pytest.mark.parametrize(
    "exc,expected",
    [
        (httpx.ConnectTimeout("timed out", request=_req()), "timeout"),
        (httpx.ReadTimeout("timed out", request=_req()), "timeout"),
        (httpx.WriteTimeout("timed out", request=_req()), "timeout"),
        (httpx.PoolTimeout("no connection", request=_req()), "timeout"),
        (httpx.ConnectError("[Errno -2] Name or service not known", request=_req()), "network"),
        (httpx.ConnectError("[Errno 111] Connection refused", request=_req()), "network"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=_req()), "network"),
        (httpx.RemoteProtocolError("peer closed connection without sending complete message body", request=_req()), "network"),
        (httpx.ReadError("[Errno 104] Connection reset by peer", request=_req()), "network"),
        (httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'htp://'."), "invalid_input"),
        (ConnectionResetError(104, "Connection reset by peer"), "network"),
        (TimeoutError("timed out"), "timeout"),
        (ssl.SSLError("bad handshake"), "network"),
        (json.JSONDecodeError("Expecting value", "", 0), "bad_response"),
        (KeyError("data"), "app_error"),  # our own code tripped: not the provider's fault
        (RuntimeError("something odd"), "app_error"),
    ],
)
def test_classify_exception(exc, expected):
    err = classify_exception(exc)
    assert err.error_type == expected
    assert err.message


def test_dns_failure_is_explained():
    err = classify_exception(httpx.ConnectError("[Errno -2] Name or service not known", request=_req()))
    assert "DNS" in err.message


@pytest.mark.parametrize(
    "error,expected",
    [
        ("content_policy_violation", "content_policy"),
        ({"code": "content_policy_violation", "message": "flagged"}, "content_policy"),
        ({"code": "internal_error", "message": "worker crashed"}, "task_failed"),
        ("internal_error", "task_failed"),
        ({"message": "insufficient balance"}, "quota_exceeded"),
        (None, "task_failed"),
        ({"data": {"status": "failed", "error": "content_policy_violation"}}, "content_policy"),
    ],
)
def test_classify_task_failure(error, expected):
    assert classify_task_failure(error, task_id="t1").error_type == expected


def test_every_type_has_info_and_class():
    for error_type in E.ERROR_TYPES:
        info = E.ERROR_INFO[error_type]
        assert info.fix and info.title
        err = E.make_error(error_type, "x")
        assert err.error_type == error_type
        assert isinstance(err, E.ImageLabError)


@pytest.mark.parametrize(
    "error_type,retried",
    [
        ("rate_limited", True),
        ("server_error", True),
        ("timeout", True),
        ("network", True),
        ("task_failed", True),
        ("auth", False),
        ("permission", False),
        ("model_not_found", False),
        ("content_policy", False),
        ("quota_exceeded", False),
        ("bad_request", False),
        ("invalid_image", False),
        ("bad_response", False),
        ("invalid_input", False),
        ("endpoint_not_found", False),
        ("interrupted", False),
        ("image_fetch_failed", False),
    ],
)
def test_retryability_matches_the_vocabulary(error_type, retried):
    assert E.is_retryable(E.make_error(error_type, "x")) is retried


def test_describe_has_everything_a_card_needs():
    err = classify_response(429, oa("quota", code="insufficient_quota").encode(), headers={"content-type": J})
    card = E.describe(err)
    assert card["error_type"] == "quota_exceeded"
    assert card["http_status"] == 429
    assert card["step"] == 5 and card["step_name"] == "Limits"
    assert "credits" in card["fix"]


def test_a_provider_code_named_internal_error_is_not_mistaken_for_our_bug():
    provider = classify_task_failure({"code": "internal_error", "message": "worker crashed"})
    assert E.describe(provider)["title"] == E.ERROR_INFO["task_failed"].title
    ours = classify_exception(AttributeError("'NoneType' object has no attribute 'get'"))
    card = E.describe(ours)
    assert ours.error_type == "app_error" and "Image Prompt Lab" in card["title"]
    assert card["step"] is None and card["step_name"] == "App"
    assert not E.is_retryable(ours)
