"""Reuse and refine: "Reuse prompt and settings" and "Edit this image" on a result fill Generate,
and the generation made from it records its parent run."""

from __future__ import annotations

import time

from lib import ui
from tests.support.apptest import generate, wait_for_job
from tests.support.history_seed import add


def _buttons(at, label):
    return [b for b in at.button if b.label == label]


def test_reuse_fills_the_form_and_the_next_run_records_its_parent(app):
    at = app
    at.selectbox(key="quality").set_value("low").run()
    at.number_input(key="n").set_value(2).run()
    generate(at, "a lighthouse on a basalt cliff")
    first = at.query_params["run"][0] if isinstance(at.query_params["run"], list) else at.query_params["run"]
    assert len(_buttons(at, "Edit this image")) == 2  # one per image
    assert any("Download all 2 images" in b.label for b in at.get("download_button"))
    at.text_area(key="prompt").set_value("something else").run()
    at.number_input(key="n").set_value(1).run()
    _buttons(at, "Reuse prompt and settings")[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="prompt").value == "a lighthouse on a basalt cliff"
    assert at.number_input(key="n").value == 2 and at.selectbox(key="quality").value == "low"
    assert at.session_state["parent_run_id"] == first
    at.button(key="generate").click().run()
    wait_for_job(at)
    second = ui.get_store().recent_runs(limit=1)[0]
    assert second["id"] != first and second["parent_run_id"] == first and second["kind"] == "generate"
    assert "parent_run_id" not in at.session_state  # the run after that is typed from scratch


def test_edit_this_image_makes_the_result_the_reference_of_an_edit(app):
    at = generate(app, "a red kite over dunes")
    first = ui.get_store().recent_runs(limit=1)[0]["id"]
    _buttons(at, "Edit this image")[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    refs, mask = at.session_state["media_rerun_refs"]
    assert len(refs) == 1 and mask is None
    kept = ui.get_store().run(first)["images"][0]["path"]
    assert refs[0].data == ui.get_store().keeper.resolve(kept).read_bytes()  # the stored file itself
    assert any("reference image" in i.value for i in at.info)
    assert at.text_area(key="prompt").value == "a red kite over dunes"  # kept, to be changed into the edit
    generate(at, "the same kite, now at night")
    store = ui.get_store()
    edit = store.recent_runs(limit=1)[0]
    assert edit["parent_run_id"] == first
    attempt = store.run(edit["id"])["attempts"][-1]
    assert attempt["url"].endswith("/images/edits")
    assert [s["id"] for s in store.lineage(edit["id"])["steps"]] == [first, edit["id"]]


def test_a_reuse_link_to_an_unknown_run_leaves_the_form_and_says_so(new_app):
    at = new_app(query={"reuse": "no-such-run"})
    assert any("does not point at a recorded generation" in w.value for w in at.warning)
    assert "parent_run_id" not in at.session_state


def test_recent_generations_offer_reuse(app):
    at = app
    store = ui.get_store()
    owner = at.session_state["_imagelab_session_owner"]
    run_id = store.start_run(kind="generate", label="a paper boat", settings={}, prompt="a paper boat", owner_session=owner)
    add(store, at=time.time() - 5, prompt="a paper boat", run_id=run_id)
    at.run()
    at.button(key=f"reuse-{run_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="prompt").value == "a paper boat"
    assert at.session_state["parent_run_id"] == run_id
