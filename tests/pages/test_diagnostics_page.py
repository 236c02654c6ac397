"""The Diagnostics page through AppTest: run checks on the sandbox, save, open ?report=<id> read-only."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from lib import diagnostics as D
from lib import ui
from tests.support.apptest import all_rendered_text, generate

PAGE = "pages/diagnostics.py"


@pytest.fixture
def at(new_app):
    """The Diagnostics page, opened from the app's navigation."""
    return new_app(PAGE)


def step_texts(app: AppTest) -> str:
    return " ".join(t.value for t in app.text)


def test_static_and_history_checks_show_at_once(at):
    assert at.title[0].value == "Diagnostics"
    titles = " ".join(m.value for m in at.markdown)
    for n, title in D.CHECKLIST_STEPS.items():
        assert f"**{n}. {title}**" in titles
    assert len(at.expander) >= 9
    assert "Press Run checks" in " ".join(c.value for c in at.caption)


def test_run_checks_on_the_sandbox_then_save_and_open_read_only(at, new_app):
    at.sidebar.selectbox(key="sandbox_scenario").set_value("auth").run()
    at.button(key="diag_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    markdown = " ".join(m.value for m in at.markdown)
    assert "**1. Key** · fail" in markdown
    assert "The provider refused the key (401)." in step_texts(at)
    probe_runs = list(ui.get_store().db.query("SELECT kind FROM runs"))
    assert [r["kind"] for r in probe_runs] == ["probe"]

    at.button(key="diag_save").click().run()
    report_id = at.session_state["diag_saved_id"]
    assert any(D.report_link(report_id) in c.value for c in at.code)

    # A teammate opens the permalink: read-only, no settings, no probes.
    viewer = new_app(PAGE, {"report": report_id})
    assert viewer.title[0].value == "Diagnostics snapshot"
    assert "read-only" in viewer.info[0].value
    assert "The provider refused the key (401)." in " ".join(t.value for t in viewer.text)
    assert not viewer.sidebar.selectbox and not viewer.button  # no settings, no Run checks
    assert len(viewer.get("download_button")) == 3
    assert ui.get_store().db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # nothing ran again


def test_step_param_opens_that_step(new_app):
    app = new_app(PAGE, {"step": "5"})
    expanded = [e.label for e in app.main.expander if e.proto.expanded]
    assert expanded == ["Evidence and fix for step 5"]


def test_unknown_report_id_says_so(new_app):
    app = new_app(PAGE, {"report": "doesnotexist"})
    assert "no saved report with this id" in app.warning[0].value


def test_a_typed_key_is_not_rendered_or_saved(at):
    key = "sk-diagpage-" + "Wq4Er8Ty2Ui6Op0As3Df7Gh1Jk5Lz9X" + "7h2k"
    at.sidebar.text_input(key="typed_key__sandbox").set_value(key).run()
    at.sidebar.selectbox(key="sandbox_scenario").set_value("auth").run()
    at.button(key="diag_run").click().run()
    at.button(key="diag_save").click().run()
    text = all_rendered_text(at, skip_keys={"typed_key__sandbox"})
    assert key not in text and key[:-4] not in text and "7h2k" in text
    row = ui.get_store().report(at.session_state["diag_saved_id"])
    assert key[:-4] not in json.dumps(row["body"]) + row["markdown"]


def test_error_cards_link_to_their_checklist_step(app):
    app.sidebar.selectbox(key="sandbox_scenario").set_value("quota_exceeded").run()
    generate(app, "out of credits")
    assert checklist_links(app) == [("Open checklist step 5 in Diagnostics", "5")]
    # A pre-flight stop on the key goes to step 1, not 6.
    app.sidebar.selectbox(key="provider").set_value("openai").run()
    generate(app, "no key here")
    assert checklist_links(app) == [("Open checklist step 1 in Diagnostics", "1")]
    assert "Checklist step 1: Key" in " ".join(e.value for e in app.error)


def checklist_links(app: AppTest) -> list[tuple[str, str]]:
    links = []
    for link in app.get("page_link"):
        if "checklist step" in link.proto.label:
            links.append(
                (
                    link.proto.label,
                    dict(link.proto.query_string and [kv.split("=") for kv in link.proto.query_string.split("&")] or []).get("step", ""),
                )
            )
    return links


def test_results_of_other_settings_are_marked_out_of_date_and_not_saved_as_current(at):
    at.button(key="diag_run").click().run()
    assert not at.exception
    assert "Live probe" in " ".join(c.value for c in at.caption)
    at.sidebar.selectbox(key="sandbox_scenario").set_value("auth").run()
    warning = " ".join(w.value for w in at.warning)
    assert "out of date" in warning and "sandbox scenario or dialect" in warning
    assert "Live probe" not in " ".join(c.value for c in at.caption)  # the old verdicts are not shown as current
    at.button(key="diag_save").click().run()
    saved = D.load_report(ui.get_store(), at.session_state["diag_saved_id"])
    assert saved.settings["sandbox"]["scenario"] == "auth"  # what was saved describes the settings in use
