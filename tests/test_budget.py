"""Spend guardrails: budgets read from secrets and the environment, what was spent today (UTC) in the
whole database, the refusal of a send that does not fit, and grids that stop starting cells."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lib import budget as B
from lib import compare as K
from lib.compare import Target
from lib.config import BudgetConfig, Config, parse_usd, read_budget
from lib.generation import ClientSettings, GenerationRequest
from lib.jobs import run_generation
from lib.pricing import estimate_request
from lib.store import AttemptFilter

GPT2, GPT15 = Target("sandbox", "gpt-image-2"), Target("sandbox", "gpt-image-1.5")
PER_GPT2 = estimate_request("gpt-image-2", {"size": "auto", "quality": "auto"}, 1).usd  # $0.053
PER_GPT15 = estimate_request("gpt-image-1.5", {"size": "auto", "quality": "auto"}, 1).usd  # $0.034
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def store(tmp_path):
    from lib.store import Store

    return Store(tmp_path / "data" / "imagelab.db")


@pytest.fixture
def runner(store):
    from lib.jobs import JobRunner

    r = JobRunner(recorder=store, keeper=store.keeper, max_workers=4)
    yield r
    r.shutdown(5)


def sandbox_settings(sandbox) -> ClientSettings:
    return ClientSettings(provider="sandbox", base_url=sandbox.base_url, rate_per_s=100.0, max_concurrency=4)


def generate(store, sandbox, prompt="a paper boat", **kw):
    request = GenerationRequest(prompt=prompt, **kw)
    return run_generation(sandbox_settings(sandbox), request, recorder=store, keeper=store.keeper)


# --------------------------------------------------------------------------
# Reading amounts and the operator's budgets


@pytest.mark.parametrize(
    ("raw", "value", "problem"),
    [
        ("5", 5.0, None),
        (" $2.50 ", 2.5, None),
        ("1,000", 1000.0, None),
        (0, 0.0, None),
        (3, 3.0, None),
        ("", None, None),
        (None, None, None),
        ("five", None, "is not a dollar amount"),
        ("-1", None, "out of range"),
        ("1e9", None, "out of range"),
        ("nan", None, "finite"),
        (True, None, "must be a dollar amount"),
    ],
)
def test_amounts_are_read_or_refused_with_the_reason(raw, value, problem):
    got, why = parse_usd(raw, label="Daily budget")
    assert got == value
    if problem is None:
        assert why is None
    else:
        assert problem in why and why.startswith("Daily budget")


def test_the_operator_budget_comes_from_secrets_before_the_environment_and_per_provider_before_default():
    secrets = {"budget": {"default": 20, "openai": "5.00", "confirm_above": 0.5}}
    environ = {
        "IMAGELAB_DAILY_BUDGET_USD": "50",
        "IMAGELAB_DAILY_BUDGET_USD_OPENAI": "1",
        "IMAGELAB_DAILY_BUDGET_USD_WISGATE": "7.5",
        "IMAGELAB_CONFIRM_ABOVE_USD": "3",
    }
    cfg = read_budget(secrets, environ)
    assert cfg.daily_for("openai") == (5.0, "[budget] openai in secrets.toml")
    assert cfg.daily_for("wisgate") == (7.5, "$IMAGELAB_DAILY_BUDGET_USD_WISGATE")
    assert cfg.daily_for("evolink") == (20.0, "[budget] default in secrets.toml")
    assert cfg.confirm_above_usd == 0.5 and "confirm_above" in cfg.confirm_source
    assert cfg.problems == ()

    only_env = Config.load(secrets={}, environ=environ).budget
    assert only_env.daily_for("openai") == (1.0, "$IMAGELAB_DAILY_BUDGET_USD_OPENAI")
    assert only_env.daily_for("sandbox") == (50.0, "$IMAGELAB_DAILY_BUDGET_USD")
    assert only_env.confirm_above_usd == 3.0
    assert read_budget({}, {}).daily_for("openai") == (None, "")


def test_a_budget_that_is_not_an_amount_is_named_and_the_next_source_applies():
    cfg = read_budget({"budget": {"openai": "lots", "opnai": 3}}, {"IMAGELAB_DAILY_BUDGET_USD_OPENAI": "2"})
    assert cfg.daily_for("openai") == (2.0, "$IMAGELAB_DAILY_BUDGET_USD_OPENAI")
    assert any("'lots' is not a dollar amount" in p for p in cfg.problems)
    assert any("opnai: not a provider" in p for p in cfg.problems)
    assert read_budget({"budget": "5"}, {}).problems == ("[budget] in secrets.toml must be a table; ignored",)


def test_the_lower_of_the_operator_and_the_session_limit_applies():
    operator = BudgetConfig({"openai": 5.0}, {"openai": "[budget] openai in secrets.toml"})
    lower = B.limit_for("openai", operator, 2.0)
    assert lower.usd == 2.0 and lower.source == B.SESSION_SOURCE
    assert "sidebar" in lower.where_to_change() and "up to the operator's ~$5.00" in lower.where_to_change()
    higher = B.limit_for("openai", operator, 9.0)
    assert higher.usd == 5.0 and "it can be raised there, not from a session" in higher.where_to_change()
    assert B.limit_for("wisgate", operator, None).usd is None
    assert B.limit_for("wisgate", None, 0.0).usd == 0.0  # zero is a budget: nothing may be spent


def test_the_confirmation_threshold_and_when_it_asks():
    assert B.confirm_threshold(None) == 1.00
    assert B.confirm_threshold(BudgetConfig(confirm_above_usd=0.25)) == 0.25
    assert B.confirm_threshold(BudgetConfig(confirm_above_usd=0.25), 4.0) == 4.0
    assert B.needs_confirmation(1.01, 1.0) and not B.needs_confirmation(1.0, 1.0) and not B.needs_confirmation(None, 1.0)


def test_the_day_is_a_utc_day():
    start, end = B.utc_day(NOON)
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 12, 2, tzinfo=UTC) and end - start == 86400
    assert B.day_label(NOON) == "2026-12-02 (UTC)"
    assert B.until_next_day(NOON) == "12 h 0 min"
    assert B.until_next_day(end - 30) == "1 min"


# --------------------------------------------------------------------------
# Spent today, and the refusal


def test_spent_today_is_the_recorded_cost_of_the_providers_attempts_plus_what_is_running(store, sandbox):
    assert generate(store, sandbox).ok
    assert generate(store, sandbox, n=2).ok
    spend = B.spent_today(store, "sandbox")
    # priced from the usage the sandbox reports: close to the per-image estimate
    assert spend.spent_usd == pytest.approx(3 * PER_GPT2, abs=0.001) and spend.running == 0
    assert B.spent_today(store, "openai").total_usd == 0
    assert B.spent_today(store, "sandbox", now=B.utc_day()[1] + 60).total_usd == 0  # tomorrow (UTC) starts afresh

    # a run still queued in another session counts at its estimate until its attempts are recorded
    request = GenerationRequest(prompt="queued elsewhere", model="gpt-image-2", quality="high", n=2)
    store.start_run(kind="generate", label="x", settings={}, provider="sandbox", request=request.to_dict(), status="queued")
    spend = B.spent_today(store, "sandbox")
    assert spend.running == 1 and spend.running_usd == pytest.approx(estimate_request("gpt-image-2", request.params(), 2).usd)
    assert spend.total_usd == pytest.approx(spend.spent_usd + spend.running_usd)
    assert "still running" in spend.describe() and "today, " + B.day_label() in spend.describe()

    # a run left queued by a process that has stopped will spend nothing more: it does not count
    run_id = store.start_run(kind="generate", label="y", settings={}, provider="sandbox", request=request.to_dict(), status="running")
    store.db.execute("UPDATE runs SET owner_token = '999999999:-:gone', owner_pid = 999999999 WHERE id = ?", [run_id])
    assert B.spent_today(store, "sandbox").running == 1


def test_a_send_that_does_not_fit_is_refused_with_spent_limit_and_where_to_change_it(store, sandbox):
    assert generate(store, sandbox).ok
    limit = B.limit_for("sandbox", BudgetConfig({"sandbox": 0.08}, {"sandbox": "$IMAGELAB_DAILY_BUDGET_USD_SANDBOX"}))
    fits = B.check_send(store, "sandbox", 0.02, limit)
    assert fits.ok and fits.remaining_usd == pytest.approx(0.08 - PER_GPT2, abs=0.001)
    assert "of a daily budget of ~$0.080 ($IMAGELAB_DAILY_BUDGET_USD_SANDBOX)" in fits.status_line()
    refused = B.check_send(store, "sandbox", PER_GPT2, limit)
    assert not refused.ok
    text = refused.message
    assert text.startswith("Not sent: this generation is estimated at ~$0.053")
    assert "~$0.027 left" in text and "~$0.053 spent on Sandbox today" in text and "~$0.080" in text
    assert "$IMAGELAB_DAILY_BUDGET_USD_SANDBOX" in text and "midnight UTC" in text
    assert B.check_send(store, "sandbox", 5.0, B.limit_for("sandbox", None)).ok  # no budget: no refusal


def test_the_cost_of_a_send_counts_every_request_and_says_what_it_could_not_price():
    requests = [("sandbox", GenerationRequest(prompt="a", n=3)), ("openai", GenerationRequest(prompt="b", quality="high"))]
    cost = B.send_cost(requests)
    assert cost.usd == pytest.approx(3 * PER_GPT2 + 0.211) and cost.requests == 2
    assert cost.by_provider == {"sandbox": pytest.approx(3 * PER_GPT2), "openai": pytest.approx(0.211)}
    assert cost.label() == "~$0.370 (estimate)"


# --------------------------------------------------------------------------
# Grids stop starting cells


def two_by_two():
    return K.build_plan(prompts="a red fox in the snow\nan owl at night", targets=[GPT2, GPT15])


def test_a_grid_starts_cells_while_they_fit_and_keeps_why_the_others_did_not_start(store, runner, sandbox):
    # r0c0 0.053 + r0c1 0.034 fit into 0.12; r1c0 (0.053 more) does not: the budget is reached there
    limits = {"sandbox": B.limit_for("sandbox", None, 0.12)}
    cid, batch = K.start(store, runner, two_by_two(), lambda pid: sandbox_settings(sandbox), limits=limits.get)
    assert len(batch.jobs) == 2 and batch.wait(30)
    view = K.load(store, cid)
    assert {k: c.status for k, c in view.cells.items()} == {
        "r0c0": "succeeded",
        "r0c1": "succeeded",
        "r1c0": "cancelled",
        "r1c1": "cancelled",
    }
    assert view.status == "done" and not view.running
    note = view.settings["budget"]
    assert note["skipped"] == ["r1c0", "r1c1"] and note["limits"]["sandbox"]["usd"] == 0.12
    reason = B.skipped_reason(view.settings, "r1c1", "sandbox")
    assert reason.startswith("Not started: the daily budget for Sandbox (~$0.120, this session's setting")
    assert "~$0.087 was spent or running today" in reason and "retry the cells" in reason
    assert B.skipped_reason(view.settings, "r0c0", "sandbox") == ""
    # the reason is each run's own event too, and no attempt was made for them
    skipped_run = view.cells["r1c0"].run_id
    assert [e["message"] for e in store.run_events(skipped_run)] == [reason]
    assert not view.cells["r1c0"].attempts and view.cells["r1c0"].error_type is None
    assert K.export_dict(view)["settings"]["budget"]["skipped"] == ["r1c0", "r1c1"]  # comparison.json says so too

    # with room again, retrying the failed cells starts the ones that were not started
    more = {"sandbox": B.limit_for("sandbox", None, 1.0)}
    again = K.retry_cells(store, runner, cid, lambda pid: sandbox_settings(sandbox), limits=more.get)
    assert again is not None and len(again.jobs) == 2 and again.wait(30)
    view = K.load(store, cid)
    assert all(c.ok for c in view.cells.values()) and "budget" not in view.settings


def test_a_grid_over_a_used_up_budget_starts_nothing(store, runner, sandbox):
    assert generate(store, sandbox).ok  # $0.053 spent today
    limits = {"sandbox": B.limit_for("sandbox", BudgetConfig({"*": 0.05}, {"*": "$IMAGELAB_DAILY_BUDGET_USD"}))}
    cid, batch = K.start(store, runner, two_by_two(), lambda pid: sandbox_settings(sandbox), limits=limits.get)
    assert batch.jobs == []
    view = K.load(store, cid)
    assert {c.status for c in view.cells.values()} == {"cancelled"} and len(view.settings["budget"]["skipped"]) == 4
    assert "it can be raised there, not from a session" in B.skipped_reason(view.settings, "r0c0", "sandbox")


# --------------------------------------------------------------------------
# History: spend per UTC day


def test_spend_per_day_sums_the_estimated_cost_per_provider_and_utc_day(store, sandbox):
    assert generate(store, sandbox).ok
    assert generate(store, sandbox, model="gpt-image-1.5").ok
    rows = B.spend_per_day(store, AttemptFilter())
    assert len(rows) == 1
    row = rows[0]
    assert row["provider"] == "Sandbox" and row["attempts"] == 2 and row["usd"] == pytest.approx(PER_GPT2 + PER_GPT15, abs=0.001)
    assert row["day"] == datetime.fromtimestamp(B.utc_day()[0], UTC)
    assert B.spend_per_day(store, AttemptFilter(providers=["openai"])) == []
