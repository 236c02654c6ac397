"""The client with httpx.MockTransport and a fake clock: nothing here really waits."""

from __future__ import annotations

import base64
import io
import json
import threading

import httpx
import pytest
from PIL import Image

from lib import constants as C
from lib import errors as E
from lib.answers import elide_base64, read_task
from lib.client import ImageClient, retry_delay, should_retry
from lib.generation import ClientSettings, GenerationRequest, key_hint
from lib.limits import ProviderLimiter
from tests.support.memory_recorder import MemoryRecorder

KEY = "sk-test-" + "Q" * 40 + "WXYZ"
BASE = "https://api.example.com/v1"
URL = BASE + "/images/generations"


def png_bytes(w=16, h=16, colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(out, "PNG")
    return out.getvalue()


PNG_B64 = base64.b64encode(png_bytes()).decode()


def ok_json(**extra):
    return httpx.Response(200, json={"created": 1, "data": [{"b64_json": PNG_B64}], **extra})


def err_json(status, message, code=None, param=None, type_="invalid_request_error", headers=None):
    return httpx.Response(status, json={"error": {"message": message, "type": type_, "param": param, "code": code}}, headers=headers)


class Script:
    """A MockTransport handler that plays answers in order and records requests with the fake time."""

    def __init__(self, answers, clock=None):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self.clock = clock

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.clock:
            self.times.append(self.clock())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def make_client(script, clock, *, recorder=None, limiter=None, **settings):
    s = ClientSettings(provider="openai", base_url=BASE, api_key=KEY, **settings)
    return ImageClient(
        settings=s,
        recorder=recorder or MemoryRecorder(),
        transport=httpx.MockTransport(script),
        sleep=clock.sleep,
        clock=clock,
        rand=lambda: 0.0,
        limiter=limiter or ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=8, clock=clock, sleep=clock.sleep),
    )


REQ = GenerationRequest(prompt="a lighthouse at dusk", model="gpt-image-2", size="1024x1024")


# --- the three retry functions ----------------------------------------------


