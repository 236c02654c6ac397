"""tests/support/wait_until.py, the one wait the tests use, on a fake clock (nothing here really waits).

Times are binary fractions, so the fake clock reaches a deadline exactly."""

from __future__ import annotations

import pytest

from tests.support.wait_until import wait_until


def answers(*values):
    """A predicate that returns these values, one per call (the last one from then on)."""
    calls = []

    def predicate():
        calls.append(None)
        return values[min(len(calls), len(values)) - 1]

    predicate.calls = calls
    return predicate


def test_a_true_condition_returns_its_value_without_sleeping(fake_clock):
    assert wait_until(answers(["pending"]), clock=fake_clock, sleep=fake_clock.sleep) == ["pending"]
    assert fake_clock.sleeps == []


def test_the_condition_is_asked_again_every_interval_until_it_holds(fake_clock):
    predicate = answers(None, [], 0, "done")
    assert wait_until(predicate, timeout=5, interval=0.25, clock=fake_clock, sleep=fake_clock.sleep) == "done"
    assert fake_clock.sleeps == [0.25, 0.25, 0.25] and len(predicate.calls) == 4


def test_after_the_timeout_it_fails_with_the_message_having_asked_once_more_at_the_deadline(fake_clock):
    predicate = answers(False)
    start = fake_clock()
    with pytest.raises(TimeoutError, match=r"the grid did not finish \(waited 1 s\)"):
        wait_until(predicate, timeout=1.0, interval=0.375, message="the grid did not finish", clock=fake_clock, sleep=fake_clock.sleep)
    assert fake_clock() - start == 1.0  # the last sleep is cut to the deadline, not past it
    assert fake_clock.sleeps == [0.375, 0.375, 0.25] and len(predicate.calls) == 4


def test_a_message_that_is_a_function_describes_the_state_the_wait_ended_in(fake_clock):
    seen = []

    def predicate():
        seen.append(len(seen))
        return False

    with pytest.raises(TimeoutError, match=r"no 'retry' event; got 3 calls"):
        wait_until(
            predicate,
            timeout=1.0,
            interval=0.5,
            message=lambda: f"no 'retry' event; got {len(seen)} calls",
            clock=fake_clock,
            sleep=fake_clock.sleep,
        )
