"""EvoLink end to end against the sandbox's EvoLink face: ratio sizes, uploads, image_urls, and failures."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image

from lib.client import ImageClient
from lib.client._evolink import LINK_MARGIN_S, Link, Links
from lib.errors import step_of
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage
from lib.limits import ProviderLimiter
from lib.providers import EVOLINK_FILES_ROOT, EVOLINK_UPLOAD_PATH, files_upload_url, key_destination_problem
from tests.support.media_support import image_bytes
from tests.support.memory_recorder import MemoryRecorder

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

KEY = "evo-rehearsal-7k3q"
FOX = image_bytes((96, 64), colour=(220, 120, 20))
OWL = image_bytes((64, 96), colour=(20, 120, 220))


@pytest.fixture
def evolink(sandbox):
    sandbox.sandbox.fail_uploads(None)
    yield sandbox
    sandbox.sandbox.fail_uploads(None)


def client_for(server, recorder=None, **settings) -> ImageClient:
    settings.setdefault("read_timeout_s", 10.0)
    settings.setdefault("max_retries", 0)
    settings.setdefault("use_fallback", False)
    settings.setdefault("api_key", KEY)
    settings.setdefault("key_source", "typed")
    s = ClientSettings(provider="evolink", base_url=server.evolink_base_url, **settings)
    return ImageClient(settings=s, recorder=recorder or MemoryRecorder(), limiter=ProviderLimiter(rate_per_s=1000, burst=1000))


def edit(*refs: tuple[str, bytes], **kw) -> GenerationRequest:
    return GenerationRequest(prompt=kw.pop("prompt", "the fox and the owl at dusk"), images=[ReferenceImage(n, d) for n, d in refs], **kw)


def sizes(outcome) -> list[tuple[int, int]]:
    return [(im.info.width, im.info.height) for im in outcome.images]


def test_a_16_9_2k_generation_is_a_task_with_evolinks_pixels(evolink):
    events = []
    with client_for(evolink) as client:
        out = client.generate(GenerationRequest(prompt="a lighthouse in fog", size="16:9", resolution="2K"), on_event=events.append)
    assert out.ok, out.error
    assert sizes(out) == [(2736, 1536)]
    assert out.preview.body["size"] == "16:9" and out.preview.body["resolution"] == "2K"
    accepted = next(e for e in events if e.kind == "accepted")
    assert "task-unified-" in accepted.message and "/evolink/v1/tasks/" in accepted.message


def test_an_edit_uploads_each_reference_and_sends_their_links_in_the_generation(evolink):
    recorder = MemoryRecorder()
    before = evolink.sandbox.uploads
    events = []
    with client_for(evolink, recorder) as client:
        out = client.generate(edit(("fox.png", FOX), ("owl.png", OWL), size="1:1"), on_event=events.append)
    assert out.ok, out.error
    assert evolink.sandbox.uploads - before == 2
    urls = out.preview.body["image_urls"]
    assert len(urls) == 2 and all(u.startswith(evolink.sandbox.files_root + "/files/") for u in urls)
    assert out.preview.url.endswith("/evolink/v1/images/generations")  # not /images/edits, not multipart
    assert "image_urls" in out.preview.curl and KEY not in out.preview.curl and "$EVOLINK_API_KEY" in out.preview.curl
    assert out.preview.headers["Authorization"].endswith(KEY[-4:]) and KEY not in out.preview.headers["Authorization"]
    assert sum(e.kind == "uploading" for e in events) == 2
    (attempt,) = recorder.attempts.values()
    assert attempt["url"].endswith("/evolink/v1/images/generations")
    assert sizes(out) == [(1024, 1024)]


def test_the_same_file_twice_is_uploaded_once_and_a_second_run_reuses_the_link(evolink):
    before = evolink.sandbox.uploads
    with client_for(evolink) as client:
        first = client.generate(edit(("fox.png", FOX), ("fox-again.png", FOX)))
        second = client.generate(edit(("fox.png", FOX), prompt="the fox, closer"))
    assert first.ok and second.ok, (first.error, second.error)
    assert evolink.sandbox.uploads - before == 1
    assert first.preview.body["image_urls"][0] == first.preview.body["image_urls"][1] == second.preview.body["image_urls"][0]


def test_a_link_near_its_end_is_not_reused():
    now = [1_000_000.0]
    links = Links(lambda: now[0])
    links.put("abc", "https://files.example", Link("https://files.example/abc.png", now[0] + LINK_MARGIN_S + 10))
    assert links.get("abc", "https://files.example") == "https://files.example/abc.png"
    assert links.get("abc", "https://other.example") is None  # a link belongs to its file host
    now[0] += 11
    assert links.get("abc", "https://files.example") is None


def test_links_are_kept_in_the_store_for_the_next_run(evolink, tmp_path):
    from lib.store import Store

    store = Store(tmp_path / "db.sqlite")
    before = evolink.sandbox.uploads
    with client_for(evolink, store) as client:
        first = client.generate(edit(("fox.png", FOX)))
    with client_for(evolink, store) as client:  # a new client, as each job has
        second = client.generate(edit(("fox.png", FOX), ("owl.png", OWL)))
    assert first.ok and second.ok, (first.error, second.error)
    assert evolink.sandbox.uploads - before == 2  # the fox once, then only the owl
    assert second.preview.body["image_urls"][0] == first.preview.body["image_urls"][0]
    rows = list(store.db.query("SELECT sha256, files_root, url FROM uploads"))
    assert len(rows) == 2 and {r["files_root"] for r in rows} == {evolink.sandbox.files_root}
    assert not any(KEY in str(r) for r in rows)


def test_a_kept_link_that_ended_is_uploaded_again(tmp_path):
    from lib.store import Store

    store = Store(tmp_path / "db.sqlite")
    store.upload_kept("abc", "https://files.example", "https://files.example/abc.png", 2_000.0, now=1_000.0)
    assert store.upload_link("abc", "https://files.example", valid_until=1_500.0) == ("https://files.example/abc.png", 2_000.0)
    assert store.upload_link("abc", "https://files.example", valid_until=2_000.0) is None
    store.upload_kept("def", "https://files.example", "https://files.example/def.png", 9_000.0, now=3_000.0)
    assert [r["sha256"] for r in store.db.query("SELECT sha256 FROM uploads")] == ["def"]  # the ended one was dropped


def test_the_preview_names_files_not_uploaded_yet(evolink):
    with client_for(evolink) as client:
        preview = client.preview(edit(("fox.png", FOX)))
    assert preview.body["image_urls"] == [f"(uploaded when sent: fox.png, {len(FOX):,} bytes)"]
    assert preview.form is None


@pytest.mark.parametrize(
    ("fault", "error_type", "step"),
    [
        ("auth", "auth", 1),
        ("network", "network", 2),
        ("server_error", "server_error", 2),
        ("bad_response", "bad_response", 6),
        ("invalid_image", "invalid_image", 7),
    ],
)
def test_an_upload_that_fails_is_the_attempts_error_and_no_generation_is_sent(evolink, fault, error_type, step):
    evolink.sandbox.fail_uploads(fault)
    before = evolink.sandbox.requests
    with client_for(evolink) as client:
        out = client.generate(edit(("fox.png", FOX)))
    assert not out.ok
    assert out.error.error_type == error_type
    assert "Uploading reference image 1 ('fox.png')" in out.error.message
    assert step_of(out.error) == step
    assert evolink.sandbox.requests == before  # the generation itself never went out
    assert KEY not in out.error.message


def test_the_sandbox_reads_only_links_of_its_own_file_host(evolink):
    answer = httpx.post(
        evolink.evolink_base_url + "/images/generations",
        json={"model": "gpt-image-2", "prompt": "x", "image_urls": ["https://elsewhere.example/a.png"]},
        headers={"Authorization": "Bearer k"},
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "image_urls"


def test_no_file_host_known_refuses_the_edit_before_uploading(evolink, monkeypatch):
    s = ClientSettings(provider="evolink", base_url="http://127.0.0.1:9/v1", api_key=KEY, key_source="typed", use_fallback=False)
    with ImageClient(settings=s, recorder=MemoryRecorder()) as client:
        out = client.generate(edit(("fox.png", FOX)))
    assert out.error.error_type == "invalid_input" and out.error.code == "no_files_host"


def test_evolinks_key_goes_to_its_file_host_and_nowhere_else():
    assert files_upload_url("https://api.evolink.ai") == EVOLINK_FILES_ROOT + EVOLINK_UPLOAD_PATH
    assert key_destination_problem("k" * 20, "environment", "api.evolink.ai", EVOLINK_FILES_ROOT + EVOLINK_UPLOAD_PATH) is None
    assert key_destination_problem("k" * 20, "environment", "api.evolink.ai", "https://files.attacker.example/up") is not None
    assert key_destination_problem("k" * 20, "environment", "api.openai.com", EVOLINK_FILES_ROOT + EVOLINK_UPLOAD_PATH) is not None


def test_a_configured_key_is_not_uploaded_to_the_sandbox(evolink):
    """EVOLINK_API_KEY belongs to api.evolink.ai: on the sandbox it is withheld, before any upload."""
    before = evolink.sandbox.uploads
    with client_for(evolink, key_source="environment", key_host="api.evolink.ai") as client:
        out = client.generate(edit(("fox.png", FOX)))
    assert out.error.error_type == "invalid_input" and out.error.code == "key_host"
    assert evolink.sandbox.uploads == before


def test_a_reference_makes_the_auto_size_its_own(evolink):
    with client_for(evolink) as client:
        out = client.generate(edit(("owl.png", OWL), size="auto"))
    assert out.ok, out.error
    assert sizes(out) == [Image.open(io.BytesIO(OWL)).size]


def _answering(upload_answer: httpx.Response):
    """A small EvoLink: the upload answers ``upload_answer``; a generation that gets through is a test failure."""
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        if request.url.path.endswith("/files/upload/base64"):
            return upload_answer
        raise AssertionError(f"nothing but the upload may be sent: {request.url}")

    return httpx.MockTransport(handle), sent


@pytest.mark.parametrize(
    ("answer", "error_type"),
    [
        (httpx.Response(200, json={"success": False, "code": 401, "msg": "Invalid API key"}), "auth"),
        (httpx.Response(200, json={"success": False, "code": 402, "msg": "Insufficient balance"}), "quota_exceeded"),
        (httpx.Response(200, json={"success": True, "data": {"file_url": "javascript:alert(1)"}}), "bad_response"),
        (httpx.Response(200, json={"success": True, "data": {"file_url": "https://f.example/" + "a" * 5000}}), "bad_response"),
        (httpx.Response(200, json=["not", "an", "object"]), "bad_response"),
        (httpx.Response(200, text="<html>maintenance</html>"), "bad_response"),
        (httpx.Response(415, json={"success": False, "code": 415, "msg": "Unsupported media type"}), "invalid_image"),
        (httpx.Response(413, json={"success": False, "code": 413, "msg": "File too large"}), "bad_request"),
    ],
)
def test_an_upload_answer_that_is_no_link_is_classified_and_nothing_else_is_sent(answer, error_type):
    transport, sent = _answering(answer)
    s = ClientSettings(provider="evolink", api_key=KEY, key_source="typed", use_fallback=False, max_retries=0)
    with ImageClient(settings=s, recorder=MemoryRecorder(), transport=transport) as client:
        out = client.generate(edit(("fox.png", FOX)))
    assert out.error.error_type == error_type, out.error
    assert sent == [EVOLINK_FILES_ROOT + EVOLINK_UPLOAD_PATH]
    assert "Uploading reference image 1 ('fox.png')" in out.error.message and KEY not in out.error.message


def test_a_good_upload_on_evolink_sends_the_link_to_its_api_with_the_key_on_both_hosts():
    seen: list[tuple[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("authorization", "")))
        if request.url.path == EVOLINK_UPLOAD_PATH:
            return httpx.Response(200, json={"success": True, "code": 200, "data": {"file_url": "https://files.evolink.ai/u/fox.png"}})
        assert request.url.path == "/v1/images/generations"
        body = json.loads(request.content)
        assert body["image_urls"] == ["https://files.evolink.ai/u/fox.png"] and "image" not in body
        return httpx.Response(200, json={"id": "task-unified-1-x", "object": "image.generation.task", "status": "failed",
                                         "error": {"code": "content_policy_violation", "message": "blocked"}})  # fmt: skip

    s = ClientSettings(provider="evolink", api_key=KEY, key_source="environment", use_fallback=False, max_retries=0)
    with ImageClient(settings=s, recorder=MemoryRecorder(), transport=httpx.MockTransport(handle)) as client:
        out = client.generate(edit(("fox.png", FOX)))
    assert out.error.error_type == "content_policy"  # the task's own failure: the upload and the request went through
    assert seen == [("files-api.evolink.ai", f"Bearer {KEY}"), ("api.evolink.ai", f"Bearer {KEY}")]


@pytest.mark.parametrize(
    ("tag", "error_type"),
    [
        ("#timeout", "timeout"),
        ("#network", "network"),
        ("#bad_response", "bad_response"),
        ("#invalid_image", "invalid_image"),
        ("#image_fetch_failed", "image_fetch_failed"),
        ("#task_failed", "task_failed"),
        ("#content_policy", "content_policy"),
        ("#quota_exceeded", "quota_exceeded"),
        ("#auth", "auth"),
    ],
)
def test_the_evolink_face_rehearses_every_fault_by_tag(evolink, tag, error_type):
    with client_for(evolink, read_timeout_s=1.0) as client:
        out = client.generate(GenerationRequest(prompt=f"a lighthouse {tag}", size="16:9", resolution="1K"))
    assert not out.ok and out.error.error_type == error_type, out.error


def test_a_rate_limit_on_the_evolink_face_is_retried(evolink):
    with client_for(evolink, max_retries=2) as client:
        out = client.generate(GenerationRequest(prompt="a lighthouse #rate_limited", size="1:1"))
    assert out.ok, out.error
    assert [a.error_type for a in out.attempts] == ["rate_limited", None]
