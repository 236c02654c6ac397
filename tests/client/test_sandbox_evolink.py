"""The sandbox's EvoLink face over loopback: EvoLink's task object, its poll, ratio sizes and the file API."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from lib.providers import EVOLINK_RATIOS, EVOLINK_UPLOAD_PATH, _free_size_problem, ratio_pixels
from tests.support.media_support import image_bytes
from tests.support.wait_until import wait_until

AUTH = {"Authorization": "Bearer rehearsal"}
PNG = image_bytes((80, 60))


def post(server, body, headers=AUTH):
    return httpx.post(server.evolink_base_url + "/images/generations", json=body, headers=headers, timeout=10)


def finished(server, task_id):
    def poll():
        body = httpx.get(f"{server.evolink_base_url}/tasks/{task_id}", headers=AUTH, timeout=10).json()
        return body if body["status"] in ("completed", "failed") else None

    return wait_until(poll, timeout=10, message=f"task {task_id} did not finish")


def upload(server, data=PNG, mime="image/png", headers=AUTH):
    body = {"base64_data": f"data:{mime};base64,{base64.b64encode(data).decode()}"}
    return httpx.post(server.sandbox.files_root + EVOLINK_UPLOAD_PATH, json=body, headers=headers, timeout=10)


def test_a_generation_answers_evolinks_task_object(sandbox):
    answer = post(sandbox, {"model": "gpt-image-2", "prompt": "a red kite", "size": "16:9", "resolution": "2K"})
    assert answer.status_code == 200
    task = answer.json()
    assert task["id"].startswith("task-unified-") and task["object"] == "image.generation.task"
    assert task["status"] == "pending" and task["progress"] == 0 and task["type"] == "image"
    assert set(task["task_info"]) == {"can_cancel", "estimated_time"} and task["usage"]["billing_rule"] == "per_call"
    done = finished(sandbox, task["id"])
    assert done["status"] == "completed" and done["progress"] == 100 and len(done["results"]) == 1
    image = httpx.get(done["results"][0], timeout=10)
    assert Image.open(io.BytesIO(image.content)).size == (2736, 1536)


def test_a_failed_task_carries_an_error_object(sandbox):
    task = post(sandbox, {"model": "gpt-image-2", "prompt": "a bloodbath"}).json()
    done = finished(sandbox, task["id"])
    assert done["status"] == "failed" and "results" not in done
    assert done["error"]["code"] == "content_policy_violation" and done["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "gpt-image-2", "prompt": "x", "size": "7:5"}, "size"),
        ({"model": "gpt-image-2", "prompt": "x", "size": "16:9", "resolution": "8K"}, "resolution"),
        ({"model": "gpt-image-2-beta", "prompt": "x", "n": 2}, "n"),
        ({"model": "gpt-image-2-beta", "prompt": "x", "quality": "high"}, "quality"),
        ({"model": "gpt-image-2", "prompt": "x", "image_urls": []}, "image_urls"),
    ],
)
def test_what_evolink_does_not_take_is_refused_with_the_parameter(sandbox, body, param):
    answer = post(sandbox, body)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param


def test_no_key_is_401(sandbox):
    assert post(sandbox, {"model": "gpt-image-2", "prompt": "x"}, headers={}).status_code == 401


@pytest.mark.parametrize(
    ("ratio", "resolution", "pixels"),
    [("1:1", "1K", (1024, 1024)), ("16:9", "2K", (2736, 1536)), ("2:1", "4K", (3840, 1920)), ("16:9", "4K", (3840, 2160))],
)
def test_ratio_and_resolution_give_evolinks_pixels(ratio, resolution, pixels):
    assert ratio_pixels(ratio, resolution) == pixels


def test_every_ratio_at_every_resolution_is_a_valid_gpt_image_2_size_of_its_shape():
    for ratio in EVOLINK_RATIOS:
        rw, rh = (int(x) for x in ratio.split(":"))
        for resolution in ("1K", "2K", "4K"):
            w, h = ratio_pixels(ratio, resolution)
            assert _free_size_problem(w, h) is None, (ratio, resolution, w, h)
            assert abs(w / h - rw / rh) / (rw / rh) < 0.02, (ratio, resolution, w, h)
    with pytest.raises(ValueError):
        ratio_pixels("7:5", "1K")


def test_the_file_api_answers_evolinks_shape_on_a_second_port(sandbox):
    assert sandbox.sandbox.files_root != sandbox.url
    answer = upload(sandbox)
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True and body["code"] == 200
    data = body["data"]
    assert data["file_url"].startswith(sandbox.sandbox.files_root + "/files/") and data["mime_type"] == "image/png"
    assert data["file_size"] == len(PNG) and data["expires_at"].endswith("Z")
    assert httpx.get(data["file_url"], timeout=10).content == PNG
    # the file host is a host of its own: the API's routes are not there, nor its uploads on the API's port
    assert httpx.get(sandbox.sandbox.files_root + "/v1/models", timeout=10).status_code == 404
    assert httpx.post(sandbox.url + EVOLINK_UPLOAD_PATH, json={}, headers=AUTH, timeout=10).status_code == 404


def test_the_file_api_wants_a_key_and_an_image(sandbox):
    assert upload(sandbox, headers={}).status_code == 401
    refused = upload(sandbox, data=b"%PDF-1.7 not an image", mime="application/pdf")
    assert refused.status_code == 400 and refused.json()["success"] is False
    bad = httpx.post(sandbox.sandbox.files_root + EVOLINK_UPLOAD_PATH, json={"base64_data": "nope"}, headers=AUTH, timeout=10)
    assert bad.status_code == 400


def test_image_urls_from_the_file_host_make_an_edit_of_the_reference(sandbox):
    link = upload(sandbox, data=image_bytes((96, 64), colour=(10, 200, 10))).json()["data"]["file_url"]
    task = post(sandbox, {"model": "gpt-image-2", "prompt": "the same, at night", "image_urls": [link]}).json()
    done = finished(sandbox, task["id"])
    image = Image.open(io.BytesIO(httpx.get(done["results"][0], timeout=10).content))
    assert image.size == (96, 64)  # auto with a reference: the reference's size
