"""`imagelab generate` and `imagelab compare` honour the operator's daily budget: refused before
sending, or cells not started, each with a clear message and exit code 1."""

from __future__ import annotations

import json

from lib import cli
from lib.store import Store


def run(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_over_the_budget_is_refused_before_sending(capsys, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DAILY_BUDGET_USD_SANDBOX", "0.05")
    data = tmp_path / "d"
    base = ["generate", "--prompt", "a paper boat", "--base-url", sandbox.base_url, "--data-dir", str(data)]
    code, out, err = run(capsys, *base)
    assert code == 1 and out == ""
    assert "imagelab: Not sent: this generation is estimated at ~$0.053" in err
    assert "of a daily budget of ~$0.050" in err and "$IMAGELAB_DAILY_BUDGET_USD_SANDBOX" in err
    assert Store(data / "imagelab.db").count_attempts() == 0

    code, out, _ = run(capsys, *base, "--json")
    result = json.loads(out)
    assert code == 1 and result["ok"] is False and result["attempts"] == 0 and result["run_id"] is None
    assert result["budget"] == {"limit_usd": 0.05, "source": "$IMAGELAB_DAILY_BUDGET_USD_SANDBOX", "spent_usd": 0.0}
    assert Store(data / "imagelab.db").count_attempts() == 0

    monkeypatch.setenv("IMAGELAB_DAILY_BUDGET_USD_SANDBOX", "0.10")
    code, _, _ = run(capsys, *base)
    assert code == 0 and Store(data / "imagelab.db").count_attempts() == 1


def test_a_budget_that_is_not_an_amount_is_said_and_ignored(capsys, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DAILY_BUDGET_USD", "plenty")
    code, _, err = run(capsys, "generate", "--prompt", "a boat", "--base-url", sandbox.base_url, "--data-dir", str(tmp_path / "d"))
    assert code == 0
    assert "warning: budget setting ignored: $IMAGELAB_DAILY_BUDGET_USD: 'plenty' is not a dollar amount" in err


def test_compare_does_not_start_the_cells_over_the_budget(capsys, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DAILY_BUDGET_USD", "0.06")  # one gpt-image-2 cell ($0.053) fits, the second does not
    data = tmp_path / "d"
    args = ["compare", "--prompt", "a red fox", "--prompt", "an owl", "--target", "sandbox:gpt-image-2"]
    code, out, err = run(capsys, *args, "--base-url", sandbox.base_url, "--data-dir", str(data), "--json")
    assert code == 1
    result = json.loads(out)
    first, second = result["cells"]
    assert first["ok"] is True
    assert second["ok"] is False and second["status"] == "cancelled" and second["error_type"] is None
    assert second["not_started"].startswith("Not started: the daily budget for Sandbox (~$0.060, $IMAGELAB_DAILY_BUDGET_USD)")
    assert result["budget"]["skipped"] == ["r1c0"]

    code, out, err = run(capsys, *args, "--base-url", sandbox.base_url, "--data-dir", str(data))
    assert code == 1
    assert "2 cell(s) not started: the daily budget was reached." in err  # the first grid's cell is spent today
    assert "it can be raised there, not from a session" in err
