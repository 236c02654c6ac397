"""Checks kept per attempt and image: written, replaced, read per attempt, image and run, and the
attempts with a failed check."""

from __future__ import annotations

import sqlite3

import pytest
from PIL import Image

from lib.checks import CheckRequest, CheckResult, parse_spec, run_checks
from lib.store import RUN_KINDS, Store
from tests.checks.support import encode

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


def attempt_with_image(store: Store, prompt: str = "p", *, kind: str = "compare", size=(64, 48)) -> tuple[str, int, int, bytes]:
    run = store.start_run(kind=kind, label=prompt, settings={})
    attempt = store.attempt_started({"run_id": run, "model": "gpt-image-2", "prompt": prompt, "started_at": 1000.0})
    data = encode(Image.new("RGB", size, "white"))
    store.attempt_finished(attempt, {"status": "succeeded"}, [store.keeper.save(data, source="b64")])
    image_id = store.images_for([attempt])[attempt][0]["id"]
    return run, attempt, image_id, data


def test_checks_are_kept_and_read_back(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    run, attempt, image_id, data = attempt_with_image(store, '"HI"')
    results = run_checks(data, CheckRequest(prompt='"HI"', size="64x64"), [parse_spec("size")])
    assert store.record_checks(attempt, image_id, results, now=2000.0) == 1
    [row] = store.checks_for([attempt])[attempt]
    assert row["name"] == "size" and row["passed"] is False and row["score"] == 0.0 and row["image_id"] == image_id
    assert row["detail"]["aspects"][0] == {"aspect": "size", "asked": "64x64", "got": "64x48", "passed": False}
    assert row["summary"] == results[0].summary and row["created_at"] == 2000.0
    assert store.checks_for_image(image_id) == [row]
    assert store.checks_for_run(run) == [row]
    assert store.checks_for([]) == {}


def test_a_check_run_again_replaces_its_row(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    _run, attempt, image_id, _data = attempt_with_image(store)
    store.record_checks(attempt, image_id, [CheckResult("text", False, 0.5, {"pieces": []})])
    store.record_checks(attempt, image_id, [CheckResult("text", True, 1.0, {"pieces": []}), CheckResult("size", True, 1.0)])
    rows = store.checks_for([attempt])[attempt]
    assert [(r["name"], r["passed"]) for r in rows] == [("size", True), ("text", True)]
    store.record_checks(attempt, None, [CheckResult("judge", False, 0.0, {"reason": "no fox"})])
    store.record_checks(attempt, None, [CheckResult("judge", True, 1.0, {"reason": "a fox"})])
    judged = [r for r in store.checks_for([attempt])[attempt] if r["name"] == "judge"]
    assert len(judged) == 1 and judged[0]["image_id"] is None and judged[0]["detail"]["reason"] == "a fox"


def test_failed_checks_filter_and_counts(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    _r1, ok, ok_image, _ = attempt_with_image(store, "ok")
    _r2, bad, bad_image, _ = attempt_with_image(store, "bad")
    _r3, unchecked, _img, _ = attempt_with_image(store, "unchecked")
    store.record_checks(ok, ok_image, [CheckResult("size", True, 1.0), CheckResult("text", True, 1.0)])
    store.record_checks(bad, bad_image, [CheckResult("size", True, 1.0), CheckResult("text", False, 0.9)])
    assert store.attempts_with_failed_checks() == [bad]
    assert store.attempts_with_failed_checks(names=["text"]) == [bad]
    assert store.attempts_with_failed_checks(names=["size"]) == []
    assert store.attempts_with_failed_checks(names=["nonsense"]) == []
    assert store.attempts_with_failed_checks(since=5000.0) == []
    assert store.check_counts([ok, bad, unchecked]) == {ok: {"checks": 2, "failed": 0}, bad: {"checks": 2, "failed": 1}}


@pytest.mark.parametrize(
    "result",
    [CheckResult("sharpness", True, 1.0), CheckResult("size", True, float("nan")), {"name": "size", "passed": True, "score": "high"}],
)
def test_bad_results_are_refused_before_writing(tmp_path, result):
    store = Store(tmp_path / "db.sqlite")
    _run, attempt, image_id, _ = attempt_with_image(store)
    with pytest.raises(ValueError):
        store.record_checks(attempt, image_id, [CheckResult("size", True, 1.0), result])
    assert store.checks_for([attempt]) == {}  # nothing half-written


def test_scores_are_clamped_and_dicts_accepted(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    _run, attempt, image_id, _ = attempt_with_image(store)
    store.record_checks(attempt, image_id, [{"name": "similar", "passed": True, "score": 1.7, "detail": {"threshold": 0.8}}])
    [row] = store.checks_for([attempt])[attempt]
    assert row["score"] == 1.0 and row["detail"] == {"threshold": 0.8}


def test_a_key_in_a_detail_is_masked(tmp_path):
    key = "sk-proj-" + "k7Q" * 14  # secret-shaped: masked on every write, registered or not
    store = Store(tmp_path / "db.sqlite")
    _run, attempt, image_id, _ = attempt_with_image(store)
    store.record_checks(attempt, image_id, [CheckResult("judge", False, 0.0, {"reply": f"your key {key} is visible"})])
    raw = sqlite3.connect(tmp_path / "db.sqlite").execute("SELECT detail FROM checks").fetchone()[0]
    assert key not in raw


def test_a_judge_call_is_a_run_of_its_own_kind(tmp_path):
    assert "judge" in RUN_KINDS
    store = Store(tmp_path / "db.sqlite")
    run, attempt, _image, _ = attempt_with_image(store, kind="judge")
    assert store.attempt(attempt)["run_id"] == run


def test_check_attempt_judges_a_stored_result_against_its_own_request(tmp_path):
    from lib.checks.gate import check_attempt

    store = Store(tmp_path / "db.sqlite")
    run = store.start_run(kind="generate", label="x", settings={})
    attempt = store.attempt_started(
        {"run_id": run, "model": "gpt-image-2", "prompt": "a card", "params": {"size": "64x64", "background": "transparent"}}
    )
    data = encode(Image.new("RGB", (64, 48), "white"))
    store.attempt_finished(attempt, {"status": "succeeded"}, [store.keeper.save(data, source="b64")])
    [(image_id, result)] = check_attempt(store, attempt, [parse_spec("size")])
    assert not result.passed and result.score == 0.0  # wrong height, and no see-through pixel
    assert [r["name"] for r in store.checks_for_image(image_id)] == ["size"]
    assert check_attempt(store, 999_999, [parse_spec("size")]) == []
