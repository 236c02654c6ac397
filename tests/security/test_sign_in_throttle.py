"""The password's throttle: per client address and overall, shared by every session, thread-safe."""

from __future__ import annotations

import threading

import pytest

from lib.ui import gate
from lib.ui.gate import SignInThrottle, client_key, wait_words
from tests.support.clock import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def limiter(clock):
    return SignInThrottle(clock=clock)


def test_free_failures_then_a_doubling_lockout_up_to_the_cap(limiter, clock):
    for _ in range(gate.FREE_FAILURES):
        assert limiter.failed("203.0.113.7") == 0
    waits = []
    for _ in range(12):
        waits.append(limiter.failed("203.0.113.7"))
        clock.now += waits[-1]  # the attacker waits each lockout out
    assert waits[:4] == [30, 60, 120, 240]
    assert max(waits) == gate.MAX_LOCKOUT_S
    assert limiter.wait_s("198.51.100.1") == 0  # another address is not locked


def test_a_lockout_can_be_waited_out_and_the_right_password_starts_afresh(limiter, clock):
    for _ in range(gate.FREE_FAILURES + 1):
        limiter.failed("a")
    assert limiter.wait_s("a") == gate.FIRST_LOCKOUT_S
    clock.now += gate.FIRST_LOCKOUT_S - 1
    assert limiter.wait_s("a") == 1
    clock.now += 1
    assert limiter.wait_s("a") == 0
    limiter.succeeded("a")
    assert limiter.failed("a") == 0


def test_an_address_is_forgotten_after_an_hour_without_failures(limiter, clock):
    for _ in range(gate.FREE_FAILURES):
        limiter.failed("a")
    clock.now += gate.FORGET_AFTER_S
    assert limiter.failed("a") == 0


def test_many_addresses_together_hit_the_overall_limit(limiter, clock):
    for i in range(gate.OVERALL_FAILURES - 1):
        assert limiter.failed(f"10.0.{i // 250}.{i % 250}") == 0
    assert limiter.failed("10.9.9.9") == gate.OVERALL_WINDOW_S
    assert limiter.wait_s("192.0.2.1") == gate.OVERALL_WINDOW_S  # everyone waits, and is told how long
    clock.now += 60
    assert limiter.wait_s("192.0.2.1") == gate.OVERALL_WINDOW_S - 60
    clock.now += gate.OVERALL_WINDOW_S - 60
    assert limiter.wait_s("192.0.2.1") == 0


def test_a_flood_of_addresses_is_bounded(limiter, monkeypatch):
    monkeypatch.setattr(gate, "MAX_TRACKED", 50)
    monkeypatch.setattr(gate, "OVERALL_FAILURES", 10**9)
    for i in range(500):
        limiter.failed(f"10.1.{i // 250}.{i % 250}")
    assert len(limiter._addresses) <= 50


def test_sessions_on_many_threads_share_one_count(limiter):
    barrier = threading.Barrier(8)

    def guess():
        barrier.wait()
        for _ in range(50):
            limiter.failed("local")

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert limiter._addresses["local"].failures == 400
    assert len(limiter._recent) == 400


@pytest.mark.parametrize(
    ("address", "key"),
    [
        (None, "local"),
        ("", "local"),
        ("127.0.0.1", "local"),
        ("::1", "local"),
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        (object(), "local"),  # what a test harness may hand over
    ],
)
def test_client_key(address, key):
    assert client_key(address) == key


@pytest.mark.parametrize(("seconds", "words"), [(0.2, "1 s"), (30, "30 s"), (60, "1 min"), (150, "2 min 30 s"), (900, "15 min")])
def test_wait_words(seconds, words):
    assert wait_words(seconds) == words