def test_retry_delay_backoff_doubles_to_the_cap():
    assert [retry_delay(i, rand=lambda: 0.0) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_retry_delay_jitter_shortens_by_at_most_a_quarter():
    assert retry_delay(0, rand=lambda: 1.0) == pytest.approx(0.375)
    for r in (0.0, 0.3, 0.99):
        assert 0.375 <= retry_delay(0, rand=lambda: r) <= 0.5


def test_retry_delay_honours_retry_after_up_to_the_cap():
    assert retry_delay(0, 7.0) == 7.0
    assert retry_delay(0, C.MAX_RETRY_AFTER_S) == C.MAX_RETRY_AFTER_S
    assert retry_delay(0, C.MAX_RETRY_AFTER_S + 1, rand=lambda: 0.0) == 0.5  # beyond the cap: backoff


def test_should_retry():
    rate = E.RateLimited("x", status=429)
    assert should_retry(rate, 0, 2) and should_retry(rate, 1, 2) and not should_retry(rate, 2, 2)
    assert not should_retry(E.ContentPolicy("x"), 0, 2)
    assert not should_retry(E.RateLimited("x", retry_after_s=C.MAX_RETRY_AFTER_S + 5), 0, 2)


# --- the loop -----------------------------------------------------------------


def test_success_records_one_attempt(fake_clock):
    script = Script([ok_json(usage={"total_tokens": 10})], fake_clock)
    rec = MemoryRecorder()
    with make_client(script, fake_clock, recorder=rec) as client:
        out = client.generate(REQ)
    assert out.ok and out.model == "gpt-image-2" and len(out.images) == 1
    assert out.images[0].info.format == "PNG"
    assert out.usage == {"total_tokens": 10}
    (row,) = rec.attempts.values()
    assert row["status"] == "succeeded" and row["image_count"] == 1 and row["http_status"] == 200
    assert row["key_hint"] == "WXYZ"
    sent = script.requests[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "n": 1, "size": "1024x1024"}


def test_429_retry_after_ms_is_honoured_exactly(fake_clock):
    script = Script([err_json(429, "Rate limit", "rate_limit_exceeded", headers={"retry-after-ms": "1500"}), ok_json()], fake_clock)
    events = []
    with make_client(script, fake_clock) as client:
        out = client.generate(REQ, on_event=events.append)
    assert out.ok and len(out.attempts) == 2
    assert 1.5 in fake_clock.sleeps
    assert script.times[1] - script.times[0] >= 1.5
    retry = [e for e in events if e.kind == "retry"]
    assert retry and "Retrying in 1.5 s (429, Retry-After)" == retry[0].message


def test_retry_after_http_date(fake_clock):
    wall = 1445412480.0  # 07:28:00 GMT
    script = Script(
        [err_json(429, "slow down", "rate_limit_exceeded", headers={"retry-after": "Wed, 21 Oct 2015 07:28:04 GMT"}), ok_json()], fake_clock
    )
    client = make_client(script, fake_clock)
    client.wall_clock = lambda: wall
    assert client.generate(REQ).ok
    assert fake_clock.sleeps[0] == pytest.approx(4.0)


def test_server_errors_back_off_then_fall_back(fake_clock):
    script = Script(
        [httpx.Response(502, text="<html><title>502 Bad Gateway</title></html>", headers={"content-type": "text/html"})] * 3 + [ok_json()],
        fake_clock,
    )
    rec = MemoryRecorder()
    events = []
    with make_client(script, fake_clock, recorder=rec, max_retries=2) as client:
        out = client.generate(REQ, on_event=events.append)
    assert out.ok and out.model == "gpt-image-1.5"
    assert fake_clock.sleeps[:2] == [0.5, 1.0]
    rows = sorted(rec.attempts.values(), key=lambda r: r["attempt_no"])
    assert [r["attempt_no"] for r in rows] == [1, 2, 3, 4]
    assert [r["model"] for r in rows] == ["gpt-image-2"] * 3 + ["gpt-image-1.5"]
    assert [r["error_type"] for r in rows] == ["server_error"] * 3 + [None]
    assert rows[3]["fallback_from"] == "gpt-image-2"
    assert any(e.kind == "fallback" and "gpt-image-1.5" in e.message for e in events)
    assert len({r["run_id"] for r in rows}) == 1


def test_model_not_found_falls_back_without_retrying(fake_clock):
    script = Script([err_json(400, "Invalid value: 'gpt-image-2'.", "invalid_value", "model"), ok_json()], fake_clock)
    with make_client(script, fake_clock) as client:
        out = client.generate(REQ)
    assert out.ok and out.model == "gpt-image-1.5"
    assert [a.error_type for a in out.attempts] == ["model_not_found", None]
    assert fake_clock.sleeps == []


def test_content_policy_is_never_retried_nor_fallen_back(fake_clock):
    script = Script([err_json(400, "Rejected by safety system", "moderation_blocked")], fake_clock)
    with make_client(script, fake_clock) as client:
        out = client.generate(REQ)
    assert not out.ok and out.error.error_type == "content_policy"
    assert len(script.requests) == 1


def test_no_fallback_when_disabled(fake_clock):
    script = Script([err_json(404, "The model `gpt-image-2` does not exist", "model_not_found")], fake_clock)
    with make_client(script, fake_clock, use_fallback=False) as client:
        out = client.generate(REQ)
    assert not out.ok and len(script.requests) == 1


def test_fallback_skips_models_that_cannot_take_the_size(fake_clock):
    script = Script([err_json(404, "The model `gpt-image-2` does not exist", "model_not_found"), ok_json()], fake_clock)
    events = []
    req = GenerationRequest(prompt="wide", model="gpt-image-2", size="2048x1152")
    with make_client(script, fake_clock, fallbacks=("gpt-image-1.5", "seedream-4-5")) as client:
        out = client.generate(req, on_event=events.append)
    assert out.ok and out.model == "seedream-4-5"
    assert any(e.kind == "skipped" and "gpt-image-1.5" in e.message for e in events)


def test_long_retry_after_is_not_waited_for(fake_clock):
    script = Script([err_json(429, "Rate limit", "rate_limit_exceeded", headers={"retry-after": "600"})], fake_clock)
    with make_client(script, fake_clock, use_fallback=False) as client:
        out = client.generate(REQ)
    assert not out.ok and out.error.retry_after_s == 600
    assert len(script.requests) == 1 and 600 not in fake_clock.sleeps


@pytest.mark.parametrize(
    "request_,key,param",
    [
        (GenerationRequest(prompt="  "), KEY, "prompt"),
        (GenerationRequest(prompt="x" * (C.MAX_PROMPT_CHARS + 1)), KEY, "prompt"),
        (REQ, KEY + "\n", "api_key"),
        (REQ, '"' + KEY + '"', "api_key"),
        (REQ, "sk-abc...wxyz" + "a" * 40, "api_key"),
        (REQ, "", "api_key"),
        (REQ, "Bearer " + KEY, "api_key"),
        (GenerationRequest(prompt="x", model="gpt-image2"), KEY, "model"),
        (GenerationRequest(prompt="x", size="1000x1000"), KEY, "size"),
        (GenerationRequest(prompt="x", n=11), KEY, "n"),
        (GenerationRequest(prompt="x", background="transparent", output_format="jpeg"), KEY, "background"),
        (GenerationRequest(prompt="x", output_compression=50), KEY, "output_compression"),
        (GenerationRequest(prompt="x", extra={"response_format": "url"}), KEY, "response_format"),
    ],
)
def test_preflight_stops_before_sending(fake_clock, request_, key, param):
    script = Script([ok_json()], fake_clock)
    rec = MemoryRecorder()
    client = make_client(script, fake_clock, recorder=rec)
    client.settings.api_key = key
    out = client.generate(request_)
    assert not out.ok and out.error.error_type == "invalid_input" and out.error.param == param
    assert script.requests == []
    (row,) = rec.attempts.values()
    assert row["status"] == "failed" and row["error_type"] == "invalid_input"


def test_preview_masks_the_key_and_curl_reads_the_environment(fake_clock):
    client = make_client(Script([ok_json()], fake_clock), fake_clock)
    preview = client.preview(GenerationRequest(prompt='it\'s a "test"', quality="high"))
    assert preview.url == URL
    assert preview.headers["Authorization"] == "Bearer ••••WXYZ"
    assert KEY not in json.dumps(preview.__dict__)
    assert '"Authorization: Bearer $OPENAI_API_KEY"' in preview.curl
    assert preview.body["quality"] == "high"
    import shlex

    argv = shlex.split(preview.curl.replace("\\\n", " "))
    assert argv[:5] == ["curl", "-sS", "-X", "POST", URL]
    assert json.loads(argv[argv.index("-d") + 1]) == preview.body  # quotes in the prompt survive the shell


def test_key_hint():
    assert key_hint(KEY) == "WXYZ"
    assert key_hint("short") == ""
    assert key_hint(None) == ""


# --- tasks ----------------------------------------------------------------------


def _png_download(request):
    return httpx.Response(200, content=png_bytes(), headers={"content-type": "image/png"})


def test_task_shape_a_is_polled_until_completed(fake_clock):
    polls = iter(
        [
            {"data": {"task_id": "abc", "status": "pending"}},
            {"data": {"task_id": "abc", "status": "processing", "progress": 40}},
            {"data": {"task_id": "abc", "status": "completed", "image_url": "https://cdn.example.com/x.png"}},
        ]
    )

    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"data": {"task_id": "abc", "status": "pending"}})
        if request.url.host == "cdn.example.com":
            return _png_download(request)
        assert request.url.path == "/v1/images/generations/abc"
        return httpx.Response(200, json=next(polls))

    script = Script([handler], fake_clock)
    rec = MemoryRecorder()
    events = []
    with make_client(script, fake_clock, recorder=rec) as client:
        out = client.generate(REQ, on_event=events.append)
    assert out.ok and out.images[0].source == "url"
    assert out.images[0].source_url == "https://cdn.example.com/x.png"
    assert any(e.kind == "polling" and "40%" in e.message for e in events)
    assert any(e.kind == "downloading" for e in events)
    assert list(rec.attempts.values())[0]["task_id"] == "abc"
    # the download never carries the API key
    cdn = [r for r in script.requests if r.url.host == "cdn.example.com"]
    assert cdn and "authorization" not in cdn[0].headers


