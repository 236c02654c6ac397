"""Runs owned by a CLI process, seen from the app: SIGTERM ends its grid's cells 'interrupted', a killed
CLI's rows are ended by the app without a restart, and the app's Cancel really stops a CLI grid (and a
CLI generate) through the database. Real subprocesses against the sandbox over loopback."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from lib import compare as K
from lib.jobs import JobRunner
from lib.store import Store
from tests.support import ROOT
from tests.support.cli import command, env
from tests.support.wait_until import wait_until


def start_cli(sandbox, data, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*command(), *args, "--base-url", sandbox.base_url, "--data-dir", str(data), "--json", "--timeout", "120"],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_grid(sandbox, data) -> subprocess.Popen:
    return start_cli(sandbox, data, "compare", "--prompt", "one", "--prompt", "two", "--provider", "sandbox", "--model", "gpt-image-2")


def runs_in_flight(db, proc, count: int) -> list[str]:
    """Wait until the subprocess has ``count`` runs with a request out; their ids."""

    def in_flight():
        assert proc.poll() is None, proc.communicate()
        if not db.exists():
            return None
        try:
            rows = Store(db).db.execute("SELECT DISTINCT run_id FROM attempts WHERE status = 'pending'").fetchall()
        except Exception:  # the database is being created
            return None
        return [r[0] for r in rows] if len(rows) >= count else None

    return wait_until(in_flight, timeout=30, interval=0.1, message="the CLI never sent its requests")


def statuses(store: Store) -> list[tuple]:
    return sorted(store.db.execute("SELECT status, error_type FROM runs").fetchall())


@pytest.fixture
def slow(sandbox):
    sandbox.configure(latency_s=(60.0, 60.0))  # each image takes a minute: far longer than any test waits
    return sandbox


@pytest.fixture
def app_runner(tmp_path):
    """The app's runner on the CLI's database (its watcher is driven by hand: ``check_now``)."""
    runners = []

    def make(data):
        store = Store(data / "imagelab.db")
        runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=2, watch=False)
        runners.append(runner)
        return store, runner

    yield make
    for runner in runners:
        runner.shutdown(2)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_sigterm_ends_a_cli_grids_cells_interrupted_not_running(slow, tmp_path):
    data = tmp_path / "data"
    proc = start_grid(slow, data)
    try:
        runs_in_flight(data / "imagelab.db", proc, 2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 1, err
    cells = json.loads(out)["cells"]
    assert [(c["ok"], c["error_type"]) for c in cells] == [(False, "interrupted")] * 2
    store = Store(data / "imagelab.db")
    assert statuses(store) == [("interrupted", "interrupted")] * 2
    assert store.db.execute("SELECT count(*) FROM attempts WHERE status = 'pending'").fetchone()[0] == 0


def test_the_app_ends_the_rows_of_a_cli_that_was_killed_without_a_restart(slow, tmp_path, app_runner):
    data = tmp_path / "data"
    proc = start_grid(slow, data)
    try:
        runs_in_flight(data / "imagelab.db", proc, 2)
        store, runner = app_runner(data)  # the app, already running
        runner.check_now(reap=True)
        assert statuses(store) == [("running", None)] * 2  # a live CLI keeps its rows
        proc.kill()  # no chance to write anything
        proc.communicate(timeout=10)
        runner.check_now(reap=True)
    finally:
        stop(proc)
    assert statuses(store) == [("interrupted", "interrupted")] * 2
    assert store.db.execute("SELECT status FROM attempts").fetchall() == [("interrupted",)] * 2


def test_the_apps_cancel_stops_a_cli_grid_through_the_database(slow, tmp_path, app_runner):
    data = tmp_path / "data"
    proc = start_grid(slow, data)
    try:
        runs_in_flight(data / "imagelab.db", proc, 2)
        store, runner = app_runner(data)
        [cid] = [r[0] for r in store.db.execute("SELECT id FROM comparisons").fetchall()]
        assert K.cancel(store, runner, cid) == 2  # asked through the database
        out, err = proc.communicate(timeout=30)  # the CLI reads the request and stops its cells
    finally:
        stop(proc)
    assert proc.returncode == 1, err
    assert [c["status"] for c in json.loads(out)["cells"]] == ["cancelled", "cancelled"]
    assert statuses(store) == [("cancelled", None)] * 2
    assert K.load(store, cid).status == "cancelled"
    assert runner.cancel_run(store.db.execute("SELECT id FROM runs").fetchone()[0]) == "finished"


def test_the_apps_cancel_stops_a_cli_generate_through_the_database(slow, tmp_path, app_runner):
    data = tmp_path / "data"
    proc = start_cli(slow, data, "generate", "--prompt", "a slow fox", "--provider", "sandbox", "--max-retries", "0")
    try:
        [run_id] = runs_in_flight(data / "imagelab.db", proc, 1)
        store, runner = app_runner(data)
        assert runner.cancel_run(run_id) == "requested"
        out, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 1, err
    assert json.loads(out)["error_type"] is None  # cancelled is no error
    assert statuses(store) == [("cancelled", None)]


def test_a_cli_generation_opened_by_link_in_the_app_says_where_it_runs_and_cancels_through_the_database(slow, new_app, app_env):
    proc = start_cli(slow, app_env, "generate", "--prompt", "a slow fox", "--provider", "sandbox", "--max-retries", "0")
    try:
        [run_id] = runs_in_flight(app_env / "imagelab.db", proc, 1)
        at = new_app(query={"run": run_id})
        assert any("runs in another process (the command line)" in i.value for i in at.info)
        assert at.button(key="cancel").disabled  # not started here: confirm first
        at.checkbox(key="cancel_confirm").check().run()
        at.button(key="cancel").click().run()
        assert not at.exception
        out, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == 1, err
    at.run()
    assert not any("another process" in i.value for i in at.info)  # ended: shown like any finished run
    assert any("cancelled" in i.value for i in at.info)
    from lib import ui

    assert ui.get_store().run(run_id)["status"] == "cancelled"
