"""History and the checks that are not image requests: a moderation check's card rebuilt from the store,
and what Re-run offers for a moderation check or a judge call."""

from __future__ import annotations

import time

from lib import ui
from lib.client import MODERATION_MODEL
from tests.support.apptest import generate
from tests.support.history_seed import add

PAGE = "pages/history.py"
FLAGGED_LINE = "`violence/graphic`"


def flagged_line(at) -> bool:
    return any("Flagged by the moderation check" in m.value and FLAGGED_LINE in m.value for m in at.markdown)


def test_a_stopped_run_shows_its_flagged_categories_everywhere_and_re_runs_its_image_request(app, new_app):
    app.sidebar.toggle(key="moderate__sandbox").set_value(True).run()
    at = generate(app, "a knight in the gore of battle")
    assert flagged_line(at)  # the live card
    store = ui.get_store()
    store.flush()
    (run,) = store.recent_runs(limit=5)
    assert run["model"] == "gpt-image-2"  # the image model asked for, not the check's
    (check,) = store.db.query("SELECT id, model FROM attempts WHERE run_id = ?", [run["id"]])
    assert check["model"] == MODERATION_MODEL

    again = new_app(query={"run": run["id"]})  # a link opened later: the card rebuilt from the store
    assert flagged_line(again)
    detail = new_app(PAGE, {"attempt": str(check["id"])})
    assert flagged_line(detail)
    assert any("moderation check that stopped its run" in c.value for c in detail.caption)
    detail.button(key="rerun").click().run()
    assert not detail.exception
    assert detail.text_area(key="prompt").value == "a knight in the gore of battle"
    assert detail.sidebar.selectbox(key="model_choice").value == "gpt-image-2"


def test_a_judge_call_re_runs_the_image_request_it_judged_or_says_why_it_cannot(app_env, new_app):
    store = ui.get_store()
    now = time.time()
    judged = add(store, at=now - 60, prompt="a lighthouse at dusk", model="gpt-image-1.5", provider="sandbox")
    judge = add(store, at=now - 30, kind="judge", model="gpt-4o-mini", params={"kind": "judge", "judged_attempt": judged})
    orphan = add(store, at=now - 20, kind="judge", model="gpt-4o-mini", params={"kind": "judge", "judged_attempt": 999_999})

    at = new_app(PAGE, {"attempt": str(orphan)})
    assert at.button(key="rerun").disabled
    assert any("no image request to run again" in c.value for c in at.caption)

    at = new_app(PAGE, {"attempt": str(judge)})
    assert not at.button(key="rerun").disabled
    at.button(key="rerun").click().run()
    assert not at.exception
    assert at.text_area(key="prompt").value == "a lighthouse at dusk"
    assert at.sidebar.selectbox(key="model_choice").value == "gpt-image-1.5"
    assert any(f"Re-running attempt #{judged}" in i.value for i in at.info)
