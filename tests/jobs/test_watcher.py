"""The runner's watcher, as the app runs it: a stop request written to the store by another process
stops this runner's job, and a run left by a process that is gone ends interrupted, with no restart."""

from __future__ import annotations

import threading

from lib import constants as C
from lib.generation import ClientSettings, GenerationRequest, Outcome
from lib.jobs import JobRunner, JobSpec
from lib.store import Store
from tests.support.wait_until import wait_until

SPEC = JobSpec(
    settings=ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1"),
    request=GenerationRequest(prompt="p", model="gpt-image-2"),
)


def test_the_watcher_honours_stop_requests_and_ends_runs_of_gone_processes(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "CANCEL_POLL_S", 0.02)
    monkeypatch.setattr(C, "OWNER_CHECK_S", 0.0)
    store = Store(tmp_path / "w.db")
    orphan = store.start_run(kind="compare", label="left by a CLI that was killed", settings={})
    store.db.execute("UPDATE runs SET owner_token = '999999999:-:gone', owner_pid = 999999999 WHERE id = ?", [orphan])
    started = threading.Event()

    def until_cancelled(job) -> Outcome:
        started.set()
        job.token.wait(30)  # a request in flight, closed by the cancel
        return Outcome(
            ok=False,
            run_id=job.run_id,
            requested_model="m",
            model="m",
            images=[],
            attempts=[],
            events=[],
            error=None,
            latency_ms=0,
            status="cancelled",
        )

    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=1, execute=until_cancelled)
    try:
        job = runner.submit(SPEC)
        assert started.wait(10)
        assert store.request_cancel([job.run_id]) == 1  # as another process's Cancel writes it
        assert job.wait(10) and job.status == "cancelled"
        wait_until(
            lambda: store.run(orphan)["status"] == "interrupted", timeout=10, interval=0.02, message="the orphan run was left running"
        )
        assert store.run(orphan)["error_type"] == "interrupted"
        assert store.request_cancel([orphan]) == 0  # finished runs are not asked
    finally:
        runner.shutdown(2)
