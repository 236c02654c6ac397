"""Finished jobs are kept for reattach only while few, recent and light; then the run is read from the store,
and the memory they held is given back."""

from __future__ import annotations

import gc
import threading
import tracemalloc

import pytest

from lib import constants as C
from lib.generation import ClientSettings, GenerationRequest, Outcome, ReferenceImage
from lib.jobs import JobRunner, JobSpec, held_bytes
from lib.store import Store
from tests.support.clock import FakeClock

SETTINGS = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1")
MB = 1024 * 1024


def edit(i: int, size: int = 4 * MB) -> GenerationRequest:
    """An edit with one reference image of ``size`` bytes (distinct bytes per job)."""
    return GenerationRequest(
        prompt=f"edit {i}", model="gpt-image-2", size="1024x1024", images=[ReferenceImage(f"ref{i}.png", bytes([i % 251]) * size)]
    )


def done(job) -> Outcome:
    return Outcome(ok=True, run_id=job.run_id, requested_model="m", model="m", images=[], attempts=[], events=[], error=None, latency_ms=1)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "done.db")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def runner(store, clock):
    r = JobRunner(recorder=store, keeper=store.keeper, max_workers=2, execute=done, clock=clock, watch=False)
    yield r
    r.shutdown(5)


def run_all(runner, requests):
    jobs = [runner.submit(JobSpec(settings=SETTINGS, request=r)) for r in requests]
    for job in jobs:
        assert job.wait(10)
    return [job.run_id for job in jobs]


def test_finished_jobs_hold_no_more_than_the_byte_budget(runner, monkeypatch):
    monkeypatch.setattr(C, "JOB_DONE_MAX_BYTES", 10 * MB)
    ids = run_all(runner, [edit(i) for i in range(8)])  # 32 MB of reference images in all
    assert runner.held_bytes <= 10 * MB
    kept = [run_id for run_id in ids if runner.get(run_id) is not None]
    assert kept == ids[-2:]  # the newest ones, the oldest let go first
    assert all(held_bytes(runner.get(run_id)) == 4 * MB for run_id in kept)


def test_finished_jobs_are_let_go_after_their_age(runner, clock):
    ids = run_all(runner, [edit(i, size=MB) for i in range(3)])
    assert all(runner.get(run_id) is not None for run_id in ids)
    clock.now += C.JOB_DONE_MAX_AGE_S + 1
    assert [runner.get(run_id) for run_id in ids] == [None, None, None]
    assert runner.held_bytes == 0 and runner.jobs() == []


def test_the_count_of_finished_jobs_is_bounded(runner, monkeypatch):
    monkeypatch.setattr(C, "JOB_DONE_KEEP", 3)
    ids = run_all(runner, [GenerationRequest(prompt=f"p{i}", model="gpt-image-2") for i in range(6)])
    assert [runner.get(run_id) is not None for run_id in ids] == [False, False, False, True, True, True]


def test_memory_returns_near_its_baseline_once_runs_are_over(runner, clock):
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        run_all(runner, [edit(i) for i in range(6)])  # 24 MB of reference images
        held = tracemalloc.get_traced_memory()[0] - baseline
        assert held > 20 * MB  # kept for reattach while recent
        clock.now += C.JOB_DONE_MAX_AGE_S + 1
        assert runner.held_bytes == 0
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert after < 2 * MB, f"{after / MB:.1f} MB still held after the runs ended"


def test_a_run_let_go_is_read_back_from_the_store_with_its_images(sandbox, store, clock):
    from lib.limits import LimiterRegistry
    from lib.store.records import outcome_from_run

    settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url, max_retries=0, use_fallback=False, rate_per_s=1000, burst=1000)
    real = JobRunner(recorder=store, keeper=store.keeper, max_workers=1, clock=clock, watch=False, limiters=LimiterRegistry())
    try:
        job = real.submit(JobSpec(settings=settings, request=GenerationRequest(prompt="a teapot", model="gpt-image-2", size="1024x1024")))
        assert job.wait(20) and job.outcome.ok
        assert all(img.data is None and img.path for img in job.outcome.images)  # by file, not bytes
        clock.now += C.JOB_DONE_MAX_AGE_S + 1
        assert real.get(job.run_id) is None
        again = outcome_from_run(store.run(job.run_id), store.root)
        assert again.ok and [img.path for img in again.images] == [img.path for img in job.outcome.images]
    finally:
        real.shutdown(5)


def test_held_bytes_counts_memory_not_files(runner):
    started = threading.Event()

    def with_partials(job) -> Outcome:
        started.set()
        out = done(job)
        out.partials = [b"x" * 1000, b"y" * 500]
        out.raw_response = "z" * 100
        return out

    r = JobRunner(recorder=runner.recorder, keeper=None, max_workers=1, execute=with_partials, watch=False)
    try:
        job = r.submit(JobSpec(settings=SETTINGS, request=GenerationRequest(prompt="p", model="gpt-image-2")))
        assert job.wait(10)
        assert held_bytes(job) == 1600
    finally:
        r.shutdown(5)
