"""Engine guarantees: exact records, recovery across PID reuse, no leaked connections,
write retries, limits that keep their state, and no fallback walk when the host is unreachable."""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lib import constants as C
from lib import errors as E
from lib import store as S
from lib.client import ImageClient, should_fall_back
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import LimiterRegistry, ProviderLimiter
from lib.store import Store

REQ = GenerationRequest(prompt="a lantern", model="gpt-image-2", size="1024x1024")


def png_b64(color=(200, 40, 40)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "engine.db")


def client(store, handler, **settings) -> ImageClient:
    settings.setdefault("max_retries", 0)
    settings.setdefault("use_fallback", False)
    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", **settings)
    return ImageClient(
        settings=s,
        recorder=store,
        keeper=store.keeper,
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        limiter=ProviderLimiter(rate_per_s=1e6, burst=10**6, sleep=lambda s: None),
    )


# --- one writer, partial results ------------------------------------------------------------


def test_n2_with_a_bad_second_image_keeps_the_good_one_and_says_so(store):
    body = {"created": 1, "data": [{"b64_json": png_b64()}, {"b64_json": base64.b64encode(b"not an image at all").decode()}]}
    with client(store, lambda r: httpx.Response(200, json=body)) as c:
        out = c.generate(GenerationRequest(prompt="two", n=2, size="1024x1024"))
    assert out.ok and len(out.images) == 1
    assert "image 2 of 2" in (out.note or "")
    [attempt] = store.run(out.run_id)["attempts"]
    assert attempt["status"] == "succeeded" and attempt["image_count"] == 1 == len(attempt["images"])
    assert "image 2 of 2 not kept: invalid_image" in attempt["note"]
    kept = {p.name for p in (store.root / "images").rglob("*.png")}
    assert kept == {Path(attempt["images"][0]["path"]).name}  # nothing on disk without a row


def test_image_count_always_equals_the_rows(store):
    body = {"created": 1, "data": [{"b64_json": png_b64((1, 2, 3))}, {"b64_json": png_b64((4, 5, 6))}]}
    with client(store, lambda r: httpx.Response(200, json=body)) as c:
        out = c.generate(GenerationRequest(prompt="two", n=2, size="1024x1024"))
    mismatched = store.db.execute(
        "SELECT count(*) FROM attempts a WHERE image_count != (SELECT count(*) FROM images i WHERE i.attempt_id = a.id)"
    ).fetchone()[0]
    assert out.ok and len(out.images) == 2 and mismatched == 0


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


# --- limits ----------------------------------------------------------------------------------------


def test_a_settings_change_keeps_the_limiters_state():
    registry = LimiterRegistry()
    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_concurrency=2)
    limiter = registry.get(s)
    limiter.cooldown(30)
    rate_after_429 = limiter.effective_rate
    with _held(limiter, 1):
        same = registry.get(ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_concurrency=5, rate_per_s=3))
        assert same is limiter  # not replaced
        assert limiter.cooling_down_s > 25 and limiter.effective_rate == rate_after_429
        assert limiter.max_concurrency == 5 and limiter._active == 1  # the cap grows; the one in flight still counts


class _held:
    """Hold ``n`` concurrency slots of a limiter without taking tokens (no cooldown wait)."""

    def __init__(self, limiter: ProviderLimiter, n: int) -> None:
        self.limiter, self.n = limiter, n

    def __enter__(self):
        for _ in range(self.n):
            self.limiter._acquire_slot(None, None)

    def __exit__(self, *exc):
        for _ in range(self.n):
            self.limiter._release_slot()


def test_registries_are_isolated():
    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1")
    a, b = LimiterRegistry(), LimiterRegistry()
    a.get(s).cooldown(60)
    assert b.get(s).cooling_down_s == 0 and b.get(s).effective_rate == s.rate_per_s
    assert ImageClient(settings=s).limiter is not ImageClient(settings=s).limiter  # no hidden process-wide limiter


# --- no fallback walk for an unreachable host ----------------------------------------------------


@pytest.mark.parametrize(
    "message,code",
    [
        ("[Errno -2] Name or service not known", "dns_failure"),
        ("[Errno 111] Connection refused", "connection_refused"),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "tls_failure"),
    ],
)
def test_an_unreachable_host_is_not_walked_down_the_fallback_chain(store, message, code):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError(message, request=request)

    with client(store, handler, use_fallback=True, max_retries=1) as c:
        out = c.generate(REQ)
    assert out.error.error_type == "network" and out.error.code == code
    assert {a.model for a in out.attempts} == {"gpt-image-2"}  # retried, but no other model tried
    assert len(calls) == 2
    assert not should_fall_back(out.error)
    assert should_fall_back(E.NetworkError("reset", code="ReadError"))  # a dropped connection may still fall back
