"""`imagelab doctor` run as a real process: exit codes and the report format."""

from __future__ import annotations

import json

import pytest

from lib import diagnostics as D
from lib.store import Store
from tests.support.cli import run


def test_doctor_json_healthy_exits_0(sandbox, tmp_path):
    p = run("doctor", "--base-url", sandbox.base_url, "--data-dir", str(tmp_path / "data"), "--json")
    assert p.returncode == 0, p.stderr
    body = json.loads(p.stdout)
    assert body["format"] == "imagelab-report/1" and body["provider"] == "sandbox" and body["model"] == "gpt-image-2"
    assert [s["step"] for s in body["steps"]] == list(range(1, 10))
    assert all(s["status"] != "fail" for s in body["steps"])
    assert "report_id" not in body
    D.report_from_json(p.stdout)  # what doctor prints, the app can open


def test_doctor_json_broken_exits_1_and_saves(sandbox, tmp_path):
    data = tmp_path / "data"
    p = run("doctor", "--base-url", sandbox.base_url, "--scenario", "auth", "--data-dir", str(data), "--json", "--save")
    assert p.returncode == 1, p.stderr
    body = json.loads(p.stdout)
    assert body["steps"][0]["name"] == "key" and body["steps"][0]["status"] == "fail"
    saved = D.load_report(Store(data_dir=data), body["report_id"])
    assert saved is not None and saved.step(1).status == "fail"


def test_doctor_human_output_lists_steps_then_fixes(sandbox, tmp_path):
    p = run("doctor", "--base-url", sandbox.base_url, "--scenario", "endpoint_not_found", "--timeout", "30", "--data-dir", str(tmp_path))
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert lines[0].startswith("1 Key") and lines[1].startswith("2 Endpoint") and "FAIL" in lines[1]
    assert "What to fix:" in p.stdout and "4 Delivery:" in p.stdout  # the 30 s timeout warns step 4


def test_doctor_no_probe_sends_nothing(sandbox, tmp_path):
    before = sandbox.sandbox.requests
    p = run("doctor", "--base-url", sandbox.base_url, "--no-probe", "--markdown", "--data-dir", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("## Image Prompt Lab diagnostics") and "| # | Step | Status | Verdict |" in p.stdout
    assert sandbox.sandbox.requests == before


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "--json", "--markdown"],
        ["doctor", "--provider", "nope"],
        ["doctor", "--provider", "openai", "--scenario", "auth"],
        ["doctor", "--timeout", "0"],
        ["doctor", "--scenario", "no_such_scenario"],
    ],
)
def test_doctor_bad_arguments_exit_2(args, tmp_path):
    p = run(*args, "--data-dir", str(tmp_path))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
