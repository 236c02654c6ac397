"""The jobs API others build on: submit, batches, queue places, cancel everywhere, reattach, shutdown."""

from __future__ import annotations

import httpx
import pytest

from lib.generation import ClientSettings, GenerationRequest
from lib.jobs import Batch, JobRunner, JobSpec, run_generation
from lib.limits import LimiterRegistry
from lib.store import Store
from tests.support.wait_until import wait_until

REQ = GenerationRequest(prompt="a paper boat on a pond", model="gpt-image-2", size="1024x1024")


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "jobs.db")


@pytest.fixture
def runner(store):
    r = JobRunner(recorder=store, keeper=store.keeper, max_workers=4, limiters=LimiterRegistry())
    yield r
    r.shutdown(5)


def settings_for(sandbox, scenario="healthy", **kw) -> ClientSettings:
    kw.setdefault("max_retries", 0)
    kw.setdefault("use_fallback", False)
    kw.setdefault("rate_per_s", 1000)
    kw.setdefault("burst", 1000)
    return ClientSettings(provider="sandbox", base_url=sandbox.base_url, extra_headers={"X-Sandbox-Scenario": scenario}, **kw)


def wait_for_event(job, kind, timeout=10.0) -> None:
    """Block until the job has emitted an event of this kind (the job's own thread appends them)."""
    wait_until(
        lambda: any(e.kind == kind for e in list(job.events)),
        timeout=timeout,
        interval=0.01,
        message=lambda: f"no {kind!r} event; got {[e.kind for e in job.events]}",
    )


def test_submit_writes_the_run_at_once_and_the_job_finishes(sandbox, runner, store):
    spec = JobSpec(
        settings=settings_for(sandbox), request=REQ, kind="compare", comparison_id="cmp1", cell={"row": 0, "col": 1}, label="cell 0/1"
    )
    job = runner.submit(spec)
    row = store.run(job.run_id)  # exists before the job has done anything
    assert row is not None and row["kind"] == "compare" and row["comparison_id"] == "cmp1" and row["cell"] == {"row": 0, "col": 1}
    assert GenerationRequest.from_dict(row["request"]) == REQ and row["prompt"] == REQ.prompt and row["provider"] == "sandbox"
    assert job.wait(20) and job.status == "succeeded" and job.outcome.ok
    assert runner.get(job.run_id) is job
    run = store.run(job.run_id)
    assert run["status"] == "succeeded" and len(run["attempts"]) == 1 and len(run["images"]) == 1
    assert run["attempts"][0]["image_count"] == 1
    assert [e["kind"] for e in run["events"]] == [e.kind for e in job.events]
    assert [e["seq"] for e in run["events"]] == list(range(1, len(job.events) + 1))
    assert store.recent_runs(kind="compare")[0]["id"] == job.run_id
    assert store.recent_runs(kind="generate") == []


def test_cancel_in_the_middle_of_a_request_closes_it(sandbox, runner, store):
    sandbox.configure(hang_s=60)  # far longer than the test waits
    job = runner.submit(JobSpec(settings=settings_for(sandbox, "timeout", read_timeout_s=120), request=REQ))
    wait_for_event(job, "submitted")
    job.cancel()
    assert job.wait(5), "the in-flight request was not closed"
    assert job.status == "cancelled" and job.outcome.status == "cancelled" and job.outcome.error is None
    run = store.run(job.run_id)
    assert run["status"] == "cancelled" and run["error_type"] is None
    [attempt] = run["attempts"]
    assert attempt["status"] == "cancelled" and attempt["error_type"] is None and attempt["finished_at"]


def test_cancel_during_a_backoff_does_not_wait_it_out(sandbox, runner, store):
    sandbox.configure(retry_after_s=60)  # the provider asks for a minute
    job = runner.submit(JobSpec(settings=settings_for(sandbox, "rate_limited_always", max_retries=2), request=REQ))
    wait_for_event(job, "retry")
    job.cancel()
    assert job.wait(5)
    run = store.run(job.run_id)
    assert run["status"] == "cancelled"
    assert [a["status"] for a in run["attempts"]] == ["failed"]  # the 429 stays what it was; no new attempt
    assert run["attempts"][0]["error_type"] == "rate_limited"


def test_queue_places_and_cancel_while_queued(sandbox, store):
    sandbox.configure(hang_s=60)
    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=1, limiters=LimiterRegistry())
    try:
        first = runner.submit(JobSpec(settings=settings_for(sandbox, "timeout", read_timeout_s=120), request=REQ))
        wait_for_event(first, "submitted")
        second = runner.submit(JobSpec(settings=settings_for(sandbox), request=REQ))
        third = runner.submit(JobSpec(settings=settings_for(sandbox), request=REQ))
        assert (second.status, second.queue_position) == ("queued", 0)
        assert (third.status, third.queue_position) == ("queued", 1)
        assert store.run(second.run_id)["status"] == "queued"
        second.cancel()
        assert second.done and second.status == "cancelled"
        assert store.run(second.run_id)["status"] == "cancelled" and store.run(second.run_id)["attempts"] == []
        assert third.queue_position == 0
        first.cancel()
        assert third.wait(20) and third.status == "succeeded"
    finally:
        runner.shutdown(5)


