"""The CI gate: `imagelab compare --check ... --judge ... --fail-under --junit`, on the real sandbox;
and the pass rate, the failing cells and the JUnit report it is made of."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from lib import cli
from lib.checks import CheckResult
from lib.checks.gate import CellChecks, gate, junit_xml
from lib.store import Store
from tests.checks.support import encode, scene

GOOD = 'a bakery window with a sign that says "GRAND OPENING"'
BAD = GOOD + " #misspell"


def run(capsys, *args):
    code = cli.main(["compare", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def grid(sandbox, tmp_path, *extra):
    return [
        "--prompt",
        GOOD,
        "--prompt",
        BAD,
        "--target",
        "sandbox:gpt-image-2",
        "--size",
        "1024x1024",
        "--base-url",
        sandbox.base_url,
        "--data-dir",
        str(tmp_path / "d"),
        "--rate",
        "50",
        *extra,
    ]


def test_misspelled_cell_fails_the_gate_and_is_listed(capsys, sandbox, tmp_path):
    junit = tmp_path / "checks.xml"
    code, out, err = run(
        capsys,
        *grid(
            sandbox,
            tmp_path,
            "--check",
            "size",
            "--check",
            "text",
            "--judge",
            "the sign is legible",
            "--fail-under",
            "0.9",
            "--junit",
            str(junit),
        ),
    )
    assert code == 1, err
    assert "Judge: 2 image(s) with gpt-4.1-mini, about $" in err  # the price is said before the judge runs
    assert "1/2 cells pass every check (50%); gate FAILED (under 0.90)" in out
    assert "FAIL row 2" in out and "text: Asked \u201cGRAND OPENING\u201d" in out and "FAIL row 1" not in out
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "6" and root.get("failures") == "1"
    [failed] = [case for case in root if case.find("failure") is not None]
    assert failed.get("classname").startswith("row 2") and failed.get("name").startswith("text")

    store = Store(data_dir=tmp_path / "d")
    failing = store.attempts_with_failed_checks(names=["text"])
    assert len(failing) == 1 and BAD in store.attempt(failing[0])["prompt"]
    judge_runs = store.recent_runs(kind="judge")
    assert len(judge_runs) == 2 and all(r["status"] == "succeeded" for r in judge_runs)
    judged = [c for checks in store.checks_for(failing).values() for c in checks if c["name"] == "judge"]
    assert judged and judged[0]["detail"]["judge_run_id"] in {r["id"] for r in judge_runs}
    attempt = store.attempt(judged[0]["detail"]["judge_attempt_id"])
    assert attempt["status"] == "succeeded" and attempt["url"].endswith("/v1/chat/completions") and attempt["cost_usd"] > 0


def test_json_gains_each_cells_checks_and_a_low_bar_passes(capsys, sandbox, tmp_path):
    code, out, err = run(capsys, *grid(sandbox, tmp_path, "--check", "size", "--check", "text", "--fail-under", "0.5", "--json"))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["gate"] == {"pass_rate": 0.5, "fail_under": 0.5, "passed": True}
    good, bad = sorted(doc["cells"], key=lambda c: c["row"])
    assert good["checks_passed"] is True and bad["checks_passed"] is False
    assert [c["name"] for c in good["checks"]] == ["size", "text"]
    text = bad["checks"][1]
    assert text["passed"] is False and text["detail"]["pieces"][0]["asked"] == "GRAND OPENING"
    assert text["detail"]["pieces"][0]["read"] != "grand opening" and text["image_id"]


def test_wrong_size_and_similar(capsys, sandbox, tmp_path):
    ref = tmp_path / "ref.png"
    ref.write_bytes(encode(scene(1)))
    code, out, _err = run(
        capsys,
        "--prompt",
        "a lighthouse #wrong_size",
        "--target",
        "sandbox:gpt-image-2",
        "--size",
        "1536x1024",
        "--base-url",
        sandbox.base_url,
        "--data-dir",
        str(tmp_path / "d"),
        "--check",
        "size",
        "--check",
        f"similar={ref}@0.99",
    )
    assert code == 1
    assert "size: size: asked 1536x1024, got 1024x1536" in out and "similar: Similarity" in out


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--check", "sharpness"], "Unknown check"),
        (["--check", "text=2"], "outside 0 to 1"),
        (["--fail-under", "0.9"], "add --check"),
        (["--check", "size", "--fail-under", "1.5"], "outside 0 to 1"),
        (["--check", "similar=/no/such.png"], "Cannot read the reference"),
    ],
)
def test_bad_check_arguments_exit_2_before_anything_runs(capsys, tmp_path, extra, words):
    code, _out, err = run(capsys, "--prompt", "x", "--target", "sandbox:gpt-image-2", "--data-dir", str(tmp_path / "d"), *extra)
    assert code == 2 and words in err


def cell(key, ok=True, *results, error=None):
    return CellChecks(key, f"cell {key}", ok, error, [(7, r) for r in results])


def test_gate_counts_cells_that_pass_every_check():
    cells = [
        cell("a", True, CheckResult("size", True, 1.0), CheckResult("text", True, 1.0)),
        cell("b", True, CheckResult("size", True, 1.0), CheckResult("text", False, 0.92, summary="misspelled")),
        cell("c", False, error="Rate limited"),
        cell("d", True),  # generated, nothing to check: not a pass
    ]
    verdict = gate(cells, 0.25)
    assert verdict.pass_rate == 0.25 and verdict.passed and [c.key for c in verdict.failing] == ["b", "c", "d"]
    assert not gate(cells, 0.3).passed
    assert cells[1].failures() == ["text: misspelled"] and cells[1].score == 0.92
    assert cells[2].failures() == ["no image: Rate limited"] and cells[2].score == 0.0
    assert gate([], 0.0).pass_rate == 0.0


def test_junit_is_valid_xml_with_hostile_text():
    cells = [cell("a", True, CheckResult("text", False, 0.5, summary='read <"&\u2019> instead')), cell("b", False, error="a & b")]
    root = ET.fromstring(junit_xml(cells))
    assert root.get("tests") == "2" and root.get("failures") == "2"
    assert root[0].find("failure").get("message") == 'score 0.500: read <"&\u2019> instead'