def test_task_shape_b_failed_for_policy(fake_clock):
    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"id": "task-1", "object": "image.generation.task", "status": "pending", "progress": 0})
        assert request.url.path == "/v1/tasks/task-1"
        return httpx.Response(
            200, json={"id": "task-1", "status": "failed", "error": {"code": "content_policy_violation", "message": "flagged"}}
        )

    with make_client(Script([handler], fake_clock), fake_clock) as client:
        out = client.generate(REQ)
    assert not out.ok and out.error.error_type == "content_policy"
    assert len(out.attempts) == 1


def test_task_deadline_is_a_timeout(fake_clock):
    def handler(request):
        return httpx.Response(200, json={"data": {"task_id": "slow", "status": "processing"}})

    with make_client(Script([handler], fake_clock), fake_clock, task_deadline_s=20, max_retries=0, use_fallback=False) as client:
        out = client.generate(REQ)
    assert not out.ok and out.error.error_type == "timeout" and out.error.code == "task_deadline"
    assert sum(fake_clock.sleeps) == pytest.approx(20)  # polled up to the deadline, not past it


def test_failed_task_is_resubmitted_as_a_new_task(fake_clock):
    count = {"post": 0}

    def handler(request):
        if request.method == "POST":
            count["post"] += 1
            return httpx.Response(200, json={"data": {"task_id": f"t{count['post']}", "status": "pending"}})
        if request.url.host == "cdn.example.com":
            return _png_download(request)
        if request.url.path.endswith("/t1"):
            return httpx.Response(200, json={"data": {"status": "failed", "error": "internal_error"}})
        return httpx.Response(200, json={"data": {"status": "completed", "image_url": "https://cdn.example.com/y.png"}})

    with make_client(Script([handler], fake_clock), fake_clock) as client:
        out = client.generate(REQ)
    assert out.ok and count["post"] == 2
    assert [a.error_type for a in out.attempts] == ["task_failed", None]


