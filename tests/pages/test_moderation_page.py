"""The check before paying on the Generate page: the sidebar's toggle, and the error card of a flagged prompt."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib import ui
from lib.client import MODERATION_MODEL
from tests.support.apptest import generate


def attempts_of(run_id: str) -> list[dict]:
    store = ui.get_store()
    store.flush()
    return [dict(r) for r in store.db.query("SELECT model, url, status, error_type, cost_usd FROM attempts WHERE run_id = ?", [run_id])]


def test_the_toggle_is_off_by_default_and_a_flagged_prompt_ends_in_a_card_naming_its_categories(app):
    toggle = app.sidebar.toggle(key="moderate__sandbox")
    assert toggle.value is False
    toggle.set_value(True).run()
    at = generate(app, "a knight in the gore of battle")
    card = " ".join(e.value for e in at.error)
    assert "content_policy" in card and "Checklist step 8" in card
    said = " ".join(c.value for c in at.code)
    assert "violence, violence/graphic" in said and "no image was paid for" in said
    assert any("`violence/graphic`" in m.value for m in at.markdown)
    (run,) = ui.get_store().recent_runs(limit=5)
    (attempt,) = attempts_of(run["id"])  # the check only: no image attempt, nothing paid for
    assert (attempt["model"], attempt["status"], attempt["error_type"], attempt["cost_usd"]) == (
        MODERATION_MODEL,
        "failed",
        "content_policy",
        0,
    )
    assert attempt["url"].endswith("/v1/moderations")


def test_with_the_toggle_on_a_clean_prompt_is_checked_and_generated(app):
    app.sidebar.toggle(key="moderate__sandbox").set_value(True).run()
    at = generate(app, "a paper boat on a pond")
    assert not at.error, [e.value for e in at.error]
    (run,) = ui.get_store().recent_runs(limit=5)
    assert sorted(a["model"] for a in attempts_of(run["id"])) == sorted([MODERATION_MODEL, "gpt-image-2"])


def test_the_operators_setting_turns_the_toggle_on(new_app, monkeypatch):
    monkeypatch.setenv("IMAGELAB_MODERATE_SANDBOX", "1")
    at = new_app()
    assert at.sidebar.toggle(key="moderate__sandbox").value is True


def _card(names):
    from lib import errors as E
    from lib.client import FLAGGED_CODE
    from lib.generation import Outcome
    from lib.ui.cards import error_card

    err = E.ContentPolicy("flagged", code=FLAGGED_CODE)
    err.categories = tuple(names)
    error_card(Outcome(ok=False, run_id="", requested_model="m", model="m", images=[], attempts=[], events=[], error=err, latency_ms=0))


def test_category_names_from_the_provider_are_shown_as_text():
    names = ["**bold** <img src=x onerror=1>", "a`b` $x$ :red[r]"]
    at = AppTest.from_function(_card, args=(names,)).run()
    (shown,) = [m.value for m in at.markdown if "Flagged by the moderation check" in m.value]
    assert "`**bold** <img src=x onerror=1>`" in shown  # inside a code span: not bold, no HTML
    assert "`a'b' $x$ :red[r]`" in shown  # a backtick cannot end the code span early


def test_a_provider_without_the_route_is_said_beside_the_toggle_after_the_first_run(app, hostile):
    from lib.client import NO_ROUTE

    NO_ROUTE.forget()
    at = app
    at.sidebar.selectbox(key="provider").set_value("custom").run()
    at.sidebar.text_input(key="typed_key__custom").set_value("sk-apptest-" + "Mo3" * 12 + "Dr4T").run()
    at.sidebar.text_input(key="base_url__custom").set_value(hostile.base_url("healthy")).run()
    at.sidebar.checkbox(key="use_fallback").uncheck().run()
    at.sidebar.toggle(key="moderate__custom").set_value(True).run()
    assert not any("No moderations route" in c.value for c in at.sidebar.caption)
    try:
        at = generate(at, "a lighthouse at dusk")
        assert not at.error, [e.value for e in at.error]
        at.run()
        assert any("No moderations route" in c.value and "sent unchecked" in c.value for c in at.sidebar.caption)
    finally:
        NO_ROUTE.forget()


def test_historys_detail_of_a_check_shows_it_as_an_attempt_of_the_run(app, new_app):
    app.sidebar.toggle(key="moderate__sandbox").set_value(True).run()
    generate(app, "a knight in the gore of battle")
    (run,) = ui.get_store().recent_runs(limit=5)
    store = ui.get_store()
    (row,) = store.db.query("SELECT id FROM attempts WHERE run_id = ?", [run["id"]])
    at = new_app("pages/history.py", {"attempt": str(row["id"])})
    shown = " ".join(c.value for c in at.code) + " ".join(e.value for e in at.error)
    assert "content_policy" in shown and "violence/graphic" in shown
