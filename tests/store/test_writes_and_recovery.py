"""The store's records survive failures: a write that fails is retried, then replayed, never faked; rows
left pending by another process are recovered, even across PID reuse; short-lived threads leave no
connection behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading

import httpx
import pytest

from lib import constants as C
from lib import store as S
from lib.client import ImageClient
from lib.generation import GenerationRequest
from lib.store import Store
from tests.support.mock_client import mock_client, png_b64

REQ = GenerationRequest(prompt="a lantern", model="gpt-image-2", size="1024x1024")


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "engine.db")


def client(store, handler, **settings) -> ImageClient:
    return mock_client(handler, recorder=store, keeper=store.keeper, **settings)


# --- write retries ---------------------------------------------------------------------------------


def test_a_write_that_fails_is_retried_then_replayed_never_faked(store, monkeypatch):
    monkeypatch.setattr(C, "STORE_WRITE_RETRY_DELAY_S", 0.0)
    real = store._run_statements
    failures = {"left": C.STORE_WRITE_RETRIES + 1}  # every try of the finish fails: it is kept for later

    def flaky(statements):
        if statements[0][0].startswith("UPDATE attempts") and failures["left"] > 0:
            failures["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        return real(statements)

    monkeypatch.setattr(store, "_run_statements", flaky)
    with client(store, lambda r: httpx.Response(200, json={"created": 1, "data": [{"b64_json": png_b64()}]})) as c:
        out = c.generate(REQ)
    assert out.ok  # the user still sees the result
    rows = store.db.execute("SELECT status, image_count FROM attempts").fetchall()
    assert rows == [("succeeded", 1)]  # replayed before the run's own finish; one attempt, not two
    assert store.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert store.flush() == 0


def test_a_finish_that_cannot_be_written_stays_queued_until_it_can(store, monkeypatch):
    monkeypatch.setattr(C, "STORE_WRITE_RETRY_DELAY_S", 0.0)
    real = store._run_statements
    broken = {"on": True}

    def locked(statements):
        if broken["on"] and not statements[0][0].startswith("INSERT INTO attempts") and not statements[0][0].startswith("INSERT INTO runs"):
            raise sqlite3.OperationalError("database is locked")
        return real(statements)

    monkeypatch.setattr(store, "_run_statements", locked)
    with client(store, lambda r: httpx.Response(500, json={"error": {"message": "boom"}})) as c:
        out = c.generate(REQ)
    assert out.error.error_type == "server_error"
    assert store.db.execute("SELECT status FROM attempts").fetchall() == [("pending",)]
    assert store.flush() > 0  # still waiting, not lost
    broken["on"] = False
    assert store.flush() == 0
    assert store.db.execute("SELECT status, error_type FROM attempts").fetchall() == [("failed", "server_error")]
    assert store.db.execute("SELECT status FROM runs").fetchall() == [("failed",)]


# --- recovery across PID reuse -----------------------------------------------------------------


def _pending_rows(store: Store, token: str, pid: int) -> tuple[str, int]:
    run = store.start_run(kind="generate", label="x", settings={})
    aid = store.attempt_started({"run_id": run, "model": "m", "prompt": "p"})
    store.db.execute("UPDATE attempts SET owner_token = ?, owner_pid = ? WHERE id = ?", [token, pid, aid])
    store.db.execute("UPDATE runs SET owner_token = ?, owner_pid = ? WHERE id = ?", [token, pid, run])
    return run, aid


def test_a_new_process_that_got_the_old_pid_still_recovers_the_old_rows(store):
    # The old process had OUR pid (a restarted container) but another start time and token.
    old = f"{os.getpid()}:1:oldtoken"
    run, aid = _pending_rows(store, old, os.getpid())
    again = Store(store.path)
    assert again.recovered == 1
    assert again.attempt(aid)["status"] == "interrupted"
    assert again.run(run)["status"] == "interrupted" and again.run(run)["finished_at"]


def test_a_live_pid_that_is_now_another_process_is_recovered(store):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        wrong_start = str(int(S.process_start_time(other.pid)) + 12345)
        run, aid = _pending_rows(store, f"{other.pid}:{wrong_start}:x", other.pid)
        alive_run, alive_aid = _pending_rows(store, f"{other.pid}:{S.process_start_time(other.pid)}:y", other.pid)
        again = Store(store.path)
        assert again.attempt(aid)["status"] == "interrupted"
        assert again.attempt(alive_aid)["status"] == "pending"  # that process is really alive: not ours to touch
        assert again.run(alive_run)["status"] == "running"
    finally:
        other.kill()
        other.wait()


def test_our_own_rows_in_flight_are_never_recovered(store):
    run, aid = _pending_rows(store, S.owner_token(), os.getpid())
    assert Store(store.path).recovered == 0
    assert store.attempt(aid)["status"] == "pending"


# --- connections ---------------------------------------------------------------------------------


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_short_lived_threads_leave_the_descriptor_count_flat(store):
    store.recent_runs()  # this thread's connection
    before_fds, before_conns = _fds(), store.open_connections

    def read():
        store.recent_runs()
        store.count_attempts()

    for _ in range(200):  # like Streamlit: every rerun on a new thread
        t = threading.Thread(target=read)
        t.start()
        t.join()
    assert store.open_connections == before_conns
    assert _fds() <= before_fds + 2