def test_read_task_recognises_both_shapes_and_nothing_else():
    assert read_task({"data": {"task_id": "a", "status": "pending"}}).shape == "a"
    b = read_task({"id": "task-1", "object": "image.generation.task", "status": "in_progress", "progress": 30})
    assert b.shape == "b" and b.status == "pending" and b.progress == 30
    assert read_task({"created": 1, "data": [{"b64_json": "x"}]}) is None
    assert read_task({"id": "img-1", "data": [{"url": "u"}]}) is None


# --- downloads and decode ---------------------------------------------------------


def test_oversized_download_by_header(fake_clock):
    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"data": [{"url": "https://cdn.example.com/big.png"}]})
        return httpx.Response(200, content=b"x" * 10, headers={"content-length": str(C.MAX_IMAGE_BYTES + 1)})

    with make_client(Script([handler], fake_clock), fake_clock) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "image_fetch_failed" and out.error.code == "too_large"


def test_oversized_download_streamed(fake_clock, monkeypatch):
    monkeypatch.setattr(C, "MAX_IMAGE_BYTES", 1000)

    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"data": [{"url": "https://cdn.example.com/big.png"}]})
        return httpx.Response(200, content=iter([b"x" * 600, b"x" * 600]))

    with make_client(Script([handler], fake_clock), fake_clock) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "image_fetch_failed" and out.error.code == "too_large"


def test_download_network_failures_are_retried(fake_clock):
    calls = {"n": 0}

    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"data": [{"url": "https://cdn.example.com/x.png"}]})
        calls["n"] += 1
        if calls["n"] <= C.DOWNLOAD_RETRIES:
            raise httpx.ReadError("reset", request=request)
        return _png_download(request)

    with make_client(Script([handler], fake_clock), fake_clock) as client:
        out = client.generate(REQ)
    assert out.ok and calls["n"] == C.DOWNLOAD_RETRIES + 1


