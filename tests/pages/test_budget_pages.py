"""Spend guardrails through AppTest on the sandbox: the estimate under Generate and Run the grid, a
Generate over today's budget refused before sending, one confirmation above the threshold that a
second click on Generate cannot skip, grids that stop starting cells, and History's spend per day."""

from __future__ import annotations

import pytest

from lib import compare as K
from lib import ui
from tests.support.apptest import wait_for_job
from tests.support.wait_until import wait_until


def runs(kind: str = "generate") -> list[dict]:
    return [r for r in ui.get_store().recent_runs(limit=50) if r.get("kind") == kind]


def texts(elements) -> str:
    """The elements' text as read on screen (Markdown escapes removed)."""
    return " ".join(str(e.value) for e in elements).replace("\\", "")


def job(at):
    try:
        return at.session_state["generate_job"]
    except KeyError:
        return None


def confirm_buttons(at):
    return [b for b in at.button if str(b.key or "").startswith("generate_confirm_")]


def set_budget(at, value: str, provider: str = "sandbox"):
    at.sidebar.text_input(key=f"budget__{provider}").set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_generate_shows_the_estimate_and_todays_spend_before_sending(app):
    at = app
    at.text_area(key="prompt").set_value("a paper boat").run()
    captions = texts(at.caption)
    assert "Estimated cost of this generation: ~$0.053 (estimate)" in captions
    assert "A fallback to another model is not counted unless it happens" in captions
    assert "$0 spent on Sandbox today, " in captions and "(UTC)" in captions and "no daily budget is set" in captions
    at.number_input(key="n").set_value(3).run()
    assert "Estimated cost of this generation: ~$0.159 (estimate)" in texts(at.caption)


