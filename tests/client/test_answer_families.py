"""Answer families as gateways send them (shapes read from KIE.ai, PiAPI, Replicate, fal, DashScope, EvoLink
and one-api style gateways), bounded JSON, and business errors inside a 200."""

from __future__ import annotations

import json

import httpx
import pytest

from lib.answers import extract_items, read_task
from lib.classify import MAX_JSON_DEPTH, classify_response, load_json
from tests.support.mock_client import mock_client, png_b64

IMG = "https://cdn.example.com/out/1.png"

# --- deeply nested bodies: bounded, and read by their status --------------------------------------

DEEP = {"lists": "[" * 100_000 + "]" * 100_000, "objects": '{"a":' * 100_000 + "1" + "}" * 100_000, "open": "[" * 100_000}


@pytest.mark.parametrize("shape", list(DEEP))
@pytest.mark.parametrize(
    "status, expected",
    [
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_error"),
        (400, "bad_request"),
        (429, "rate_limited"),
        (200, "bad_response"),
    ],
)
def test_a_deeply_nested_body_is_read_by_its_status_never_as_our_bug(shape, status, expected):
    err = classify_response(status, DEEP[shape].encode())
    assert err.error_type == expected


@pytest.mark.parametrize("shape", list(DEEP))
@pytest.mark.parametrize("status, expected", [(500, "server_error"), (200, "bad_response")])
def test_the_client_reads_a_deeply_nested_answer_without_failing_itself(shape, status, expected):
    body = DEEP[shape].encode()
    with mock_client(lambda r: httpx.Response(status, content=body, headers={"content-type": "application/json"})) as c:
        out = c.generate(_req())
    assert out.error.error_type == expected


def test_json_deeper_than_the_bound_is_refused_and_within_it_is_read():
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(ValueError):
        load_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


# --- task envelopes ----------------------------------------------------------------------------------

TASKS = [
    # (family, body, shape, task id, status)
    ("kie-create", {"code": 200, "msg": "success", "data": {"taskId": "kie-1"}}, "a", "kie-1", "pending"),
    ("kie-create-code-0", {"code": 0, "data": {"taskId": "kie-2"}}, "a", "kie-2", "pending"),
    ("kie-record-waiting", {"code": 200, "data": {"taskId": "kie-3", "state": "waiting", "resultJson": ""}}, "a", "kie-3", "pending"),
    (
        "kie-record-success",
        {"code": 200, "data": {"taskId": "kie-4", "state": "success", "resultJson": json.dumps({"resultUrls": [IMG]})}},
        "a",
        "kie-4",
        "completed",
    ),
    ("kie-record-fail", {"code": 200, "data": {"taskId": "kie-5", "state": "fail", "failMsg": "internal"}}, "a", "kie-5", "failed"),
    ("kie-4o-flag", {"code": 200, "data": {"taskId": "kie-6", "successFlag": 0, "progress": "0.40"}}, "a", "kie-6", "pending"),
    ("taskID", {"data": {"taskID": "t-7", "status": "queued"}}, "a", "t-7", "pending"),
    (
        "piapi",
        {"code": 200, "data": {"task_id": "pi-8", "status": "processing", "output": None}, "message": "success"},
        "a",
        "pi-8",
        "pending",
    ),
    ("result-envelope", {"result": {"requestId": "r-9", "status": "IN_PROGRESS"}}, "a", "r-9", "pending"),
    (
        "dashscope",
        {"request_id": "req", "output": {"task_id": "ds-10", "task_status": "SUCCEEDED", "results": [{"url": IMG}]}},
        "a",
        "ds-10",
        "completed",
    ),
    (
        "fal-queue",
        {"request_id": "fal-11", "status": "IN_QUEUE", "response_url": "https://queue.fal.run/x/requests/fal-11"},
        "b",
        "fal-11",
        "pending",
    ),
    ("fal-accepted", {"request_id": "fal-12"}, "b", "fal-12", "pending"),
    (
        "replicate",
        {"id": "rep-13", "status": "starting", "output": None, "urls": {"get": "https://api.replicate.com/v1/predictions/rep-13"}},
        "b",
        "rep-13",
        "pending",
    ),
    ("replicate-done", {"id": "rep-14", "status": "succeeded", "output": [IMG]}, "b", "rep-14", "completed"),
    ("replicate-canceled", {"id": "rep-15", "status": "canceled", "error": None}, "b", "rep-15", "failed"),
    (
        "evolink",
        {"id": "task-unified-16", "object": "image.generation.task", "status": "pending", "progress": 0},
        "b",
        "task-unified-16",
        "pending",
    ),
    ("camel-top", {"taskId": "t-17", "status": "running"}, "b", "t-17", "pending"),
]


@pytest.mark.parametrize("family, body, shape, task_id, status", TASKS, ids=[t[0] for t in TASKS])
def test_task_families_are_read_with_their_id_and_status(family, body, shape, task_id, status):
    task = read_task(body)
    assert task is not None, family
    assert (task.shape, task.task_id, task.status) == (shape, task_id, status)