def test_expired_url_is_not_resubmitted(fake_clock):
    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"data": [{"url": "https://cdn.example.com/x.png"}]})
        return httpx.Response(410, text="gone")

    script = Script([handler], fake_clock)
    with make_client(script, fake_clock) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "image_fetch_failed" and out.error.status == 410
    assert sum(1 for r in script.requests if r.method == "POST") == 1


@pytest.mark.parametrize(
    "payload,expected",
    [
        ({"created": 1, "data": []}, "bad_response"),
        ({"created": 1, "data": [{"revised_prompt": "x"}]}, "bad_response"),
        ({"created": 1, "data": [{"b64_json": "!!!not base64!!!"}]}, "invalid_image"),
        ({"created": 1, "data": [{"b64_json": base64.b64encode(b"GIF89a-but-not-really").decode()}]}, "invalid_image"),
        ([1, 2, 3], "bad_response"),
        ("just a string", "bad_response"),
    ],
)
def test_unusable_success_answers(fake_clock, payload, expected):
    with make_client(Script([httpx.Response(200, json=payload)], fake_clock), fake_clock) as client:
        out = client.generate(REQ)
    assert not out.ok and out.error.error_type == expected
    assert out.raw_response and out.raw_response.startswith("HTTP 200")


def test_data_url_and_missing_padding_are_accepted(fake_clock):
    b64 = "data:image/png;base64," + PNG_B64.rstrip("=")
    with make_client(Script([httpx.Response(200, json={"data": [{"b64_json": b64}]})], fake_clock), fake_clock) as client:
        assert client.generate(REQ).ok


def test_redirect_is_explained(fake_clock):
    answer = httpx.Response(301, headers={"location": "https://api.example.com/v1/images/generations/"})
    with make_client(Script([answer], fake_clock), fake_clock) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "endpoint_not_found" and "redirect" in out.error.message


def test_elide_base64_in_raw_preview():
    elided = elide_base64({"data": [{"b64_json": "A" * 5000, "revised_prompt": "short"}]})
    assert elided["data"][0]["b64_json"] == "<base64, 5,000 characters>"
    assert elided["data"][0]["revised_prompt"] == "short"


def test_a_broken_progress_callback_does_not_break_the_generation(fake_clock):
    def boom(event):
        raise RuntimeError("display broke")

    with make_client(Script([ok_json()], fake_clock), fake_clock) as client:
        assert client.generate(REQ, on_event=boom).ok


def test_unexpected_exception_becomes_an_error_and_is_recorded(fake_clock):
    rec = MemoryRecorder()
    script = Script([RuntimeError("transport exploded")], fake_clock)
    with make_client(script, fake_clock, recorder=rec, use_fallback=False) as client:
        out = client.generate(REQ)
    assert not out.ok and out.error.error_type == "app_error"
    assert all(r["status"] == "failed" for r in rec.attempts.values())


# --- limits ------------------------------------------------------------------------


def test_token_bucket_spaces_requests(fake_clock):
    limiter = ProviderLimiter(rate_per_s=2, burst=1, max_concurrency=4, clock=fake_clock, sleep=fake_clock.sleep)
    script = Script([ok_json()], fake_clock)
    with make_client(script, fake_clock, limiter=limiter) as client:
        for _ in range(3):
            assert client.generate(REQ).ok
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    assert all(g >= 0.5 - 1e-9 for g in gaps)


def test_cooldown_after_429_holds_other_clients(fake_clock):
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=8, clock=fake_clock, sleep=fake_clock.sleep)
    first = Script([err_json(429, "Rate limit", "rate_limit_exceeded", headers={"retry-after": "5"})], fake_clock)
    second = Script([ok_json()], fake_clock)
    a = make_client(first, fake_clock, limiter=limiter, max_retries=0, use_fallback=False)
    b = make_client(second, fake_clock, limiter=limiter)
    events = []
    assert not a.generate(REQ).ok
    t_429 = first.times[0]
    assert b.generate(REQ, on_event=events.append).ok
    assert second.times[0] - t_429 >= 5.0
    assert any(e.kind == "queued" and "rate-limited" in e.message for e in events)


