"""One large answer at a time, process-wide: a body (or a stream's line) past C.LARGE_ANSWER_BYTES waits
for the turn, which its attempt holds until its images are saved; the wait ends with a cancel or the deadline."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from lib import constants as C
from lib import errors as E
from lib.generation import CancelToken, GenerationRequest
from lib.limits import LargeAnswers
from tests.support.mock_client import mock_client, png_b64
from tests.support.wait_until import wait_until

REQ = GenerationRequest(prompt="a red square", model="gpt-image-2", size="1024x1024")
PADDING = "x" * (C.LARGE_ANSWER_BYTES + 1024)  # a field a provider may pad an answer with


def _large_answer(request: httpx.Request) -> httpx.Response:
    body = json.dumps({"created": 1, "data": [{"b64_json": png_b64()}], "padding": PADDING})
    return httpx.Response(200, content=body.encode(), headers={"content-type": "application/json"})


def _small_answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"created": 1, "data": [{"b64_json": png_b64()}]})


class Holder:
    """Another thread holding the large-answer turn until told to let go."""

    def __init__(self, turns: LargeAnswers) -> None:
        self.turns, self.go = turns, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        taken = threading.Event()
        self._taken = taken
        self.thread.start()
        taken.wait(5)

    def _run(self) -> None:
        self.turns.take()
        self._taken.set()
        self.go.wait(30)
        self.turns.release()

    def let_go(self) -> None:
        self.go.set()
        self.thread.join(5)


def _generate_in_thread(client, out: list) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.append(client.generate(REQ)), daemon=True)
    thread.start()
    return thread


def test_the_turn_is_held_by_one_thread_and_taken_again_freely_by_it():
    turns = LargeAnswers()
    assert turns.take() == 0.0 and turns.take() == 0.0  # the holder is never made to wait for itself
    assert turns.held
    turns.release()
    assert not turns.held
    turns.release()  # giving back what is not held is nothing


def test_a_waiter_gets_the_turn_when_the_holder_lets_go():
    turns = LargeAnswers()
    holder = Holder(turns)
    waited: list[float] = []
    waiter = threading.Thread(target=lambda: waited.append(turns.take()), daemon=True)
    waiter.start()
    wait_until(lambda: turns.waits == 1, message="the second reader did not wait")
    assert not waited
    holder.let_go()
    waiter.join(5)
    assert waited and waited[0] > 0


def test_a_cancel_ends_the_wait():
    turns, token = LargeAnswers(), CancelToken()
    holder = Holder(turns)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            turns.take(cancel=token)
        except E.Cancelled as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    wait_until(lambda: turns.waits == 1)
    token.cancel()
    waiter.join(5)
    holder.let_go()
    assert errors and not waiter.is_alive()


def test_a_small_answer_never_waits_for_the_turn():
    turns = LargeAnswers()
    holder = Holder(turns)
    try:
        with mock_client(_small_answer) as client:
            client.large_answers = turns
            out = client.generate(REQ)
        assert out.ok and turns.waits == 0
    finally:
        holder.let_go()


def test_a_large_answer_waits_for_the_one_being_held_then_succeeds():
    turns = LargeAnswers()
    holder = Holder(turns)
    out: list = []
    with mock_client(_large_answer, read_timeout_s=30) as client:
        client.large_answers = turns
        thread = _generate_in_thread(client, out)
        wait_until(lambda: turns.waits == 1, message="the large answer was read without waiting for the turn")
        assert not out  # still waiting
        threading.Event().wait(0.1)  # held a measurable while longer
        holder.let_go()
        thread.join(20)
    assert out and out[0].ok, out and out[0].error
    assert not turns.held  # given back when the attempt ended
    assert out[0].attempts[0].wait_ms >= 100  # time inside the app, not the provider's


def test_a_large_answer_cancelled_while_waiting_ends_cancelled():
    turns = LargeAnswers()
    holder = Holder(turns)
    out: list = []
    try:
        with mock_client(_large_answer, read_timeout_s=30) as client:
            client.large_answers = turns
            thread = _generate_in_thread(client, out)
            wait_until(lambda: turns.waits == 1)
            client.cancel_token.cancel()
            thread.join(10)
    finally:
        holder.let_go()
    assert out and out[0].status == "cancelled", out and out[0].error


def test_a_large_answer_that_cannot_get_the_turn_in_time_is_a_timeout():
    turns = LargeAnswers()
    holder = Holder(turns)
    try:
        with mock_client(_large_answer, read_timeout_s=1.0, connect_timeout_s=1.0) as client:
            client.large_answers = turns
            out = client.generate(REQ)
    finally:
        holder.let_go()
    assert not out.ok and out.error.error_type == "timeout", out.error


@pytest.mark.parametrize("line", [C.LARGE_ANSWER_BYTES + 1024])
def test_a_stream_line_past_the_threshold_takes_the_turn(line):
    from lib.answers import iter_sse

    calls: list[int] = []
    chunks = [b"data: ", b"y" * line, b"\n\n"]
    assert [m.data[:1] for m in iter_sse(iter(chunks), on_large=lambda: calls.append(1))] == ["y"]
    assert calls  # asked for the turn while the line was pending
