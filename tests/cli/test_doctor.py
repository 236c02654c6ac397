"""`imagelab doctor` run as a real process: exit codes and the report format."""

from __future__ import annotations

import json

import pytest

from lib import diagnostics as D
from lib.store import Store
from tests.support.source_cli import run


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


def test_doctor_fail_on_warn_junit_and_absolute_links(sandbox, tmp_path):
    data = str(tmp_path / "data")
    common = ("doctor", "--base-url", sandbox.base_url, "--timeout", "30", "--data-dir", data)
    assert run(*common).returncode == 0  # a 30 s timeout warns; warnings pass by default
    junit = tmp_path / "doctor.xml"
    p = run(*common, "--fail-on", "warn", "--junit", str(junit), "--markdown", "--link-base", "https://lab.example.com/")
    assert p.returncode == 1, p.stderr
    assert "https://lab.example.com/diagnostics?step=4" in p.stdout
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    assert [c.get("name").split(".")[0] for c in cases] == [str(n) for n in range(1, 10)]
    delivery = cases[3]
    assert delivery.find("failure") is not None and delivery.find("failure").get("type") == "warn"
    assert "https://lab.example.com/diagnostics?step=4" in delivery.find("system-out").text
    assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
    # Without --fail-on warn, a warning is a skipped case that says so.
    run(*common, "--junit", str(junit))
    delivery = ET.parse(junit).getroot().findall("testcase")[3]
    assert delivery.find("failure") is None and delivery.find("skipped").get("message").startswith("warning:")


def test_doctor_prints_a_saved_or_exported_report_without_probing(sandbox, tmp_path):
    data = tmp_path / "data"
    p = run("doctor", "--base-url", sandbox.base_url, "--scenario", "auth", "--data-dir", str(data), "--json", "--save")
    body = json.loads(p.stdout)
    runs = Store(data_dir=data).db.execute("SELECT count(*) FROM runs").fetchone()[0]
    saved = run("doctor", "--report", body["report_id"], "--data-dir", str(data))
    assert saved.returncode == 1 and "FAIL" in saved.stdout.splitlines()[0]
    exported = tmp_path / "report.json"
    exported.write_text(p.stdout, encoding="utf-8")
    again = run("doctor", "--from", str(exported), "--data-dir", str(data), "--json")
    assert again.returncode == 1 and json.loads(again.stdout)["steps"][0]["status"] == "fail"
    assert Store(data_dir=data).db.execute("SELECT count(*) FROM runs").fetchone()[0] == runs  # nothing was probed
    missing = run("doctor", "--report", "nosuchreport", "--data-dir", str(data))
    assert missing.returncode == 2 and "no saved report" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else/9"}', encoding="utf-8")
    assert run("doctor", "--from", str(bad)).returncode == 2


def test_doctor_no_history_reads_live_checks_only(sandbox, tmp_path):
    data = str(tmp_path / "data")
    broken = ("doctor", "--base-url", sandbox.base_url, "--data-dir", data, "--json")
    blocked = run("generate", "--base-url", sandbox.base_url, "--data-dir", data, "--scenario", "content_policy", "--prompt", "a boat")
    assert blocked.returncode != 0  # a blocked image in history
    with_history = json.loads(run(*broken).stdout)
    assert with_history["steps"][7]["status"] == "warn"
    live_only = json.loads(run(*broken, "--no-history").stdout)
    assert live_only["steps"][7]["status"] == "not_checked"
