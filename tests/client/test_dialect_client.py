"""Generating through a gateway dialect: the README's worked file against the sandbox's task API
over loopback (create route, ?taskId= polling, state words, resultJson), and its faults."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from lib import dialects as D
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from tests.support.dialect_support import README_DIALECT_NAME, readme_dialect_text
from tests.support.memory_recorder import MemoryRecorder


@pytest.fixture
def jobs():
    return D.parse_dialect(readme_dialect_text(), source="README.md")


def png(size=(20, 20)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def run(sandbox, dialect, prompt, *, clock=None, recorder=None, **settings):
    settings.setdefault("max_retries", 0)
    settings.setdefault("use_fallback", False)
    s = ClientSettings(provider="custom", base_url=sandbox.base_url, dialect=dialect, **settings)
    kwargs = {"sleep": clock.sleep, "clock": clock} if clock is not None else {}
    with ImageClient(settings=s, recorder=recorder or MemoryRecorder(), **kwargs) as client:
        return client.generate(GenerationRequest(prompt=prompt, model="gpt-image-2", size="1024x1536", n=2))


def test_the_readme_file_generates_against_the_sandbox_task_api(sandbox, jobs):
    recorder = MemoryRecorder()
    out = run(sandbox, jobs, "a paper boat", recorder=recorder)
    assert jobs.name == README_DIALECT_NAME
    assert out.ok, out.error and out.error.message
    assert [(i.info.width, i.info.height) for i in out.images] == [(1024, 1536), (1024, 1536)]
    accepted = next(e for e in out.events if e.kind == "accepted")
    assert "/api/v1/jobs/recordInfo?taskId=" in accepted.message
    (row,) = recorder.attempts.values()
    assert row["url"].endswith("/api/v1/jobs/createTask") and row["task_id"]
    assert out.preview.url.endswith("/api/v1/jobs/createTask")
    assert out.preview.body["input"] == {"prompt": "a paper boat", "size": "1024x1536", "n": 2, "output_format": "png"}


def test_a_task_in_the_fail_state_is_task_failed_with_the_gateways_reason(sandbox, jobs):
    out = run(sandbox, jobs, "a paper boat #task_failed")
    assert not out.ok and out.error.error_type == "task_failed"
    assert out.error.code == "internal_error" and "worker crashed" in out.error.message


def test_a_fail_state_whose_words_name_the_safety_system_is_content_policy(sandbox, jobs):
    out = run(sandbox, jobs, "a paper boat", extra_headers={"X-Sandbox-Scenario": "content_policy"})
    assert not out.ok and out.error.error_type == "content_policy"
    assert len(out.attempts) == 1  # never retried


def test_a_result_json_that_is_not_json_is_bad_response_naming_the_results_field(sandbox, jobs):
    out = run(sandbox, jobs, "a paper boat #bad_result_json", max_retries=2)
    assert not out.ok and out.error.error_type == "bad_response" and out.error.code == "dialect_results"
    assert "poll.answer.results" in out.error.message and "not valid JSON" in out.error.message
    assert len(out.attempts) == 1


def test_a_status_word_the_file_does_not_list_is_bad_response_naming_the_word(sandbox, jobs):
    out = run(sandbox, jobs, "a paper boat", extra_headers={"X-Sandbox-Job-Fault": "unknown_state"})
    assert not out.ok and out.error.error_type == "bad_response" and out.error.code == "dialect_status_word"
    assert "'paused'" in out.error.message and "poll.answer.status" in out.error.message


def test_a_task_still_pending_at_the_task_deadline_is_a_timeout(sandbox, jobs, fake_clock):
    sandbox.configure(task_duration_s=600.0)
    out = run(sandbox, jobs, "a paper boat", clock=fake_clock, task_deadline_s=20)
    assert not out.ok and out.error.error_type == "timeout" and out.error.code == "task_deadline"
    assert "generating" in out.error.message or "waiting" in out.error.message
    assert sum(fake_clock.sleeps) == pytest.approx(20)  # the task poll policy: up to the deadline, not past it
    assert fake_clock.sleeps[0] == pytest.approx(jobs.interval_s)  # the file's interval is the first wait


def test_a_create_answer_without_the_task_id_names_the_field(jobs, fake_clock):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 200, "msg": "success", "data": {"id": 7}})

    s = ClientSettings(provider="custom", base_url="https://gw.example.com", api_key="sk-" + "a" * 30, dialect=jobs, max_retries=0)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4, clock=fake_clock, sleep=fake_clock.sleep)
    client = ImageClient(settings=s, transport=httpx.MockTransport(handler), clock=fake_clock, sleep=fake_clock.sleep, limiter=limiter)
    with client:
        out = client.generate(GenerationRequest(prompt="a boat", model="gpt-image-2", size="1024x1024"))
    assert out.error.error_type == "bad_response" and out.error.code == "dialect_task_id"
    assert 'create.answer.task_id = "data.taskId"' in out.error.message


SYNC = """
name = "at once"
[create]
path = "images/make"
[create.body]
text = "{prompt}"
dims = "{width}*{height}"
[create.answer]
results = "result.pictures[*].b64"
"""


def test_a_dialect_that_answers_at_once_reads_base64_where_the_file_says(fake_clock):
    picture = "data:image/png;base64," + base64.b64encode(png((32, 24))).decode()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"result": {"pictures": [{"b64": picture}]}})

    s = ClientSettings(provider="custom", base_url="https://gw.example.com/v2", dialect=D.parse_dialect(SYNC), max_retries=0)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4, clock=fake_clock, sleep=fake_clock.sleep)
    client = ImageClient(settings=s, transport=httpx.MockTransport(handler), clock=fake_clock, sleep=fake_clock.sleep, limiter=limiter)
    with client:
        out = client.generate(GenerationRequest(prompt="a boat", model="gpt-image-2", size="1024x1536"))
    assert out.ok and [(i.info.width, i.info.height) for i in out.images] == [(32, 24)]
    (request,) = seen
    assert str(request.url) == "https://gw.example.com/v2/images/make"
    assert request.content == b'{"text":"a boat","dims":"1024*1536"}'


def mock_client(dialect, handler, clock, **settings):
    s = ClientSettings(provider="custom", base_url="https://gw.example.com", dialect=dialect, max_retries=0, **settings)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4, clock=clock, sleep=clock.sleep)
    return ImageClient(settings=s, transport=httpx.MockTransport(handler), clock=clock, sleep=clock.sleep, limiter=limiter)


def test_edits_streaming_and_a_broken_file_are_refused_before_sending(jobs, fake_clock):
    from lib.generation import ReferenceImage

    sent: list[httpx.Request] = []
    broken = D.choose("gone", [])
    for dialect, request in (
        (jobs, GenerationRequest(prompt="a boat", model="gpt-image-2", stream=True)),
        (jobs, GenerationRequest(prompt="a boat", model="gpt-image-2", images=[ReferenceImage("a.png", png((64, 64)))])),
        (broken, GenerationRequest(prompt="a boat", model="gpt-image-2")),
    ):
        with mock_client(dialect, lambda r: sent.append(r) or httpx.Response(500), fake_clock) as client:
            out = client.generate(request)
        assert out.error.error_type == "invalid_input" and out.error.param == "dialect" and not out.sent
    assert sent == []


def test_a_gateway_that_sends_more_images_than_asked_keeps_only_those_asked(jobs, fake_clock):
    urls = [f"https://gw.example.com/files/{i}.png" for i in range(50)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/files/"):
            return httpx.Response(200, content=png(), headers={"content-type": "image/png"})
        if request.method == "POST":
            return httpx.Response(200, json={"code": 200, "data": {"taskId": "t" * 5000}})
        assert request.url.params["taskId"] == "t" * 200  # an overlong task id is cut before it is sent back
        return httpx.Response(200, json={"data": {"state": "success", "resultJson": json.dumps({"resultUrls": urls})}})

    with mock_client(jobs, handler, fake_clock) as client:
        out = client.generate(GenerationRequest(prompt="a boat", model="gpt-image-2", size="1024x1024", n=2))
    assert out.ok and len(out.images) == 2


def test_preflight_names_each_problem_of_the_chosen_file_with_its_line(tmp_path):
    from lib import errors as E
    from lib.preflight import preflight

    folder = tmp_path / "dialects"
    folder.mkdir()
    broken = folder / "jobs.toml"
    broken.write_text(readme_dialect_text().replace("[create.answer]", "[create.answers]").replace('status = "data.state"', "status = 3"))
    settings = ClientSettings(provider="custom", base_url="https://gw.example.com", dialect=D.choose(README_DIALECT_NAME, [broken]))
    with pytest.raises(E.InvalidInput) as refused:
        preflight(GenerationRequest(prompt="a boat", model="gpt-image-2"), settings)
    lines = readme_dialect_text().splitlines()
    answers = lines.index("[create.answer]") + 1
    status = next(n for n, line in enumerate(lines, 1) if line.startswith("status ="))
    message = refused.value.message
    assert refused.value.param == "dialect" and E.step_of(refused.value) == 6
    assert f"{broken}: line {answers}: 'create.answers' is not a dialect setting (did you mean 'answer'?)" in message
    assert f"{broken}: line {status}: 'poll.answer.status' must be a path in quotes" in message
