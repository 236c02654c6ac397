"""The first page is drawn without what only a generation needs: the HTTP client, the job
runner, the sandbox's server, Pillow's image module, numpy and pandas, a date parser,
Streamlit's emoji catalogue. The figure itself is benchmarks/startup.py's; this keeps the
import graph that makes it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lib.sandbox import SandboxServer
from lib.store import Store
from tests.support.e2e_support import free_port
from tests.support.wait_until import wait_until

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "httpx",
    "uvicorn",
    "lib.client._client",
    "lib.client._transport",
    "lib.jobs",
    "PIL.Image",
    "dateutil.parser",
    "streamlit.emojis",
    "numpy",
    "pandas",
)

FIRST_RUN = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
import gc
import streamlit.env_util
from streamlit.testing.v1 import AppTest
repl_checks = []
is_repl = streamlit.env_util.is_repl
streamlit.env_util.is_repl = lambda: repl_checks.append(1) or is_repl()
at = AppTest.from_file({str(ROOT / "streamlit_app.py")!r}, default_timeout=60)
at.run()
print(json.dumps({{
    "loaded": [m for m in {HEAVY!r} if m in sys.modules],
    "repl_checks": len(repl_checks),
    "collector_on": gc.isenabled(),
    "exceptions": [e.value for e in at.exception],
    "title": [t.value for t in at.title],
}}))
"""


def test_the_first_page_loads_no_http_client_server_or_dataframes(tmp_path):
    env = {"IMAGELAB_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", FIRST_RUN], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["exceptions"] == [] and seen["title"] == ["Generate"]
    assert seen["loaded"] == []
    assert seen["repl_checks"] == 0  # Streamlit's REPL check (inspect.stack() over every module) is skipped
    assert seen["collector_on"]  # off only while the app's modules load


def test_a_lazy_sandbox_answers_its_first_request():
    server = SandboxServer().start(lazy=True)
    try:
        assert server._server is None  # nothing loaded until called
        first = httpx.get(server.base_url + "/models", timeout=30)
        assert first.status_code == 200 and any(m["id"] == "gpt-image-2" for m in first.json()["data"])
        assert httpx.get(server.base_url + "/models", timeout=30).status_code == 200
    finally:
        server.stop()
    assert not server._thread.is_alive()


def test_a_lazy_sandbox_never_called_stops_and_frees_its_port():
    server = SandboxServer().start(lazy=True)
    port = server.port
    server.stop()
    assert not server._thread.is_alive()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_make_runs_server_opens_the_database_before_any_browser_comes(tmp_path):
    """serve.py (what `make run` starts) loads the app as soon as the server answers: the database is
    there, created, with no page opened (the app alone creates it on a first page's run)."""
    data = tmp_path / "data"
    port = free_port()
    env = {"IMAGELAB_DATA_DIR": str(data), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    command = [sys.executable, "serve.py", "--server.port", str(port), "--server.headless", "true"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/_stcore/health") or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        wait_until(lambda: (data / "imagelab.db").exists(), timeout=30, message="serve.py did not open the database")
        assert Store(data / "imagelab.db").recent_runs(limit=1) == []
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class FakeClock:
    """Time that moves only when the code under test sleeps, and requests that begin and end on cue."""

    def __init__(self, events=()):
        self.now = 0.0
        self.events = sorted(events)  # (at, change in flight)
        self.watch = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        while self.events and self.events[0][0] <= self.now:
            at, change = self.events.pop(0)
            self.watch.in_flight += change
            self.watch.last = at


def give_way_until(events) -> float:
    import serve

    clock = FakeClock(events)
    clock.watch = serve.RequestWatch(app=None, clock=clock)
    serve.give_way(clock.watch, clock=clock, sleep=clock.sleep)
    return clock.now


def test_the_head_start_waits_for_the_browsers_scripts_then_loads():
    import serve

    # a browser asks at 0.05 s, keeps a request in flight until 0.40 s: the load starts once 60 ms pass without one
    burst = [(0.05, +1), (0.10, +1), (0.20, -1), (0.40, -1)]
    assert 0.40 + serve.QUIET_S <= give_way_until(burst) < 0.40 + serve.QUIET_S + 0.02
    assert give_way_until([]) == pytest.approx(serve.FIRST_REQUEST_S, abs=0.02)  # no browser: soon
    assert give_way_until([(0.01, +1)]) == pytest.approx(serve.MOST_S, abs=0.02)  # a request that never ends
    serve.give_way(None)  # no watch (another Streamlit): at once


def test_the_request_watch_counts_http_requests_around_streamlits_own_app(monkeypatch):

    from streamlit.web.server.starlette import starlette_server

    import serve

    seen = []

    async def app(scope, receive, send):
        seen.append((scope["type"], watch.in_flight))

    def run(coro):  # by hand: nothing in it waits, and this thread may already run an event loop
        with pytest.raises(StopIteration):
            coro.send(None)

    watch = serve.RequestWatch(app, clock=lambda: 7.0)
    run(watch({"type": "http"}, None, None))
    run(watch({"type": "websocket"}, None, None))
    assert seen == [("http", 1), ("websocket", 0)] and watch.in_flight == 0 and watch.last == 7.0

    assert callable(starlette_server.create_starlette_app)  # where this Streamlit builds its server's app
    monkeypatch.setattr(starlette_server, "create_starlette_app", lambda runtime: ("app for", runtime))
    monkeypatch.setattr(serve, "WATCH", None)
    serve.watch_requests()
    built = starlette_server.create_starlette_app("the runtime")
    assert isinstance(built, serve.RequestWatch) and built.app == ("app for", "the runtime") and serve.WATCH is built
