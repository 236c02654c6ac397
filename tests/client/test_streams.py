"""Streams and floods: what a provider sends never decides what the app keeps, stores or shows.

Readers of lib/answers.py are fed chunks directly; the client runs over httpx.MockTransport
with streamed bodies (generators), an injected clock where time matters, and a recorder in
memory or a real Store (to count the rows).
"""

from __future__ import annotations

import base64
import gc
import json
import tracemalloc

import httpx
import pytest

from lib import constants as C
from lib import errors as E
from lib.answers import read_image_stream
from lib.client import ImageClient
from lib.client._attempt import drop_frames
from lib.client._events import EventLog
from lib.generation import CancelToken, ClientSettings, Event, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.media_support import image_bytes, sse
from tests.support.memory_recorder import MemoryRecorder

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

PNG = image_bytes()
B64 = base64.b64encode(PNG).decode()
DONE = b"data: [DONE]\n\n"


def partial(i: int = 0, b64: str = B64) -> bytes:
    return sse("image_generation.partial_image", b64_json=b64, partial_image_index=i)


def completed(**extra) -> bytes:
    return sse("image_generation.completed", b64_json=B64, **extra)


class Clock:
    def __init__(self, step: float = 0.0) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def client_for(body, *, clock=None, recorder=None, read_timeout_s=60.0, headers=None, cancel=None, json_body=False, **kw):
    """An ImageClient over a MockTransport answering ``body`` (bytes, or a generator of chunks, made per request)."""

    def handler(request: httpx.Request) -> httpx.Response:
        content = body() if callable(body) else body
        ctype = "application/json" if json_body else "text/event-stream"
        return httpx.Response(200, headers={"content-type": ctype, **(headers or {})}, content=content)

    settings = ClientSettings(
        provider="custom", base_url="https://gw.example/v1", api_key="sk-streams-" + "q7" * 12, read_timeout_s=read_timeout_s, **kw
    )
    return ImageClient(
        settings=settings,
        recorder=recorder if recorder is not None else MemoryRecorder(),
        transport=httpx.MockTransport(handler),
        clock=clock or Clock(),
        sleep=lambda s: None,
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000),
        cancel=cancel,
    )


def streamed(**kw) -> GenerationRequest:
    return GenerationRequest(prompt=kw.pop("prompt", "a lighthouse"), model="gpt-image-2", size="1024x1024", stream=True, **kw)


# --- the reader: counts, not copies ----------------------------------------------------------------


def test_only_the_number_asked_for_is_kept_and_the_rest_is_counted():
    stream = [partial(0)] + [completed(usage={"total_tokens": 10 + i}) for i in range(300)]
    seen = []
    result = read_image_stream(stream, keep=2, on_item=lambda item: seen.append(item.kind))
    assert len(result.finals) == 2 and result.extra_finals == 298
    assert seen == ["partial", "completed", "completed"]  # the excess is not handed on either
    assert result.usage == {"total_tokens": 11}  # the usage of what was kept
    assert any("300 completed images for 2 asked" in note for note in result.notes)


def test_nothing_after_done_is_read():
    pulled = []

    def chunks():
        yield partial(0)
        yield completed()
        yield DONE
        pulled.append("after")
        yield completed()

    result = read_image_stream(chunks(), keep=5)
    assert len(result.finals) == 1 and result.done and pulled == []


def test_an_event_typed_done_is_not_the_end_of_the_stream():
    result = read_image_stream([sse("done"), completed(), DONE])
    assert len(result.finals) == 1 and result.ignored == {"done": 1}


def test_an_image_only_after_done_is_no_image():
    with pytest.raises(E.BadResponse) as caught:
        read_image_stream([partial(0), DONE, completed()])
    assert caught.value.code == "stream_incomplete"


def test_unknown_events_are_counted_by_kind_within_a_bound():
    flood = [sse(f"vendor.tick.{i % 500}") for i in range(5000)] + [completed()]
    result = read_image_stream(flood)
    assert result.events == 5001
    assert len(result.ignored) == C.MAX_IGNORED_EVENT_KINDS + 1  # the named kinds, and "other" for the rest
    assert sum(result.ignored.values()) == 5000
    assert len(result.notes) <= C.MAX_IGNORED_EVENT_KINDS + 2


def test_only_the_newest_partial_is_held():
    result = read_image_stream([partial(i) for i in range(50)] + [completed()])
    assert result.partial_count == 50 and result.latest_partial.index == 49


def test_check_runs_between_events_of_one_chunk():
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 10:
            raise E.Cancelled("cancelled")

    one_chunk = b"".join(sse("vendor.tick") for _ in range(10_000))
    with pytest.raises(E.Cancelled):
        read_image_stream([one_chunk], check=check)
    assert len(calls) == 11  # stopped inside the chunk, not after its 10,000 events


# --- the client: the count asked for, and the price of what was kept -----------------------------------


