"""Checks on a comparison, on the real sandbox: the grid's checks kept with its plan, each finished
cell checked in the background, verdicts read back per cell, the summary's pass rate and mean
score, rows ordered and filtered by score, the spread of samples, the judge as its own run, and
comparison.json carrying each image's checks."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from lib import compare as K
from lib.checks import CheckSpec, kept_reader, kept_specs
from lib.checks.background import CheckQueue
from lib.checks.judge import judge_caller
from lib.compare import Target
from lib.generation import ClientSettings
from tests.checks.support import encode, scene

GPT2 = Target("sandbox", "gpt-image-2")
GOOD = 'a bakery window with a sign that says "GRAND OPENING"'
BAD = GOOD + " #misspell"


def settings_for(sandbox, **changes):
    return lambda provider: ClientSettings(provider="sandbox", base_url=sandbox.base_url, rate_per_s=100.0, max_concurrency=4, **changes)


def checked_grid(store, runner, sandbox, specs, *, repeats=1, judge=None):
    plan = K.build_plan(prompts=[GOOD, BAD], targets=[GPT2], shared={"size": "1024x1024"}, repeats=repeats)
    plan.checks = kept_specs(store.keeper, specs)
    cid, batch = K.start(store, runner, plan, settings_for(sandbox))
    queue = CheckQueue(store)
    kept = K.load_plan(store, cid).check_specs(kept_reader(store.keeper))
    for job in batch.jobs:  # each cell is handed over as it ends, while the others still run
        assert job.wait(30)
        assert queue.submit(job.run_id, kept, judge=judge) or job.outcome is None or not job.outcome.ok
    assert queue.wait_idle(120), "the checks did not finish"
    assert queue.pending() == set()
    return cid, queue


def test_each_cell_shows_its_verdict_and_the_summary_its_pass_rate(store, runner, sandbox):
    cid, queue = checked_grid(store, runner, sandbox, [CheckSpec("size"), CheckSpec("text")])
    view = K.load(store, cid)
    assert view.plan.checks == [{"name": "size"}, {"name": "text"}]  # kept with the grid, reloaded with it
    good, bad = view.cells["r0c0"], view.cells["r1c0"]
    assert [(c["name"], c["passed"]) for c in good.checks] == [("size", True), ("text", True)]
    assert [(c["name"], c["passed"]) for c in bad.checks] == [("size", True), ("text", False)]
    [piece] = bad.checks[1]["detail"]["pieces"]
    assert piece["asked"] == "GRAND OPENING" and piece["read"] and piece["read"].upper() != "GRAND OPENING"
    assert good.verdict.passed and not bad.verdict.passed and bad.verdict.score < 1.0

    [column] = K.summary(view)
    assert (column.checked, column.checks_passing) == (2, 1) and column.pass_rate == 0.5
    assert column.mean_score == pytest.approx((1.0 + bad.verdict.score) / 2)
    assert "checks 1/2 pass (50%), mean score" in column.line()

    columns = view.all_columns()
    assert [r.index for r in K.arrange_rows(view, columns, order="score")] == [0, 1]
    assert [r.index for r in K.arrange_rows(view, columns, show="checks_failed")] == [1]
    assert queue.submit_unchecked([good.run_id, bad.run_id], [CheckSpec("size")]) == 0  # kept already: not checked twice

    data = K.export_dict(view)
    by_cell = {c["cell"]: c for c in data["cells"]}
    assert by_cell["r0c0"]["checks_passed"] is True and by_cell["r1c0"]["checks_passed"] is False
    text = next(c for c in by_cell["r1c0"]["checks"] if c["name"] == "text")
    assert text["image_id"] == bad.images[0]["id"] and text["detail"]["pieces"][0]["asked"] == "GRAND OPENING"
    assert data["axes"]["checks"] == [{"name": "size"}, {"name": "text"}]
    with zipfile.ZipFile(io.BytesIO(K.export_zip(store, view))) as zf:
        assert json.loads(zf.read("comparison.json"))["cells"][1]["checks"][1]["passed"] is False


def test_rows_by_score_put_the_unchecked_last_and_the_spread_counts_passing_samples(store, runner, sandbox):
    cid, _queue = checked_grid(store, runner, sandbox, [CheckSpec("size")], repeats=2)
    view = K.load(store, cid)
    spread = K.spread(view.samples("r0c0"))
    assert (spread.checked, spread.checks_passing) == (2, 2)
    assert "2/2 pass their checks (100%)" in spread.line()


def test_a_similar_reference_is_kept_and_read_back(store, runner, sandbox, tmp_path):
    reference = encode(scene(3))
    cid, _queue = checked_grid(store, runner, sandbox, [CheckSpec("similar", 0.99, reference, "ref.png")])
    [entry] = K.load_plan(store, cid).checks
    assert entry["reference_name"] == "ref.png" and "bytes" not in json.dumps(entry)
    [spec] = K.load_plan(store, cid).check_specs(kept_reader(store.keeper))
    assert spec.reference == reference  # the bytes come back from the data directory
    view = K.load(store, cid)
    similar = view.cells["r0c0"].checks[0]
    assert similar["name"] == "similar" and not similar["passed"] and similar["detail"]["reference"] == "ref.png"


def test_the_judge_is_a_run_of_its_own_with_its_cost(store, runner, sandbox):
    from lib.client import ImageClient

    client = ImageClient(settings=settings_for(sandbox)("sandbox"))
    judge = judge_caller(client, store, rubric="the sign is legible")
    cid, _queue = checked_grid(store, runner, sandbox, [CheckSpec("judge", rubric="the sign is legible")], judge=judge)
    view = K.load(store, cid)
    verdicts = [c.checks for c in view.cells.values()]
    assert all([r["name"] for r in rows] == ["judge"] and rows[0]["passed"] for rows in verdicts)
    judged = store.recent_runs(kind="judge")
    assert len(judged) == 2 and all(r["status"] == "succeeded" for r in judged)
    attempt = store.attempt(verdicts[0][0]["detail"]["judge_attempt_id"])
    assert attempt["cost_usd"] > 0 and attempt["url"].endswith("/chat/completions")


def test_a_check_that_cannot_be_kept_is_said_and_not_tried_again(store, runner, sandbox, monkeypatch):
    plan = K.build_plan(prompts=[GOOD], targets=[GPT2], shared={"size": "1024x1024"})
    cid, batch = K.start(store, runner, plan, settings_for(sandbox))
    assert batch.wait(30)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "record_checks", broken)
    queue = CheckQueue(store)
    run_id = batch.jobs[0].run_id
    assert queue.submit_unchecked([run_id], [CheckSpec("size")]) == 1
    assert queue.wait_idle(30)
    assert "disk full" in queue.failure(run_id)
    assert queue.submit_unchecked([run_id], [CheckSpec("size")]) == 0
    assert K.load(store, cid).cells["r0c0"].checks == []


def test_the_contact_sheet_marks_each_checked_cell(store, runner, sandbox):
    from PIL import Image

    from lib.compare.sheet import CHECK_FAIL, CHECK_PASS

    cid, _queue = checked_grid(store, runner, sandbox, [CheckSpec("text")])
    view = K.load(store, cid)
    sheet = Image.open(io.BytesIO(K.contact_sheet_png(store, view))).convert("RGB")
    colours = {colour for _n, colour in sheet.getcolors(1 << 20)}
    assert CHECK_PASS in colours and CHECK_FAIL in colours
    unchecked = Image.open(io.BytesIO(K.contact_sheet_png(store, _without_checks(view)))).convert("RGB")
    assert CHECK_FAIL not in {colour for _n, colour in unchecked.getcolors(1 << 20)}


def _without_checks(view):
    for c in view.cells.values():
        c.checks = []
    return view


def test_finished_cells_are_checked_while_another_still_runs(store, runner, sandbox):
    plan = K.build_plan(prompts=[GOOD, "a sign that never comes #timeout"], targets=[GPT2], shared={"size": "1024x1024"})
    plan.checks = kept_specs(store.keeper, [CheckSpec("text")])
    cid, batch = K.start(store, runner, plan, settings_for(sandbox, read_timeout_s=20.0, max_retries=0))
    fast, slow = batch.jobs
    assert fast.wait(30)
    queue = CheckQueue(store)
    view = K.load(store, cid)
    assert queue.submit_unchecked([c.run_id for c in view.cells.values() if c.ok], view.plan.check_specs()) == 1
    assert queue.wait_idle(60)
    view = K.load(store, cid)
    assert not slow.done and view.running  # the other cell is still waiting for its answer
    assert view.cells["r0c0"].checks[0]["passed"]
    K.cancel(store, runner, cid)
