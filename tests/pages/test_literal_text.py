"""Text shown to someone else is shown as it is: a direction override or an invisible character in a
prompt, a provider's message or a report shows as a visible <U+202E>, never reorders what follows
("desrever" for "reversed"). Through AppTest, on every page that shows such text literally."""

from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from lib import compare as K
from lib import ui
from tests.support.apptest import generate
from tests.support.history_seed import add
from tests.support.report_files import body
from tests.support.wait_until import wait_until

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

RLO, PDF, ZWSP = "\u202e", "\u202c", "\u200b"
TRICK = f"a {RLO}desrever{PDF} word with a hidden{ZWSP}space"
SHOWN = "a <U+202E>desrever<U+202C> word with a hidden<U+200B>space"
DISGUISES = (RLO, PDF, ZWSP)


def literal_widgets(at: AppTest) -> str:
    """What the page shows in widgets that print text literally: text, code, json, dataframes."""
    parts = [t.value for t in at.text] + [c.value for c in at.code] + [str(j.proto.body) for j in at.json]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def assert_shown_literally(at: AppTest, *, times: int = 1) -> str:
    shown = literal_widgets(at)
    assert shown.count(SHOWN) >= times, shown[:2000]
    assert not any(ch in shown for ch in DISGUISES)
    return shown


def test_recent_generations_show_a_prompt_literally(app):
    generate(app, TRICK)
    generate(app, "a plain second prompt")  # the first one moves to Recent generations
    assert any(SHOWN in t.value for t in app.text)  # Recent generations
    assert_shown_literally(app)


def test_the_finished_result_shows_its_prompt_and_request_literally(app):
    generate(app, TRICK)
    shown = assert_shown_literally(app)  # "Prompt of this generation"
    assert "<U+202E>" in "".join(c.value for c in app.code if "curl" in c.value)  # the curl command in "What was sent"
    assert RLO not in shown


def test_history_shows_the_prompt_the_request_and_the_table_literally(app, new_app):
    generate(app, TRICK)
    detail = new_app("pages/history.py", {"attempt": "1"})
    assert_shown_literally(detail, times=2)  # the prompt, and the request body as JSON
    table = new_app("pages/history.py")
    assert SHOWN[:40] in table.dataframe[0].value.to_csv()
    assert not any(ch in table.dataframe[0].value.to_csv() for ch in DISGUISES)


def test_an_error_card_shows_the_providers_message_literally(new_app, app_env):
    aid = add(
        ui.get_store(),
        at=time.time(),
        status="failed",
        error_type="bad_request",
        http_status=400,
        error_message=f"Invalid prompt: {TRICK}",
        prompt=TRICK,
    )
    at = new_app("pages/history.py", {"attempt": str(aid)})
    card = " ".join(c.value for c in at.code)
    assert f"Invalid prompt: {SHOWN}" in card and RLO not in card


def test_an_uploaded_report_shows_its_texts_literally(new_app):
    at = new_app("pages/diagnostics.py")
    report = body([{"kind": "history", "text": TRICK, "prompt": TRICK}])
    report["steps"][0]["verdict"] = TRICK
    at.file_uploader(key="diag_upload").set_value(("report.json", json.dumps(report).encode(), "application/json")).run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert SHOWN in texts and f"Prompt: {SHOWN}" in texts
    assert not any(ch in t for t in texts for ch in DISGUISES)


def test_compare_shows_row_prompts_literally(app):
    app.switch_page("pages/compare.py").run()
    app.text_area(key="compare_prompts").set_value(TRICK + "\nan owl at night").run()
    app.button(key="compare_run").click().run()
    cid = app.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid

    def finished() -> bool:
        view = K.load(ui.get_store(), cid)
        return view is not None and bool(view.cells) and not view.running

    wait_until(finished, timeout=30, interval=0.1, message="the grid did not finish")
    app.run()
    assert not app.exception
    assert SHOWN in [t.value for t in app.text]
    assert not any(ch in literal_widgets(app) for ch in DISGUISES)
