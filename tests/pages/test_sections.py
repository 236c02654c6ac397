"""Sections drawn on demand (lib/ui/sections.py): a first visit draws none of what is folded away;
closed, a section's values still count; one that holds something to fix or keep is open."""

from __future__ import annotations

from lib import ui
from lib.generation import ReferenceImage
from lib.ui.sections import BUDGET_OPEN, CHECKS_OPEN, REFERENCES_OPEN, RELIABILITY_OPEN, SANDBOX_OPEN
from tests.support.apptest import error_card_text, generate
from tests.support.media_support import image_bytes


def test_a_first_visit_draws_no_folded_widget(new_app):
    at = new_app(sections_open=False)
    labels = {e.label for e in at.expander}
    assert {"Reliability", "Budget", "Reference images (edit)", "Checks"} <= labels
    assert "Sandbox behaviour" in labels
    keys = {w.key for kind in ("number_input", "text_input", "multiselect", "checkbox", "selectbox") for w in at.get(kind)}
    assert not keys & {"read_timeout", "max_retries", "use_fallback", "fallbacks__sandbox", "budget__sandbox", "confirm_above"}
    assert not keys & {"sandbox_scenario", "sandbox_dialect", "sandbox_latency", "typed_key__sandbox"}
    assert not at.sidebar.text_input  # the sandbox takes no key: its optional box is in Sandbox behaviour
    assert not at.get("file_uploader") and "gen_check_size" not in keys


def test_values_set_in_a_section_count_once_it_is_closed(new_app):
    at = new_app(sections_open=False)
    at.session_state[RELIABILITY_OPEN] = at.session_state[SANDBOX_OPEN] = True
    at.run()
    at.sidebar.checkbox(key="use_fallback").set_value(False)
    at.sidebar.number_input(key="max_retries").set_value(0).run()
    at.session_state[RELIABILITY_OPEN] = False
    at.sidebar.selectbox(key="sandbox_latency").set_value("none")
    at.sidebar.selectbox(key="sandbox_scenario").set_value("server_error").run()
    assert not at.sidebar.number_input  # closed: not drawn
    generate(at, "one attempt, no retry")
    assert "`server_error`" in error_card_text(at)
    assert [r["status"] for r in ui.get_store().recent_attempts()] == ["failed"]  # no retry, no fallback: one attempt
    at.session_state[RELIABILITY_OPEN] = True
    at.run()
    assert at.sidebar.number_input(key="max_retries").value == 0  # and it is there when opened again


def test_a_value_that_cannot_be_used_opens_its_section_and_nothing_is_sent(new_app):
    at = new_app(sections_open=False)
    at.session_state["read_timeout"] = 0.5  # below the 1 s floor, left from before
    at.session_state["budget__sandbox"] = "ten dollars"
    at.run()
    assert at.session_state[RELIABILITY_OPEN] and at.session_state[BUDGET_OPEN]
    assert at.sidebar.number_input(key="read_timeout").value == 0.5
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "Read timeout" in errors and "Not sent until fixed" in errors
    assert at.button(key="generate").disabled


def test_a_ticked_check_keeps_the_checks_open(new_app):
    at = new_app(sections_open=False)
    assert not at.session_state[CHECKS_OPEN.format(prefix="gen")]
    at.session_state["gen_check_size"] = True
    at.run()
    assert at.checkbox(key="gen_check_size").value
    assert at.session_state[CHECKS_OPEN.format(prefix="gen")]


def test_references_queued_for_an_edit_keep_their_section_open(new_app):
    at = new_app(sections_open=False)
    assert not at.session_state[REFERENCES_OPEN] and not at.get("file_uploader")
    at.session_state["media_rerun_refs"] = ([ReferenceImage("fox.png", image_bytes())], None)
    at.run()
    assert at.session_state[REFERENCES_OPEN] and at.get("file_uploader")
    assert any("fox.png" in c.value for c in at.caption)


def test_a_rehearsed_failure_keeps_sandbox_behaviour_open_and_a_key_typed_there_counts_closed(new_app):
    at = new_app(sections_open=False)
    at.session_state["sandbox_scenario"] = "quota_exceeded"  # left from before: what is rehearsed stays in sight
    at.run()
    assert at.session_state[SANDBOX_OPEN] and at.sidebar.selectbox(key="sandbox_scenario").value == "quota_exceeded"
    at.sidebar.selectbox(key="sandbox_scenario").set_value("healthy").run()
    at.sidebar.text_input(key="typed_key__sandbox").input("sk-sandbox-" + "Q" * 20 + "k9Zw").run()
    at.session_state[SANDBOX_OPEN] = False
    at.run()
    assert not at.get("selectbox") or "sandbox_scenario" not in {w.key for w in at.get("selectbox")}
    assert any("ends in `k9Zw`" in c.value for c in at.sidebar.caption)  # closed, the typed key is still the one sent
    generate(at, "with the sandbox key")
    assert ui.get_store().recent_attempts()[0]["status"] == "succeeded"