def test_a_provider_at_its_concurrency_holds_no_worker_its_jobs_wait_in_the_queue_with_their_place(sandbox, store):
    sandbox.configure(hang_s=60)
    limiters = LimiterRegistry()
    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=4, limiters=limiters)
    try:
        one = dict(max_concurrency=1)
        busy = runner.submit(JobSpec(settings=settings_for(sandbox, "timeout", read_timeout_s=120, **one), request=REQ))
        wait_for_event(busy, "submitted")
        a = runner.submit(JobSpec(settings=settings_for(sandbox, **one), request=REQ))
        b = runner.submit(JobSpec(settings=settings_for(sandbox, **one), request=REQ))
        assert (a.status, a.queue_position) == ("queued", 0) and (b.status, b.queue_position) == ("queued", 1)
        assert not a.events and not b.events  # no worker sits in the provider's limiter for them
        a.cancel()
        assert a.wait(5) and a.status == "cancelled"
        assert store.run(a.run_id)["attempts"] == [] and b.queue_position == 0
        busy.cancel()
        assert b.wait(20) and b.status == "succeeded"
    finally:
        runner.shutdown(5)


def test_a_batch_has_one_cancel_for_all(sandbox, runner, store):
    sandbox.configure(hang_s=60)
    specs = [
        JobSpec(settings=settings_for(sandbox, "timeout", read_timeout_s=120), request=REQ, kind="compare", cell={"i": i}) for i in range(3)
    ]
    batch = runner.submit_batch(specs)
    assert isinstance(batch, Batch) and len(batch.jobs) == 3 and len({j.run_id for j in batch.jobs}) == 3
    assert all(j.batch_id == batch.id and j.kind == "compare" for j in batch.jobs)
    for job in batch.jobs:
        wait_for_event(job, "submitted")
    assert batch.counts()["running"] == 3 and not batch.done
    batch.cancel()
    assert batch.wait(5) and batch.done
    assert batch.counts()["cancelled"] == 3
    assert {store.run(j.run_id)["status"] for j in batch.jobs} == {"cancelled"}


def test_shutdown_interrupts_running_jobs_and_refuses_new_ones(sandbox, store):
    sandbox.configure(hang_s=60)
    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=1, limiters=LimiterRegistry())
    running = runner.submit(JobSpec(settings=settings_for(sandbox, "timeout", read_timeout_s=120), request=REQ))
    wait_for_event(running, "submitted")
    queued = runner.submit(JobSpec(settings=settings_for(sandbox), request=REQ))
    runner.shutdown(5)
    assert running.done and running.status == "interrupted"
    assert queued.done and queued.status == "interrupted"
    run = store.run(running.run_id)
    assert run["status"] == "interrupted" and run["attempts"][0]["status"] == "interrupted"
    assert store.run(queued.run_id)["status"] == "interrupted" and store.run(queued.run_id)["attempts"] == []
    with pytest.raises(RuntimeError):
        runner.submit(JobSpec(settings=settings_for(sandbox), request=REQ))


def test_run_generation_without_a_runner_records_one_run(sandbox, store):
    out = run_generation(settings_for(sandbox), REQ, recorder=store, keeper=store.keeper)
    assert out.ok and out.status == "succeeded"
    assert [r["id"] for r in store.recent_runs()] == [out.run_id]
    assert store.run(out.run_id)["status"] == "succeeded"


def test_the_run_deadline_stops_a_hang_and_walks_no_further(sandbox, store):
    sandbox.configure(hang_s=60)
    s = settings_for(sandbox, "timeout", read_timeout_s=120, run_deadline_s=0.5, max_retries=2, use_fallback=True)
    out = run_generation(s, REQ, recorder=store, keeper=store.keeper)
    assert out.status == "failed" and out.error.error_type == "timeout" and out.error.code == "run_deadline"
    run = store.run(out.run_id)
    assert len(run["attempts"]) == 1 and run["attempts"][0]["error_type"] == "timeout"


def test_a_mock_transport_job_records_through_the_runner(store):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={"error": {"message": "boom"}})

    runner = JobRunner(
        recorder=store,
        keeper=store.keeper,
        max_workers=1,
        limiters=LimiterRegistry(),
        client_kwargs={"transport": httpx.MockTransport(handler), "rand": lambda: 0.0},
    )
    try:
        job = runner.submit(
            JobSpec(
                settings=ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9", max_retries=1, use_fallback=False), request=REQ
            )
        )
        assert job.wait(20)
        assert job.status == "failed" and job.outcome.error.error_type == "server_error"
        assert len(calls) == 2 and [a["status"] for a in store.run(job.run_id)["attempts"]] == ["failed", "failed"]
    finally:
        runner.shutdown(5)