@pytest.mark.parametrize(
    "body",
    [
        {"created": 1, "data": [{"b64_json": "x"}]},
        {"id": "img-1", "data": [{"url": IMG}]},
        {"id": "chatcmpl-1", "object": "chat.completion", "choices": []},
        {"data": {"id": "u-1", "url": IMG}},
    ],
)
def test_answers_that_are_no_task_stay_no_task(body):
    assert read_task(body) is None


# --- results held in many places, also as a JSON string -------------------------------------------------

RESULTS = [
    ("kie-resultJson", {"taskId": "k", "state": "success", "resultJson": json.dumps({"resultUrls": [IMG]})}),
    ("result-string", {"status": "completed", "result": json.dumps({"images": [{"url": IMG}]})}),
    ("output-string", {"status": "completed", "output": json.dumps([IMG])}),
    ("data-string", {"status": "success", "data": json.dumps({"image_url": IMG})}),
    ("kie-4o-response", {"successFlag": 1, "response": {"resultUrls": [IMG]}}),
    ("kie-flux-response", {"successFlag": 1, "response": {"resultImageUrl": IMG, "originImageUrl": IMG}}),
    ("kie-4o-info", {"status": "SUCCESS", "info": {"result_urls": [IMG]}}),
    ("piapi-output", {"status": "completed", "output": {"image_url": IMG, "image_urls": [IMG]}}),
    ("dashscope", {"task_status": "SUCCEEDED", "results": [{"url": IMG}]}),
    ("replicate-list", {"status": "succeeded", "output": [IMG]}),
    ("replicate-one", {"status": "succeeded", "output": IMG}),
    ("fal-images", {"images": [{"url": IMG, "content_type": "image/png"}]}),
    ("camel-url", {"imageUrl": IMG}),
]


@pytest.mark.parametrize("family, body", RESULTS, ids=[r[0] for r in RESULTS])
def test_results_are_found_wherever_the_family_puts_them(family, body):
    assert [i.value for i in extract_items(body)][:1] == [IMG]


def test_a_replicate_answer_s_api_links_are_not_images():
    assert extract_items({"id": "p", "status": "processing", "urls": {"get": "https://api.replicate.com/v1/predictions/p"}}) == []


def test_a_kie_style_task_with_its_result_in_a_json_string_ends_with_the_image():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.method == "POST":
            return httpx.Response(200, json={"code": 200, "msg": "success", "data": {"taskId": "kie-abc"}})
        if request.url.path.endswith("/img.png"):
            import base64

            return httpx.Response(200, content=base64.b64decode(png_b64()), headers={"content-type": "image/png"})
        result = json.dumps({"resultUrls": ["http://127.0.0.1:9/files/img.png"]})
        return httpx.Response(
            200, json={"code": 200, "msg": "success", "data": {"taskId": "kie-abc", "state": "success", "resultJson": result}}
        )

    with mock_client(handler) as c:
        out = c.generate(_req())
    assert out.ok, out.error
    assert len(out.images) == 1 and any("kie-abc" in path for _, path in seen)


# --- business errors inside a 200 -------------------------------------------------------------------------

BUSINESS = [
    ({"code": 40001, "msg": "invalid parameter: size"}, "bad_request"),
    ({"code": 40101, "msg": "token is invalid"}, "auth"),
    ({"code": 42901, "msg": "requests too frequent"}, "rate_limited"),
    ({"code": 402, "msg": "Insufficient credits"}, "quota_exceeded"),
    ({"code": 50001, "msg": "generation failed"}, "server_error"),
    ({"code": 455, "msg": "Service under maintenance"}, "server_error"),
    ({"success": False, "message": "The model gpt-image-9 does not exist"}, "model_not_found"),
    ({"success": False, "message": "Your prompt was flagged by the safety system"}, "content_policy"),
    ({"success": False, "message": "system busy, retry later"}, "server_error"),
    ({"success": False, "message": "request timed out upstream"}, "timeout"),
    ({"success": False, "msg": "no permission for this model group"}, "permission"),
    ({"success": False, "message": "something odd"}, "bad_request"),
    ({"code": 1001, "msg": "余额不足"}, "quota_exceeded"),
]


@pytest.mark.parametrize("body, expected", BUSINESS, ids=[json.dumps(b)[:40] for b, _ in BUSINESS])
def test_a_business_error_in_a_200_is_read_by_its_words(body, expected):
    with mock_client(lambda r: httpx.Response(200, json=body)) as c:
        out = c.generate(_req())
    assert not out.ok and out.error.error_type == expected, out.error
    assert out.error.status == 200


def _req():
    from lib.generation import GenerationRequest

    return GenerationRequest(prompt="a harbour at dusk", model="gpt-image-2", size="1024x1024")
