"""Which request an attempt was (``attempts.attempt_kind``) and the figures that count by it."""

from __future__ import annotations

import json

import pytest
import sqlite_utils

from lib.store import AttemptFilter, Store
from lib.store.history import run_outcomes_query
from lib.store.schema import migrations
from tests.support.history_seed import add

NOW = 1_800_000_000.0
CHECK = {"kind": "moderation", "images": 0}


@pytest.fixture
def store(tmp_path):
    return Store(data_dir=tmp_path / "data")


def kinds(store):
    return dict(store.db.execute("SELECT id, attempt_kind FROM attempts").fetchall())


def flagged_run(store, at, *, run=None, **finish):
    """A run the moderation check stopped: one failed attempt 0 of the moderation model."""
    run = run or store.start_run(kind="generate", label="x", settings={})
    add(
        store,
        run_id=run,
        at=at,
        model="omni-moderation-latest",
        attempt_no=0,
        params=CHECK,
        status="failed",
        error_type="content_policy",
        latency_ms=300,
        cost_usd=0.0,
        **finish,
    )
    return run


def test_each_attempt_is_kept_with_its_kind_whoever_writes_it(store):
    image = add(store, at=NOW)
    run = store.start_run(kind="generate", label="x", settings={})
    check = add(store, at=NOW, run_id=run, model="omni-moderation-latest", attempt_no=0, params=CHECK)
    after = add(store, at=NOW, run_id=run, attempt_no=1)
    judge = add(store, at=NOW, kind="judge", model="gpt-4o-mini", params={"kind": "judge"})
    odd = add(store, at=NOW, params=None)
    store.db.execute("UPDATE attempts SET params = 'not json' WHERE id = ?", [odd])
    assert kinds(store) == {image: "image", check: "moderation", after: "image", judge: "judge", odd: "image"}


def test_old_rows_are_filled_and_a_stopped_run_gets_its_image_model_back(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m025_attempt_kind")
    request = json.dumps({"model": "gpt-image-2", "prompt": "p"})
    db["runs"].insert_all(
        [
            {"id": "stopped", "kind": "generate", "created_at": 1.0, "model": "omni-moderation-latest", "request": request},
            {"id": "judged", "kind": "judge", "created_at": 1.0, "model": "gpt-4o-mini"},
            {"id": "plain", "kind": "generate", "created_at": 1.0, "model": "gpt-image-1.5", "request": request},
        ]
    )
    raw = "HTTP 200  flagged: True; categories: violence, violence/graphic"
    rows = [
        {"run_id": "stopped", "model": "omni-moderation-latest", "params": json.dumps(CHECK), "error_code": "moderation_flagged"},
        {"run_id": "judged", "model": "gpt-4o-mini", "params": json.dumps({"kind": "judge"})},
        {"run_id": "plain", "model": "gpt-image-1.5", "params": "{}"},
    ]
    db["attempts"].insert_all([{**r, "started_at": 1.0, "status": "failed", "raw_response": raw} for r in rows])
    db.close()

    store = Store(path)
    got = store.db.execute("SELECT run_id, attempt_kind, flagged_categories FROM attempts ORDER BY id").fetchall()
    assert got == [
        ("stopped", "moderation", json.dumps(["violence", "violence/graphic"])),
        ("judged", "judge", None),
        ("plain", "image", None),  # the same words in an image attempt's answer are no flagged categories
    ]
    models = dict(store.db.execute("SELECT id, model FROM runs").fetchall())
    assert models == {"stopped": "gpt-image-2", "judged": "gpt-4o-mini", "plain": "gpt-image-1.5"}


def test_run_success_counts_image_runs_and_a_stopped_run_as_ended_without_an_image(store):
    run = store.start_run(kind="generate", label="x", settings={})
    add(store, run_id=run, at=NOW, model="omni-moderation-latest", attempt_no=0, params=CHECK, latency_ms=100)
    add(store, run_id=run, at=NOW + 1, attempt_no=1, status="failed", error_type="server_error")  # the check passed, the image failed
    flagged_run(store, NOW)
    add(store, at=NOW)  # an image run that succeeded
    add(store, at=NOW, kind="judge", model="gpt-4o-mini", params={"kind": "judge"})  # a judge call is no image run
    flt = AttemptFilter(since=NOW - 10, images_only=True)
    assert store.run_outcomes(flt) == (1, 3)
    sql, params = run_outcomes_query(flt)
    plan = " ".join(str(r) for r in store.db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall())
    assert "COVERING INDEX idx_attempts_run_outcomes" in plan


def test_spend_counts_every_attempt_that_costs_money(store):
    add(store, at=NOW, cost_usd=0.04)
    flagged_run(store, NOW)
    add(store, at=NOW, kind="judge", model="gpt-4o-mini", params={"kind": "judge"}, cost_usd=0.002)
    spend = store.spend_by_kind(AttemptFilter(since=NOW - 10, images_only=True))
    assert spend == pytest.approx({"image": 0.04, "moderation": 0.0, "judge": 0.002})


def test_the_diagnostics_evidence_is_of_image_requests_only(store):
    add(store, at=NOW, latency_ms=40_000)
    flagged_run(store, NOW)
    for _ in range(3):
        add(store, at=NOW, kind="judge", model="gpt-4o-mini", params={"kind": "judge"}, status="failed", error_type="rate_limited")
    evidence = store.evidence(AttemptFilter(since=NOW - 10))
    assert evidence[0]["total"] == 1
    assert evidence[5]["errors"] == {} and evidence[8]["errors"] == {}
    assert evidence[9]["latency"]["count"] == 1 and evidence[9]["latency"]["p50_ms"] == 40_000


def test_a_comparison_cell_the_moderation_check_stopped_was_answered_by_no_check(store):
    from lib.compare.record import cell_states

    store.insert_comparison("cmp1", title="t", axes={}, settings={})
    cell = {"key": "r0c0", "row": 0, "col": 0, "target": "gpt-image-2", "model": "gpt-image-2"}
    run = store.start_run(kind="compare", label="x", settings={}, comparison_id="cmp1", cell=cell)
    flagged_run(store, NOW, run=run, flagged_categories=["violence"])
    store.run_finished(run, {"status": "failed", "error_type": "content_policy", "model": "gpt-image-2", "finished_at": NOW + 1})
    (state,) = cell_states(store, "cmp1").values()
    assert state.model_used == "gpt-image-2"
    assert [a.is_image for a in state.attempts] == [False]
    assert state.error().categories == ("violence",)  # the cell's card names them as the live one does
