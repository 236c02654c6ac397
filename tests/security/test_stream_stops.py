"""A flood never holds the CLI: SIGTERM and the run deadline end a streamed generation in the middle
of a body, with the rows saying so and a bounded number of events stored and printed. Real subprocesses
against the hostile provider over loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lib.store import Store
from tests.support import ROOT
from tests.support.wait_until import wait_until

KEY = "sk-stops-" + "Hd3" * 12 + "Lw8P"


def cli(hostile, probe: str, data: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lib.cli",
            "generate",
            "--prompt",
            f"a flood {probe}",
            "--provider",
            "custom",
            "--base-url",
            hostile.base_url(probe),
            "--api-key",
            KEY,
            "--size",
            "1024x1024",
            "--stream",
            "--max-retries",
            "0",
            "--no-fallback",
            "--timeout",
            "120",
            "--data-dir",
            str(data),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_in_flight(db: Path, proc: subprocess.Popen) -> None:
    def in_flight() -> bool:
        assert proc.poll() is None, proc.communicate()
        if not db.exists():
            return False
        try:
            return Store(db).db.execute("SELECT count(*) FROM attempts WHERE status = 'pending'").fetchone()[0] >= 1
        except Exception:  # the database is being created
            return False

    wait_until(in_flight, timeout=20, interval=0.1, message="the CLI never sent its request")


@pytest.mark.parametrize("probe", ["stream_gzip_flood", "stream_endless_partials"])
def test_sigterm_mid_flood_ends_the_attempt_interrupted(hostile, tmp_path, probe):
    data = tmp_path / "data"
    proc = cli(hostile, probe, data, "--json")
    try:
        wait_in_flight(data / "imagelab.db", proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)  # the flood itself would go on for 30 s
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    result = json.loads(out)
    assert result["error_type"] == "interrupted" and result["attempts"] == 1
    store = Store(data / "imagelab.db")
    assert store.db.execute("SELECT status, error_type FROM attempts").fetchall() == [("interrupted", "interrupted")]
    assert store.db.execute("SELECT count(*) FROM run_events").fetchone()[0] < 60


def test_the_run_deadline_ends_a_flood_and_the_progress_lines_stay_few(hostile, tmp_path):
    data = tmp_path / "data"
    proc = cli(hostile, "stream_flood", data, "--run-deadline", "10")
    try:
        out, err = proc.communicate(timeout=25)  # the flood would go on for 30 s
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "timeout" in err and "run deadline" in err.lower()
    assert len(err.splitlines()) < 60  # the progress lines on stderr come through the same bounded event log
    store = Store(data / "imagelab.db")
    assert store.db.execute("SELECT status, error_type, error_code FROM attempts").fetchall() == [("failed", "timeout", "run_deadline")]
