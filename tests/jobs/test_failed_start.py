"""A run that cannot be written when a job is submitted (a full disk, a read-only data directory): a
local-write error the page can show as a card, nothing queued, and no row of a batch left waiting."""

from __future__ import annotations

import pytest

from lib import errors as E
from lib.errors import describe
from lib.generation import ClientSettings, GenerationRequest
from lib.jobs import JobRunner, JobSpec
from lib.store import Store
from tests.support.damaged_db import allow_run_writes, refuse_run_writes

SPEC = JobSpec(
    settings=ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1"),
    request=GenerationRequest(prompt="p", model="gpt-image-2"),
)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "data" / "imagelab.db")


@pytest.fixture
def runner(store):
    r = JobRunner(recorder=store, keeper=store.keeper, max_workers=1, watch=False, execute=lambda job: None)
    yield r
    r.shutdown(2)


@pytest.mark.parametrize(
    "message, words", [("database or disk is full", "the disk is full"), ("attempt to write a readonly database", "read-only")]
)
def test_submit_raises_a_local_write_error_and_queues_nothing(store, runner, message, words):
    refuse_run_writes(store.path, message)
    with pytest.raises(E.AppError) as raised:
        runner.submit(SPEC)
    err = raised.value
    assert err.code == "local_write" and words in err.message and str(store.root) in err.message
    assert describe(err)["title"] == E.LOCAL_WRITE_TITLE
    assert runner.jobs() == [] and store.recent_runs() == []
    allow_run_writes(store.path)
    assert runner.submit(SPEC).run_id  # space again: it starts


def test_a_batch_that_fails_midway_ends_the_cells_already_written(store, runner):
    refuse_run_writes(store.path, after=2)  # the disk fills after two cells
    with pytest.raises(E.AppError):
        runner.submit_batch([SPEC] * 4)
    rows = store.db.execute("SELECT status, error_type FROM runs").fetchall()
    assert rows == [("failed", "app_error")] * 2  # none left 'queued' for ever
    assert runner.jobs() == []