def test_a_generate_over_the_days_budget_is_refused_before_sending(app):
    at = set_budget(app, "0.05")
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.button(key="generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    refusal = texts(at.error)
    assert "Not sent: this generation is estimated at ~$0.053" in refusal
    assert "$0 spent on Sandbox today" in refusal and "of a daily budget of ~$0.050" in refusal
    assert "Raise it in the sidebar (Budget)" in refusal and "midnight UTC" in refusal
    assert job(at) is None and runs() == []  # nothing was sent, nothing recorded


def test_a_budget_spent_by_earlier_generations_refuses_the_next_one(app):
    at = set_budget(app, "0.10")
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.button(key="generate").click().run()
    wait_for_job(at)
    assert len(runs()) == 1
    assert "~$0.053 spent on Sandbox today" in texts(at.caption)
    at.button(key="generate").click().run()
    assert "has ~$0.047 left" in texts(at.error) and len(runs()) == 1


def test_the_operators_budget_applies_and_a_session_cannot_lift_it(new_app, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DAILY_BUDGET_USD_SANDBOX", "0.01")
    at = new_app()
    at.sidebar.selectbox(key="sandbox_latency").set_value("none").run()
    at = set_budget(at, "50")
    assert "Operator's limit: ~$0.010 ($IMAGELAB_DAILY_BUDGET_USD_SANDBOX)" in texts(at.sidebar.caption)
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.button(key="generate").click().run()
    refusal = texts(at.error)
    assert "of a daily budget of ~$0.010" in refusal and "it can be raised there, not from a session" in refusal
    assert runs() == []


def test_a_budget_that_is_not_an_amount_is_refused_beside_the_field_and_nothing_is_sent(app):
    at = set_budget(app, "ten dollars")
    assert "is not a dollar amount" in texts(at.sidebar.error)
    at.text_area(key="prompt").set_value("a paper boat").run()
    assert at.button(key="generate").disabled
    assert at.sidebar.text_input(key="budget__sandbox").value == "ten dollars"  # kept as typed, not cleared


def test_above_the_threshold_one_confirmation_sends_and_a_second_click_on_generate_does_not(app):
    at = app
    at.sidebar.text_input(key="confirm_above").set_value("0.10").run()
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.number_input(key="n").set_value(3).run()  # ~$0.159
    at.button(key="generate").click().run()
    assert job(at) is None and runs() == []
    assert "This generation is estimated at ~$0.159, above ~$0.100. Send it?" in texts(at.warning)
    assert len(confirm_buttons(at)) == 1
    at.button(key="generate").click().run()  # clicked twice before the page settled: still only asking
    assert job(at) is None and runs() == []
    assert len(confirm_buttons(at)) == 1

    confirm_buttons(at)[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(runs()) == 1 and confirm_buttons(at) == []
    wait_for_job(at)
    assert len(runs()) == 1 and runs()[0]["status"] == "succeeded"


def test_a_confirmation_is_for_exactly_the_request_it_was_asked_for(app):
    at = app
    at.sidebar.text_input(key="confirm_above").set_value("0.01").run()
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.button(key="generate").click().run()
    assert len(confirm_buttons(at)) == 1
    at.text_area(key="prompt").set_value("a paper boat, at night").run()  # changed: the confirmation is void
    assert confirm_buttons(at) == [] and runs() == []
    at.button(key="generate").click().run()
    assert len(confirm_buttons(at)) == 1
    at.button(key="generate_dismiss_" + confirm_buttons(at)[0].key.rsplit("_", 1)[1]).click().run()  # "Not now"
    assert confirm_buttons(at) == [] and runs() == []


def test_the_confirmation_still_checks_the_budget(app):
    at = app
    at.sidebar.text_input(key="confirm_above").set_value("0.01").run()
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.button(key="generate").click().run()
    at = set_budget(at, "0.02")  # lowered while the confirmation was on screen
    confirm = confirm_buttons(at)
    assert len(confirm) == 1
    confirm[0].click().run()
    assert "Not sent: this generation is estimated at ~$0.053" in texts(at.error) and runs() == []


@pytest.fixture
def compare(app):
    app.switch_page("pages/compare.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_a_grid_over_the_budget_says_which_cells_will_not_start_and_shows_why_in_the_grid(compare):
    at = set_budget(compare, "0.12")
    at.text_area(key="compare_prompts").set_value("a red fox in the snow\nan owl at night").run()
    captions = texts(at.caption)
    assert "Estimated cost of this grid: ~$0.087 (estimate)" in captions  # the two cells that fit
    assert "Today's budget lets 2 of 4 cells start; the other 2 will not be started." in texts(at.warning)
    at.button(key="compare_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cid = at.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid

    def done():
        view = K.load(ui.get_store(), cid)
        return view if view is not None and not view.running else None

    view = wait_until(done, timeout=30, interval=0.1, message="the grid did not finish")
    assert {k for k, c in view.cells.items() if c.ok} == {"r0c0", "r0c1"}
    assert view.settings["budget"]["skipped"] == ["r1c0", "r1c1"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    cells = [c for c in at.caption if "not started: daily budget" in str(c.value)]
    assert len(cells) == 2 and all("Not started: the daily budget for Sandbox" in c.proto.help.replace("\\", "") for c in cells)
    assert "Not started: the daily budget for Sandbox (~$0.120" in texts(at.warning)


def test_a_grid_when_nothing_fits_is_refused(compare):
    at = set_budget(compare, "0")
    at.text_area(key="compare_prompts").set_value("a red fox in the snow").run()
    at.button(key="compare_run").click().run()
    assert "Not started: the daily budget for Sandbox ($0" in texts(at.error)
    assert "comparison" not in at.query_params and runs("compare") == []


def test_history_charts_spend_per_utc_day(app):
    at = app
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.button(key="generate").click().run()
    wait_for_job(at)
    at.switch_page("pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    charts = [c for c in at.get("vega_lite_chart") if "Estimated spend per day (UTC days)" in str(c.proto)]
    assert len(charts) == 1 and "Sandbox" in str(charts[0].proto)


def test_a_grid_above_the_threshold_runs_after_one_confirmation(compare):
    at = compare
    at.sidebar.text_input(key="confirm_above").set_value("0.10").run()
    at.text_area(key="compare_prompts").set_value("a red fox in the snow\nan owl at night").run()
    assert "Estimated cost of this grid: ~$0.174 (estimate)" in texts(at.caption)
    at.button(key="compare_run").click().run()
    at.button(key="compare_run").click().run()  # twice: still only asking
    assert "comparison" not in at.query_params and runs("compare") == []
    confirm = [b for b in at.button if str(b.key or "").startswith("compare_confirm_")]
    assert len(confirm) == 1 and "This grid is estimated at ~$0.174, above ~$0.100. Send it?" in texts(at.warning)
    confirm[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "comparison" in at.query_params and len(runs("compare")) == 4


def test_the_sessions_budget_stays_across_pages_and_provider_switches(app):
    at = set_budget(app, "0.12")
    at.sidebar.text_input(key="confirm_above").set_value("0.50").run()
    at.switch_page("pages/compare.py").run()
    assert at.sidebar.text_input(key="budget__sandbox").value == "0.12"
    assert at.sidebar.text_input(key="confirm_above").value == "0.50"
    at.text_area(key="compare_prompts").set_value("a red fox in the snow\nan owl at night").run()
    assert "Today's budget lets 2 of 4 cells start" in texts(at.warning)
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    assert at.sidebar.text_input(key="budget__openai").value == ""
    at.sidebar.selectbox(key="provider").set_value("sandbox").run()
    assert at.sidebar.text_input(key="budget__sandbox").value == "0.12"


def test_a_send_over_the_budget_is_refused_at_once_not_asked_for(app):
    at = set_budget(app, "0.05")
    at.sidebar.text_input(key="confirm_above").set_value("0.01").run()
    at.text_area(key="prompt").set_value("a paper boat").run()
    at.button(key="generate").click().run()
    assert "Not sent: this generation is estimated at ~$0.053" in texts(at.error)
    assert confirm_buttons(at) == [] and runs() == []


def test_retrying_the_cells_not_started_runs_them_once_the_budget_allows(compare):
    at = set_budget(compare, "0.06")
    at.text_area(key="compare_prompts").set_value("a red fox in the snow\nan owl at night").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-2 @ Sandbox"]).run()
    at.button(key="compare_run").click().run()
    cid = at.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid

    def done():
        view = K.load(ui.get_store(), cid)
        return view if view is not None and not view.running else None

    view = wait_until(done, timeout=30, interval=0.1, message="the grid did not finish")
    assert view.settings["budget"]["skipped"] == ["r1c0"]
    at.run()
    at.button(key="compare_retry").click().run()  # still over the budget: refused, nothing started
    assert "Not started: the daily budget for Sandbox" in texts(at.error)
    assert K.load(ui.get_store(), cid).cells["r1c0"].tries == 1

    at = set_budget(at, "1")
    at.button(key="compare_retry").click().run()
    assert not at.exception, [e.value for e in at.exception]
    view = wait_until(done, timeout=30, interval=0.1, message="the retried cell did not finish")
    assert all(c.ok for c in view.cells.values()) and "budget" not in view.settings
    at.run()
    assert not [w for w in at.warning if "Not started" in str(w.value)]
