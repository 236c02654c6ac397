"""The check before paying: the provider's moderations route before the image request."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from lib.client import FLAGGED_CODE, MODERATION_MODEL, NO_ROUTE, ImageClient
from lib.client._moderation import flagged_categories, moderation_inputs
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.media_support import image_bytes
from tests.support.memory_recorder import MemoryRecorder


@pytest.fixture(autouse=True)
def _no_routes_remembered():
    NO_ROUTE.forget()
    yield
    NO_ROUTE.forget()


def client_for(settings: ClientSettings, recorder=None, transport=None) -> ImageClient:
    return ImageClient(
        settings=settings,
        recorder=recorder if recorder is not None else MemoryRecorder(),
        transport=transport,
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4),
    )


def sandbox_settings(sandbox, **kw) -> ClientSettings:
    kw.setdefault("moderate", True)
    return ClientSettings(provider="sandbox", base_url=sandbox.base_url, use_fallback=False, max_retries=0, read_timeout_s=5.0, **kw)


def test_a_flagged_prompt_stops_before_the_image_request_and_is_recorded_as_a_free_attempt(sandbox, tmp_path):
    store = Store(tmp_path / "db.sqlite")
    before = sandbox.sandbox.requests
    with client_for(sandbox_settings(sandbox), recorder=store) as client:
        out = client.generate(GenerationRequest(prompt="a castle after the gore of battle", model="gpt-image-2"))
    assert sandbox.sandbox.requests - before == 1  # the moderation request only: no image was asked for
    assert not out.ok and out.error.error_type == "content_policy" and out.error.code == FLAGGED_CODE
    assert "violence" in out.error.message and "violence/graphic" in out.error.message
    assert out.error.categories == ("violence", "violence/graphic")
    assert [(a.attempt_no, a.model, a.status, a.error_type) for a in out.attempts] == [(0, MODERATION_MODEL, "failed", "content_policy")]
    store.flush()
    (row,) = store.db.query("SELECT * FROM attempts WHERE run_id = ?", [out.run_id])
    assert row["url"] == sandbox.base_url + "/moderations"
    assert row["model"] == MODERATION_MODEL and row["error_type"] == "content_policy" and row["error_code"] == FLAGGED_CODE
    assert row["cost_usd"] == 0 and json.loads(row["params"])["kind"] == "moderation"
    assert "violence/graphic" in row["error_message"]
    (run,) = store.db.query("SELECT status, error_type FROM runs WHERE id = ?", [out.run_id])
    assert (run["status"], run["error_type"]) == ("failed", "content_policy")


def test_a_clean_prompt_is_checked_then_sent(sandbox):
    recorder = MemoryRecorder()
    events = []
    before = sandbox.sandbox.requests
    with client_for(sandbox_settings(sandbox), recorder=recorder) as client:
        out = client.generate(GenerationRequest(prompt="a paper boat on a pond", model="gpt-image-2"), on_event=events.append)
    assert out.ok, out.error
    assert sandbox.sandbox.requests - before == 2  # the check, then the image
    rows = sorted(recorder.attempts.values(), key=lambda r: r["attempt_no"])
    assert [(r["attempt_no"], r["model"], r["status"]) for r in rows] == [
        (0, MODERATION_MODEL, "succeeded"),
        (1, "gpt-image-2", "succeeded"),
    ]
    assert rows[0]["cost_usd"] == 0 and rows[0]["url"].endswith("/v1/moderations")
    assert [a.model for a in out.attempts] == ["gpt-image-2"]  # the outcome lists the check only when it stopped the run
    assert any(e.kind == "moderation" and "passed" in e.message for e in events)


def test_without_the_setting_no_check_is_made(sandbox):
    recorder = MemoryRecorder()
    before = sandbox.sandbox.requests
    with client_for(sandbox_settings(sandbox, moderate=False), recorder=recorder) as client:
        out = client.generate(GenerationRequest(prompt="a castle after the gore of battle", model="gpt-image-2"))
    assert sandbox.sandbox.requests - before == 1
    assert out.error.error_type == "content_policy" and out.error.code != FLAGGED_CODE  # the image route's own block
    assert [r["model"] for r in recorder.attempts.values()] == ["gpt-image-2"]


def test_reference_images_go_with_the_prompt_as_data_urls(sandbox):
    ref = image_bytes()
    edit = GenerationRequest(
        prompt="make it brighter", model="gpt-image-2", images=[ReferenceImage("a.png", ref), ReferenceImage("b.png", ref)]
    )
    first, second = moderation_inputs(edit)
    assert first[0] == {"type": "text", "text": "make it brighter"}
    assert first[1]["type"] == "image_url" and second[0]["type"] == "image_url" and len(second) == 1  # one image per request
    assert base64.b64decode(first[1]["image_url"]["url"].split(",", 1)[1]) == ref
    recorder = MemoryRecorder()
    before = sandbox.sandbox.requests
    with client_for(sandbox_settings(sandbox), recorder=recorder) as client:
        out = client.generate(edit)
    assert out.ok, out.error
    assert sandbox.sandbox.requests - before == 3  # two moderation requests (the sandbox took both shapes), then the edit
    check = next(r for r in recorder.attempts.values() if r["attempt_no"] == 0)
    assert check["status"] == "succeeded" and check["params"]["images"] == 2


def test_a_provider_without_the_route_is_said_once_and_sent_as_usual(hostile):
    settings = ClientSettings(
        provider="custom",
        base_url=hostile.base_url("healthy"),
        api_key="sk-hostile-test-0000",
        use_fallback=False,
        max_retries=0,
        moderate=True,
    )
    first_events, second_events = [], []
    seen = len(hostile.seen_paths)
    recorder = MemoryRecorder()
    with client_for(settings, recorder=recorder) as client:
        first = client.generate(GenerationRequest(prompt="a lighthouse", model="gpt-image-2"), on_event=first_events.append)
        second = client.generate(GenerationRequest(prompt="a lighthouse again", model="gpt-image-2"), on_event=second_events.append)
    assert first.ok and second.ok, (first.error, second.error)
    notes = [e.message for e in first_events if e.kind == "note"]
    assert len(notes) == 1 and "no moderations route" in notes[0]
    assert not [e for e in second_events if e.kind in ("note", "moderation")]  # said once
    assert sum(p.endswith("/moderations") for p in hostile.seen_paths[seen:]) == 1  # asked once, not on the second run
    checks = [r for r in recorder.attempts.values() if r["attempt_no"] == 0]
    assert len(checks) == 1 and checks[0]["error_type"] == "endpoint_not_found" and "no moderations route" in checks[0]["note"]
    assert NO_ROUTE.missing("custom", settings.endpoint.api_base)


@pytest.mark.parametrize(
    "status,body",
    [
        (405, b"<html>405 Not Allowed</html>"),
        (501, b""),
        (400, b'{"error": {"message": "The model `omni-moderation-latest` does not exist", "param": "model", "code": "model_not_found"}}'),
    ],
)
def test_a_route_or_model_the_gateway_does_not_serve_is_remembered(status, body):
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if request.url.path.endswith("/moderations"):
            return httpx.Response(status, content=body)
        return httpx.Response(200, json={"created": 1, "data": [{"b64_json": _png_b64()}]})

    settings = ClientSettings(provider="wisgate", api_key="sk-" + "g4t3w4y" * 6, use_fallback=False, max_retries=0, moderate=True)
    events = []
    with client_for(settings, transport=httpx.MockTransport(handler)) as client:
        assert client.generate(GenerationRequest(prompt="a fox", model="gpt-image-2"), on_event=events.append).ok
        assert client.generate(GenerationRequest(prompt="an owl", model="gpt-image-2")).ok
    assert sent == ["/v1/moderations", "/v1/images/generations", "/v1/images/generations"]
    assert [e.message for e in events if e.kind == "note" and "no moderations route" in e.message]


def _png_b64() -> str:
    return base64.b64encode(image_bytes()).decode()


@pytest.mark.parametrize(
    "status,body,says",
    [
        (200, b"{not json", "not JSON"),
        (200, b'{"results": []}', "no list of results"),
        (200, b'{"results": [{"flagged": "yes"}]}', "'flagged'"),
        (200, b'{"results": [{"flagged": true, "categories": "violence"}]}', "'categories'"),
        (200, b"", "not JSON"),
        (502, b"<html><body>Bad Gateway</body></html>", "server_error"),
        (429, b'{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}', "rate_limited"),
    ],
)
def test_a_check_that_cannot_be_made_is_said_and_the_image_is_sent(status, body, says):
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if request.url.path.endswith("/moderations"):
            return httpx.Response(status, content=body, headers={"content-type": "application/json"})
        return httpx.Response(200, json={"created": 1, "data": [{"b64_json": _png_b64()}]})

    events = []
    recorder = MemoryRecorder()
    settings = ClientSettings(provider="openai", api_key="sk-proj-" + "m0d3r4t10n" * 5, use_fallback=False, max_retries=0, moderate=True)
    with client_for(settings, recorder=recorder, transport=httpx.MockTransport(handler)) as client:
        out = client.generate(GenerationRequest(prompt="a fox", model="gpt-image-2"), on_event=events.append)
    assert out.ok, out.error
    assert sent == ["/v1/moderations", "/v1/images/generations"]
    (note,) = [e.message for e in events if e.kind == "note"]
    assert says in note and "sent without" in note
    check = next(r for r in recorder.attempts.values() if r["attempt_no"] == 0)
    assert check["status"] == "failed" and check["cost_usd"] == 0 and "sent without" in check["note"]
    assert not NO_ROUTE.missing("openai", settings.endpoint.api_base)  # only a missing route is remembered


def test_category_names_from_the_provider_are_cut_and_kept_as_text():
    payload = {"results": [{"flagged": True, "categories": {"<b>x</b>\n`y`" + "z" * 200: True, "hate": False, "sexual": "true"}}]}
    flagged, names = flagged_categories(payload)
    assert flagged and len(names) == 1 and names[0].startswith("<b>x</b> `y`") and len(names[0]) <= 70
    assert flagged_categories({"results": [{"flagged": True, "categories": {}}]}) == (True, [])
    assert flagged_categories({"results": [{"flagged": False, "categories": {"violence": False}}]}) == (False, [])


def test_a_cancel_during_the_check_ends_the_run_with_nothing_sent_after_it():
    sent = []
    holder = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        holder["client"].cancel_token.cancel()  # the user presses Cancel while the check is answered
        return httpx.Response(200, json={"results": [{"flagged": False, "categories": {}}]})

    recorder = MemoryRecorder()
    settings = ClientSettings(provider="openai", api_key="sk-proj-" + "c4nc3l" * 8, use_fallback=False, max_retries=0, moderate=True)
    with client_for(settings, recorder=recorder, transport=httpx.MockTransport(handler)) as client:
        holder["client"] = client
        out = client.generate(GenerationRequest(prompt="a fox", model="gpt-image-2"))
    assert out.status == "cancelled" and sent == ["/v1/moderations"]
    ((row, summary),) = zip(recorder.attempts.values(), out.attempts, strict=True)
    assert row["status"] == summary.status == "cancelled" and row["error_type"] is None and row["cost_usd"] == 0


def test_a_stopped_run_keeps_its_image_model_and_its_flagged_categories_for_a_card_rebuilt_from_the_store(sandbox, tmp_path):
    from lib.store.records import outcome_from_run

    store = Store(tmp_path / "db.sqlite")
    with client_for(sandbox_settings(sandbox), recorder=store) as client:
        out = client.generate(GenerationRequest(prompt="a castle after the gore of battle", model="gpt-image-2"))
    assert out.model == "gpt-image-2" and out.requested_model == "gpt-image-2"
    store.flush()
    run = store.run(out.run_id)
    assert run["model"] == "gpt-image-2"
    again = outcome_from_run(run, tmp_path)
    assert again.model == "gpt-image-2"
    assert again.error.categories == out.error.categories == ("violence", "violence/graphic")
    (aid,) = [a["id"] for a in run["attempts"]]
    assert store.attempt(aid)["attempt_kind"] == "moderation"