def test_interrupt_marks_the_row(fake_clock):
    rec = MemoryRecorder()

    class Stop(BaseException):
        pass

    script = Script([Stop()], fake_clock)
    client = make_client(script, fake_clock, recorder=rec)
    with pytest.raises(Stop):
        client.generate(REQ)
    (row,) = rec.attempts.values()
    assert row["status"] == "interrupted" and row["error_type"] == "interrupted"


def test_a_429_halves_the_rate_and_successes_restore_it(fake_clock):
    limiter = ProviderLimiter(rate_per_s=4, burst=1, max_concurrency=4, clock=fake_clock, sleep=fake_clock.sleep)
    limiter.cooldown(1.0)
    assert limiter.effective_rate == 2.0
    with limiter.slot() as probe:
        assert probe  # the first request after a cooldown is the probe
    assert fake_clock.sleeps[0] == pytest.approx(1.0)
    limiter.report(True, rate_limited=False)
    assert limiter.effective_rate == pytest.approx(2.4)
    for _ in range(10):
        limiter.report(False, rate_limited=False)
    assert limiter.effective_rate == 4.0


def test_others_wait_while_the_probe_is_out():
    """The second request sleeps on the limiter's condition until the probe is answered: no polling."""
    limiter = ProviderLimiter(rate_per_s=100, burst=10, max_concurrency=4)
    limiter.cooldown(0.0)
    waits = []
    waiting = threading.Event()
    probe_cm = limiter.slot()
    assert probe_cm.__enter__() is True
    result = {}

    def second():
        def on_wait(why, seconds, ahead):
            waits.append(why)
            waiting.set()

        with limiter.slot(on_wait=on_wait) as probe:
            result["probe"] = probe

    t = threading.Thread(target=second)
    t.start()
    assert waiting.wait(5)
    t.join(0.2)
    assert t.is_alive() and "probe" not in result  # still held back by the unanswered probe
    limiter.report(True, rate_limited=False)  # the probe's answer wakes it at once
    t.join(5)
    probe_cm.__exit__(None, None, None)
    assert result == {"probe": False}
    assert waits == ["probe"]  # one event for the whole wait


def test_a_200_with_an_error_object_keeps_its_real_status(fake_clock):
    rec = MemoryRecorder()
    answer = httpx.Response(200, json={"error": {"message": "model gpt-image-2 not found", "code": "model_not_found"}})
    with make_client(Script([answer], fake_clock), fake_clock, recorder=rec, use_fallback=False) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "model_not_found" and out.error.status == 200
    assert list(rec.attempts.values())[0]["http_status"] == 200


def test_on_event_sees_the_final_event(fake_clock):
    seen = []
    with make_client(Script([ok_json()], fake_clock), fake_clock) as client:
        out = client.generate(REQ, on_event=seen.append)
    assert seen[-1].kind == "succeeded" and [e.kind for e in seen] == [e.kind for e in out.events]


def test_a_429_while_polling_honours_retry_after(fake_clock):
    polls = iter(
        [
            err_json(429, "slow down", "rate_limit_exceeded", headers={"retry-after": "7"}),
            httpx.Response(200, json={"data": {"status": "completed", "image_url": "https://cdn.example.com/x.png"}}),
        ]
    )

    def handler(request):
        if request.method == "POST":
            return httpx.Response(200, json={"data": {"task_id": "t", "status": "pending"}})
        if request.url.host == "cdn.example.com":
            return _png_download(request)
        return next(polls)

    script = Script([handler], fake_clock)
    with make_client(script, fake_clock) as client:
        assert client.generate(REQ).ok
    gets = [t for r, t in zip(script.requests, script.times, strict=False) if r.url.path.startswith("/v1/images/generations/")]
    assert gets[1] - gets[0] >= 7.0
