"""A fresh store and a job runner on it, for the grids these tests run on the sandbox."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path):
    from lib.store import Store

    return Store(tmp_path / "data" / "imagelab.db")


@pytest.fixture
def runner(store):
    from lib.jobs import JobRunner

    r = JobRunner(recorder=store, keeper=store.keeper, max_workers=8)
    yield r
    r.shutdown(5)
