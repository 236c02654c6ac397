"""SIGTERM stops in-flight generations within seconds; their rows end 'interrupted'. Real subprocesses."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from lib.store import Store
from tests.support import ROOT
from tests.support.wait_until import wait_until


def _wait_for_pending(db: Path, proc: subprocess.Popen, count: int = 1, timeout: float = 20.0) -> None:
    """Until the subprocess has an attempt in flight (it writes the row before sending)."""

    def in_flight() -> bool:
        assert proc.poll() is None, proc.communicate()
        if not db.exists():
            return False
        try:
            store = Store(db)
            return store.db.execute("SELECT count(*) FROM attempts WHERE status = 'pending'").fetchone()[0] >= count
        except Exception:  # the database is being created
            return False

    wait_until(in_flight, timeout=timeout, interval=0.1, message="the subprocess never started its request")


def test_sigterm_to_the_cli_interrupts_the_generation(sandbox, tmp_path):
    sandbox.configure(hang_s=60)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lib.cli",
            "generate",
            "--prompt",
            "a slow one",
            "--provider",
            "sandbox",
            "--base-url",
            sandbox.base_url,
            "--scenario",
            "timeout",
            "--timeout",
            "120",
            "--max-retries",
            "3",
            "--data-dir",
            str(data),
            "--json",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_pending(data / "imagelab.db", proc)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 10, f"took {took:.1f} s to stop"
    assert proc.returncode == 1, err
    assert '"error_type": "interrupted"' in out
    store = Store(data / "imagelab.db")
    assert store.db.execute("SELECT status, error_type FROM attempts").fetchall() == [
        ("interrupted", "interrupted")
    ]  # no new attempt after
    assert store.db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]


APP_LIKE = textwrap.dedent(
    """
    import signal, sys, threading
    sys.path.insert(0, {root!r})
    from lib.store import Store
    from lib.generation import ClientSettings, GenerationRequest
    from lib.jobs import JobRunner, JobSpec, install_shutdown

    store = Store({db!r})
    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=2)
    # Like Streamlit: the runner is made on a script thread (only the exit hook applies) and
    # the server's own SIGTERM handler ends the process.
    t = threading.Thread(target=install_shutdown, args=(runner,)); t.start(); t.join()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    settings = ClientSettings(provider="sandbox", base_url={url!r}, read_timeout_s=120, max_retries=3,
                              extra_headers={{"X-Sandbox-Scenario": "timeout"}})
    for i in range(3):
        runner.submit(JobSpec(settings=settings, request=GenerationRequest(prompt=f"slow {{i}}")))
    threading.Event().wait(120)
    """
)


def test_sigterm_to_the_app_process_interrupts_its_jobs(sandbox, tmp_path):
    sandbox.configure(hang_s=60)
    db = tmp_path / "app.db"
    script = tmp_path / "app_like.py"
    script.write_text(APP_LIKE.format(root=str(ROOT), db=str(db), url=sandbox.base_url))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_pending(db, proc, count=2)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < 10
    store = Store(db)
    statuses = store.db.execute("SELECT status FROM runs ORDER BY created_at").fetchall()
    assert statuses == [("interrupted",)] * 3  # two were in flight, one was queued
    assert {r[0] for r in store.db.execute("SELECT status FROM attempts")} == {"interrupted"}
    assert store.db.execute("SELECT count(*) FROM attempts").fetchone()[0] == 2
