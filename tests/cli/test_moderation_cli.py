"""--moderate on `imagelab generate` and `imagelab compare`, and the operator's setting, on the real sandbox."""

from __future__ import annotations

import json

from lib import cli
from lib.client import MODERATION_MODEL
from lib.store import Store
from tests.support.cli import run as run_process

FLAGGED = "a knight in the gore of battle"


def models_of(data, run_id: str) -> list[str]:
    return [a["model"] for a in Store(data_dir=data).run(run_id)["attempts"]]


def test_generate_with_moderate_stops_a_flagged_prompt_before_the_image_request(sandbox, tmp_path):
    data = tmp_path / "data"
    p = run_process("generate", "--prompt", FLAGGED, "--base-url", sandbox.base_url, "--moderate", "--data-dir", str(data), "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["error_type"] == "content_policy" and out["attempts"] == 1
    assert "violence, violence/graphic" in out["message"] and "no image was paid for" in out["message"]
    assert models_of(data, out["run_id"]) == [MODERATION_MODEL]


def test_the_environment_turns_it_on_and_no_moderate_turns_it_off(capsys, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_MODERATE_SANDBOX", "1")
    data = tmp_path / "data"
    base = ["generate", "--prompt", FLAGGED, "--base-url", sandbox.base_url, "--data-dir", str(data), "--json"]
    assert cli.main(base) == 1
    checked = json.loads(capsys.readouterr().out)
    assert models_of(data, checked["run_id"]) == [MODERATION_MODEL]
    assert cli.main([*base, "--no-moderate"]) == 1
    unchecked = json.loads(capsys.readouterr().out)
    assert (
        unchecked["error_type"] == "content_policy" and models_of(data, unchecked["run_id"])[0] == "gpt-image-2"
    )  # the image route's own block


def test_compare_with_moderate_checks_each_cell(capsys, sandbox, tmp_path):
    data = tmp_path / "data"
    code = cli.main(
        ["compare", "--prompt", FLAGGED, "--prompt", "a paper boat", "--target", "sandbox:gpt-image-2"]
        + ["--base-url", sandbox.base_url, "--data-dir", str(data), "--moderate", "--json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    by_row = {c["row"]: c for c in doc["cells"]}
    assert by_row[1]["error_type"] == "content_policy" and by_row[1]["images"] == []
    assert by_row[2]["ok"] is True and len(by_row[2]["images"]) == 1
    store = Store(data_dir=data)
    runs = store.db.query("SELECT id FROM runs WHERE comparison_id = ?", [doc["comparison_id"]])
    checks = [a for r in runs for a in store.run(r["id"])["attempts"] if a["model"] == MODERATION_MODEL]
    assert sorted(a["status"] for a in checks) == ["failed", "succeeded"]


def test_help_documents_the_flag(capsys):
    for command in ("generate", "compare"):
        try:
            cli.main([command, "--help"])
        except SystemExit:
            pass
        shown = capsys.readouterr().out
        assert "--moderate, --no-moderate" in shown and "[moderation]" in shown and "IMAGELAB_MODERATE" in shown
