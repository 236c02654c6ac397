"""History and checks: the failed-checks filter (in the URL, the list, the stats and the exports),
the checks column of the list, an attempt's checks in its detail, and the CSV / JSON exports."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from lib import history as H
from lib.checks import CheckResult
from lib.store import Store
from tests.support.history_seed import add


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "imagelab.db")


def misread(store: Store, aid: int) -> None:
    store.record_checks(
        aid,
        None,
        [
            CheckResult("size", True, 1.0, {"aspects": []}, "As asked: size 1024x1024."),
            CheckResult(
                "text",
                False,
                0.92,
                {"pieces": [{"asked": "GRAND OPENING", "read": "GRAND OPENIMG", "score": 0.92, "passed": False}]},
                "Asked \u201cGRAND OPENING\u201d, read \u201cGRAND OPENIMG\u201d (92%).",
            ),
        ],
    )


def test_the_failed_checks_filter_is_in_the_url_and_narrows_every_read(store):
    now = time.time()
    good = add(store, at=now - 60, prompt='a sign "OPEN"')
    bad = add(store, at=now - 30, prompt='a sign "GRAND OPENING" #misspell')
    add(store, at=now - 10, prompt="never checked")
    store.record_checks(good, None, [CheckResult("size", True, 1.0, {}, "ok")])
    misread(store, bad)

    parsed = H.parse_view({"checks": "failed"})
    assert parsed.problems == [] and parsed.view.failed_checks
    assert H.params_from_view(parsed.view) == {"checks": "failed"}  # the permalink keeps it
    assert H.parse_view({"checks": "yes"}).problems == ["checks 'yes' is not 'failed'; ignored."]

    flt = parsed.view.to_filter(now)
    rows, total = H.table_page(store, flt, page=1)
    assert total == 1 and [r["id"] for r in rows] == [bad] and rows[0]["checks"] == "1/2 passed"
    everything, _ = H.table_page(store, H.HistoryView().to_filter(now), page=1)
    assert {r["id"]: r["checks"] for r in everything} == {bad: "1/2 passed", good: "1/1 passed", everything[0]["id"]: ""}
    assert H.params_from_filter(flt)["checks"] == "failed"

    exported = H.export(store, flt)
    [row] = exported.rows
    assert [c["name"] for c in row["checks"]] == ["size", "text"] and row["checks"][1]["detail"]["pieces"][0]["read"] == "GRAND OPENIMG"
    doc = json.loads(H.to_json(exported))
    assert doc["attempts"][0]["checks"][1]["passed"] is False
    [line] = list(csv.DictReader(io.StringIO(H.to_csv(exported))))
    assert "text failed 0.92 (read \u201cGRAND OPENIMG\u201d)" in line["checks"] and "size passed 1.00" in line["checks"]


def test_an_attempts_detail_holds_its_checks_with_what_was_read(store):
    aid = add(store, at=time.time(), prompt='a sign "GRAND OPENING"')
    assert H.attempt_detail(store, aid)["checks"] == []
    misread(store, aid)
    checks = H.attempt_detail(store, aid)["checks"]
    assert [(c["name"], c["passed"]) for c in checks] == [("size", True), ("text", False)]
    assert checks[1]["summary"].startswith("Asked \u201cGRAND OPENING\u201d")
