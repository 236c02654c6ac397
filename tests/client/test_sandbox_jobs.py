"""The sandbox's task API in a gateway's own dialect (not OpenAI's), over loopback with plain httpx:
a create path, ?taskId= polling, state words, result URLs in the JSON string resultJson, and its faults."""

from __future__ import annotations

import json

import httpx
import pytest

from lib.sandbox import JOB_FAULTS, JOBS_CREATE_PATH, JOBS_POLL_PATH, TASK_APIS
from tests.support.wait_until import wait_until


def root(sandbox) -> str:
    return sandbox.base_url.removesuffix("/v1")


def create(sandbox, prompt="a paper boat", headers=None, **inputs):
    body = {"model": "gpt-image-2", "input": {"prompt": prompt, "size": "1024x1024", "n": 1, **inputs}}
    return httpx.post(root(sandbox) + JOBS_CREATE_PATH, json=body, headers=headers or {}, timeout=10)


def poll(sandbox, task_id, headers=None):
    return httpx.get(root(sandbox) + JOBS_POLL_PATH, params={"taskId": task_id}, headers=headers or {}, timeout=10).json()


def finished(sandbox, task_id, headers=None):
    return wait_until(
        lambda: (a := poll(sandbox, task_id, headers))["data"]["state"] not in ("waiting", "generating") and a,
        message="the task never left waiting / generating",
    )


def test_a_task_goes_from_waiting_to_success_with_its_urls_in_a_json_string(sandbox):
    sandbox.configure(task_duration_s=0.5)
    answer = create(sandbox, n=2).json()
    assert answer["code"] == 200 and answer["msg"] == "success"
    task_id = answer["data"]["taskId"]
    first = poll(sandbox, task_id)
    assert first["code"] == 200 and first["data"]["state"] in ("waiting", "generating") and "resultJson" not in first["data"]
    done = finished(sandbox, task_id)["data"]
    assert done["state"] == "success" and isinstance(done["resultJson"], str)
    urls = json.loads(done["resultJson"])["resultUrls"]
    assert len(urls) == 2
    image = httpx.get(urls[0], timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert "jobs" in TASK_APIS and httpx.get(sandbox.base_url.removesuffix("/v1") + "/sandbox/config").json()["task_apis"] == TASK_APIS


def test_the_fail_state_carries_a_code_and_a_message(sandbox):
    data = finished(sandbox, create(sandbox, "a boat #task_failed").json()["data"]["taskId"])["data"]
    assert data["state"] == "fail" and data["failCode"] == "internal_error" and data["failMsg"]


@pytest.mark.parametrize("fault", sorted(JOB_FAULTS))
def test_its_own_faults_by_header_or_tag(sandbox, fault):
    for how in ({"headers": {"X-Sandbox-Job-Fault": fault}}, {"prompt": f"a boat #{fault}"}):
        data = finished(sandbox, create(sandbox, **how).json()["data"]["taskId"])["data"]
        if fault == "unknown_state":
            assert data["state"] == "paused"
        else:
            assert data["state"] == "success"
            with pytest.raises(ValueError):
                json.loads(data["resultJson"])


def test_bad_requests_answer_in_its_own_envelope(sandbox):
    assert create(sandbox, prompt="").json()["code"] == 422
    assert create(sandbox, n=11).json()["code"] == 422
    assert poll(sandbox, "no-such-task")["code"] == 404
    assert httpx.get(root(sandbox) + JOBS_POLL_PATH, timeout=10).json() == {"code": 422, "msg": "taskId is required", "data": None}


def test_the_faults_before_a_request_is_read_apply_as_on_every_route(sandbox):
    assert create(sandbox, headers={"X-Sandbox-Scenario": "auth"}).status_code == 401
    limited = create(sandbox, headers={"X-Sandbox-Scenario": "rate_limited_always"})
    assert limited.status_code == 429 and limited.headers["retry-after"]
