"""Checks in the app through AppTest, on the sandbox: chosen on Compare and Generate (the judge off
until ticked, its cost shown first), verdicts on each cell and result with what was read, the
summary's pass rate, and History's failed-checks filter and attempt view."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib import compare as K
from lib import ui
from lib.ui.checks import get_check_queue
from tests.support.apptest import wait_for_job
from tests.support.wait_until import wait_until

GOOD = 'a bakery window with a sign that says "GRAND OPENING"'
BAD = GOOD + " #misspell"


def shown(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "markdown", "text") for e in at.get(kind))


def until_shown(at: AppTest, text: str) -> None:
    """Rerun the page (as its own refresh does) until ``text`` shows: a result's checks are made in the background."""

    def seen() -> bool:
        at.run()
        return text in shown(at)

    wait_until(seen, timeout=60, interval=0.2, message=f"{text!r} never showed")


def checked_grid(at: AppTest) -> str:
    at.switch_page("pages/compare.py").run()
    at.text_area(key="compare_prompts").set_value(f"{GOOD}\n{BAD}").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-2 @ Sandbox"]).run()
    at.selectbox(key="compare_size").set_value("1024x1024").run()
    assert at.checkbox(key="compare_check_judge").value is False  # never on by default
    at.checkbox(key="compare_check_size").check().run()
    at.checkbox(key="compare_check_text").check().run()
    at.button(key="compare_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cid = at.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid
    wait_until(lambda: (v := K.load(ui.get_store(), cid)) is not None and v.cells and not v.running, timeout=40, interval=0.1)

    def checked() -> bool:
        at.run()  # the page hands finished cells to the check queue
        view = K.load(ui.get_store(), cid)
        return all(c.checks for c in view.cells.values()) and get_check_queue().wait_idle(0)

    wait_until(checked, timeout=60, interval=0.2, message="the cells were not checked")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return cid


def test_a_grid_with_checks_shows_pass_and_fail_with_what_was_read(app):
    checked_grid(app)
    page = shown(app)
    assert "Text passed (1.00)" in page and "asked \u201cGRAND OPENING\u201d · read \u201cgrand opening\u201d" in page
    assert "Text failed" in page and "Asked \u201cGRAND OPENING\u201d, read \u201c" in page
    assert "Size passed (1.00)" in page
    assert "checks 1/2 pass (50%), mean score" in page  # the summary per target

    app.selectbox(key="compare_show").set_value("checks_failed").run()
    assert "Row 2" in shown(app) and "Row 1" not in shown(app)


def test_the_judge_shows_its_estimate_before_anything_is_sent(app):
    app.switch_page("pages/compare.py").run()
    app.text_area(key="compare_prompts").set_value(GOOD).run()
    app.checkbox(key="compare_check_judge").check().run()
    assert app.button(key="compare_run").disabled  # a judge without a rubric: not sent
    assert any("needs a rubric" in e.value for e in app.error)
    app.text_input(key="compare_judge_rubric").set_value("the sign is legible").run()
    [estimate] = [e.value for e in app.caption if e.value.startswith("Estimated judge cost:")]
    assert "0.0010 for 2 images (gpt-4.1-mini" in estimate  # one per cell: the two default targets
    assert not app.button(key="compare_run").disabled


def test_generate_checks_the_saved_image_and_history_filters_failed_checks(app, new_app):
    app.checkbox(key="gen_check_text").check().run()
    app.text_area(key="prompt").set_value(BAD).run()
    app.button(key="generate").click().run()
    wait_for_job(app)

    until_shown(app, "Text failed")
    assert "Asked \u201cGRAND OPENING\u201d" in shown(app)
    asked = [df.value for df in app.dataframe if "asked" in df.value.columns]
    assert asked and asked[0]["asked"][0] == "GRAND OPENING" and asked[0]["read"][0] not in ("", "grand opening")

    history = new_app("pages/history.py", {"checks": "failed", "since": "all"})
    assert history.checkbox(key="hist_failed_checks").value is True
    [table] = [df.value for df in history.dataframe if "checks" in df.value.columns]
    assert list(table["checks"]) == ["0/1 passed"]
    attempt = int(table["id"][0])
    detail = new_app("pages/history.py", {"attempt": str(attempt)})
    assert "Text failed" in shown(detail)
    assert any("asked" in df.value.columns for df in detail.dataframe)


def test_the_judge_on_generate_is_off_until_ticked_priced_first_and_recorded_as_its_own_run(app):
    assert app.checkbox(key="gen_check_judge").value is False
    app.text_area(key="prompt").set_value(GOOD).run()
    app.checkbox(key="gen_check_judge").check().run()
    assert app.button(key="generate").disabled  # no rubric yet
    app.text_input(key="gen_judge_rubric").set_value("the sign is legible").run()
    [estimate] = [e.value for e in app.caption if e.value.startswith("Estimated judge cost:")]
    assert "for 1 image (gpt-4.1-mini" in estimate
    app.button(key="generate").click().run()
    wait_for_job(app)

    until_shown(app, "Judge passed")
    [run] = ui.get_store().recent_runs(kind="judge")
    assert run["status"] == "succeeded"
    [attempt] = ui.get_store().run(run["id"])["attempts"]
    assert attempt["cost_usd"] > 0 and attempt["url"].endswith("/chat/completions") and attempt["run_kind"] == "judge"


def test_the_checks_chosen_are_kept_across_pages(app):
    app.checkbox(key="gen_check_text").check().run()
    app.switch_page("pages/compare.py").run()
    app.checkbox(key="compare_check_size").check().run()
    app.switch_page("pages/history.py").run()
    app.switch_page("pages/generate.py").run()
    assert app.checkbox(key="gen_check_text").value is True and app.checkbox(key="gen_check_judge").value is False
    app.switch_page("pages/compare.py").run()
    assert app.checkbox(key="compare_check_size").value is True


def test_a_grid_judged_by_the_session_that_started_it(app):
    app.switch_page("pages/compare.py").run()
    app.text_area(key="compare_prompts").set_value(GOOD).run()
    app.checkbox(key="compare_check_judge").check().run()
    app.text_input(key="compare_judge_rubric").set_value("the sign is legible").run()
    app.button(key="compare_run").click().run()
    assert not app.exception, [e.value for e in app.exception]
    until_shown(app, "Judge passed")
    wait_until(lambda: len(ui.get_store().recent_runs(kind="judge")) == 2 and get_check_queue().wait_idle(0), timeout=60, interval=0.2)
    runs = ui.get_store().recent_runs(kind="judge")
    assert all(r["status"] == "succeeded" for r in runs)  # one per cell (two targets), each a run of its own
    until_shown(app, "checks 1/1 pass (100%)")