def test_a_stream_of_300_images_for_one_keeps_one_and_prices_one(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    body = partial(0) + b"".join(completed(usage={"total_tokens": 100, "output_tokens": 90}) for _ in range(300)) + DONE
    with client_for(body, recorder=store) as client:
        out = client.generate(streamed(partial_images=1))
    assert out.ok and len(out.images) == 1, out.error
    row = store.attempt(out.attempts[0].attempt_id)
    assert row["image_count"] == 1 and len(row["images"]) == 1
    assert "300 completed images for 1 asked" in row["note"]
    assert row["cost_basis"] == "size_quality"  # the provider's usage counts images that were not kept
    single = Store(tmp_path / "one.sqlite")
    with client_for(partial(0) + completed() + DONE, recorder=single) as client:
        one = client.generate(streamed(partial_images=1))
    assert row["cost_usd"] == pytest.approx(single.attempt(one.attempts[0].attempt_id)["cost_usd"])
    assert any(e.kind == "note" and "300 images for the 1 asked" in e.message for e in out.events)
    store.close()
    single.close()


def test_a_data_list_of_300_for_two_keeps_two():
    body = json.dumps({"data": [{"b64_json": B64}] * 300}).encode()
    recorder = MemoryRecorder()
    with client_for(body, recorder=recorder, json_body=True) as client:
        out = client.generate(GenerationRequest(prompt="a lighthouse", model="gpt-image-2", size="1024x1024", n=2))
    assert out.ok and len(out.images) == 2
    attempt = recorder.attempts[out.attempts[0].attempt_id]
    assert attempt["image_count"] == 2 and "300 images for 2 asked" in attempt["note"]


def test_partials_past_those_asked_for_are_counted_not_decoded():
    body = b"".join(partial(i % 3) for i in range(200)) + completed() + DONE
    events = []
    with client_for(body) as client:
        out = client.generate(streamed(partial_images=2), on_event=events.append)
    assert out.ok and out.partial_count == 200
    assert sum(1 for e in events if e.kind == "partial") == 2
    assert "198 partial image(s) past the 2 asked for" in (out.note or "")


# --- events: a flood is stored, shown and printed as counts --------------------------------------------


def test_a_flood_of_events_is_stored_as_a_bounded_number_of_rows(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    body = b"".join(partial(0, b64="AAAA") for _ in range(20_000)) + completed() + DONE  # each a broken preview
    printed = []
    with client_for(body, recorder=store) as client:
        out = client.generate(streamed(partial_images=3), on_event=printed.append)
    store.flush()
    rows = store.run_events(out.run_id)
    assert out.ok and out.partial_count == 20_000
    assert len(rows) < 30 and len(printed) == len(rows) == len(out.events)
    store.close()


def make_log(clock, sink, recorded):
    class Rec:
        def run_event(self, run_id, seq, event):
            recorded.append(event)

    return EventLog(clock=clock, t0=clock(), sink=sink, on_event=None, recorder=Rec(), run_id="r1")


def test_the_event_log_coalesces_a_kind_and_says_how_many_it_held():
    clock, sink, recorded = Clock(), [], []
    emit = make_log(clock, sink, recorded)
    emit("started", "Attempt 1", attempt_no=1)
    for i in range(10_000):
        emit("polling", f"poll {i}", attempt_no=1)
    emit("failed", "gave up", attempt_no=1)
    polls = [e for e in sink if e.kind == "polling"]
    assert len(polls) == C.MAX_EVENTS_PER_KIND
    summary = [e for e in sink if e.kind == "note"]
    assert len(summary) == 1 and summary[0].data == {"coalesced": "polling", "count": 10_000 - C.MAX_EVENTS_PER_KIND}
    assert [e.kind for e in sink][-2:] == ["note", "failed"]  # the count comes before the attempt's end
    assert recorded == sink


def test_past_the_first_events_one_per_interval_still_passes():
    clock, sink = Clock(step=1.0), []  # every call of the clock is one second later
    emit = make_log(clock, sink, [])
    for i in range(200):
        emit("polling", f"poll {i}", attempt_no=1)
    later = [e for e in sink if e.kind == "polling"][C.MAX_EVENTS_PER_KIND :]
    assert 0 < len(later) <= 200 / C.EVENT_COALESCE_S + 1


def test_a_run_passes_a_bounded_number_of_events_but_always_its_endings():
    clock, sink = Clock(step=10.0), []
    emit = make_log(clock, sink, [])
    for attempt in range(1, 40):
        emit("started", "go", attempt_no=attempt)
        for _ in range(50):
            emit("polling", "p", attempt_no=attempt)
        emit("failed", "no", attempt_no=attempt)
    emit.flush()
    assert sum(1 for e in sink if e.kind not in ("note", "started", "failed")) <= C.MAX_RUN_EVENTS
    assert sum(1 for e in sink if e.kind == "failed") == 39 and sum(1 for e in sink if e.kind == "started") == 39


def test_only_the_newest_event_holds_a_preview():
    clock, sink = Clock(), []
    emit = make_log(clock, sink, [])
    for i in range(5):
        emit("partial", f"partial {i}", attempt_no=1, image=b"x" * 1000)
    assert [e.image is not None for e in sink] == [False, False, False, False, True]


# --- stopping: between chunks and events, and what a stop is called ---------------------------------------


def endless_flood():
    block = b"".join(sse("vendor.tick") for _ in range(500))
    while True:
        yield block


def test_the_read_timeout_ends_a_flood_that_never_waits_on_a_socket():
    recorder = MemoryRecorder()
    with client_for(endless_flood, clock=Clock(step=0.001), recorder=recorder, read_timeout_s=5, max_retries=0) as client:
        out = client.generate(streamed())
    assert out.error.error_type == "timeout" and out.error.code == "deadline", out.error
    assert "whole stream" in out.error.message
    assert all(a["status"] == "failed" for a in recorder.attempts.values())


@pytest.mark.parametrize("reason, status", [("cancelled", "cancelled"), ("interrupted", "interrupted")])
def test_a_stop_in_the_middle_of_a_body_is_never_a_bad_answer(reason, status):
    token = CancelToken()

    def body():
        yield partial(0)
        yield b'event: image_generation.completed\ndata: {"type": "image_generation.com'  # a body cut in the middle
        token.cancel(reason)
        yield b"pleted", b"garbage"

    recorder = MemoryRecorder()
    with client_for(body, recorder=recorder, cancel=token, max_retries=2) as client:
        out = client.generate(streamed())
    assert out.status == status and (out.error is None or out.error.error_type == "interrupted")
    (attempt,) = recorder.attempts.values()
    assert attempt["status"] == status and attempt["error_type"] in (None, "interrupted")
    assert [(a.attempt_id, a.status) for a in out.attempts] == [(attempt["id"], status)]  # the outcome lists it too


def test_the_run_deadline_mid_body_ends_as_the_run_deadline():
    token_holder = {}

    def body():
        yield partial(0)
        token_holder["client"]._token.cancel("deadline")
        yield from endless_flood()

    with client_for(body, max_retries=3) as client:
        token_holder["client"] = client
        out = client.generate(streamed())
    assert out.error.error_type == "timeout" and out.error.code == "run_deadline"
    assert len(out.attempts) == 1


# --- memory: nothing big outlives the run --------------------------------------------------------------


def test_a_failed_streams_error_holds_no_frames():
    body = b"".join(partial(i, b64="QUFB" * 50_000) for i in range(5)) + b"data: {not json\n\n"
    with client_for(body, max_retries=0) as client:
        out = client.generate(streamed())
    assert out.error.error_type == "bad_response"
    err, chain = out.error, []
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    assert all(e.__traceback__ is None for e in chain)


def test_drop_frames_walks_causes_and_contexts():
    try:
        try:
            raise ValueError("inner")
        except ValueError as inner:
            raise E.BadResponse("outer") from inner
    except E.BadResponse as outer:
        err = outer
    drop_frames(err)
    assert err.__traceback__ is None and err.__cause__.__traceback__ is None


def test_a_hundred_megabytes_of_partials_never_sit_in_memory_at_once():
    big = "QUFB" * (1024 * 1024 // 4)  # a 1 MB partial

    def body():
        for i in range(100):
            yield partial(i, b64=big)
        yield completed()
        yield DONE

    gc.collect()
    tracemalloc.start()
    try:
        with client_for(body) as client:
            out = client.generate(streamed(partial_images=2))
        _, peak = tracemalloc.get_traced_memory()
        del client
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.ok and out.partial_count == 100
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB for 100 MB streamed"
    assert after < 8 * 1024 * 1024, f"{after / 1e6:.0f} MB still held after the run"


def test_an_event_carries_its_image_on_the_event_not_in_its_data():
    event = Event("partial", "p", 0.0, image=b"123")
    assert "image" not in event.data


# --- the screen: a reopened run with any number of events renders a bounded number of rows -----------------


def test_a_stored_run_of_a_hundred_thousand_events_shows_a_bounded_table():
    from lib.ui.progress import bounded, event_rows

    stored = [{"elapsed_s": i / 10, "kind": "partial", "message": f"event {i}", "model": "m", "attempt_no": 1} for i in range(100_000)]
    rows = event_rows(stored)
    assert len(rows) == C.MAX_EVENTS_SHOWN + 1
    assert rows[0]["message"] == "event 0" and rows[-1]["message"] == "event 99999"
    gap = [r for r in rows if r["event"] == "..."]
    assert len(gap) == 1 and f"{100_000 - C.MAX_EVENTS_SHOWN:,} more event(s)" in gap[0]["message"]
    first, latest, hidden = bounded(list(range(10)))
    assert (first, latest, hidden) == (list(range(10)), [], 0)


def test_a_cancel_in_the_middle_of_a_json_body_is_a_cancel_too():
    token = CancelToken()

    def body():
        yield b'{"data": [{"b64_json": "' + b"QUFB" * 1000
        token.cancel("cancelled")
        while True:  # a body without end, already in hand: no socket read would notice the cancel
            yield b"QUFB" * 1000

    recorder = MemoryRecorder()
    with client_for(body, recorder=recorder, cancel=token, json_body=True) as client:
        out = client.generate(GenerationRequest(prompt="a lighthouse", model="gpt-image-2", size="1024x1024"))
    assert out.status == "cancelled" and out.error is None
    assert [a["status"] for a in recorder.attempts.values()] == ["cancelled"]
