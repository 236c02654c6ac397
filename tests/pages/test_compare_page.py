"""The Compare page through AppTest: a 2x2 grid on the sandbox with one failing cell."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib import compare as K
from lib import ui
from lib.errors import ERROR_INFO
from tests.support.media_support import image_bytes
from tests.support.wait_until import wait_until

PAGE = "pages/compare.py"


@pytest.fixture
def app(app):
    """The Compare page, on the sandbox with no latency."""
    app.switch_page(PAGE).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def wait_done(comparison_id: str, timeout: float = 30) -> K.ComparisonView:
    def finished() -> K.ComparisonView | None:
        view = K.load(ui.get_store(), comparison_id)
        return view if view is not None and view.cells and not view.running else None

    return wait_until(finished, timeout=timeout, interval=0.1, message="the grid did not finish")


def chips(at: AppTest):
    return [b for b in at.button if str(b.key or "").startswith("chip-")]


def test_a_2x2_grid_shows_three_images_and_one_error_chip(app, new_app):
    at = app
    at.text_area(key="compare_prompts").set_value("a red fox in the snow\nan owl at night #fallback").run()
    assert at.multiselect(key="compare_targets").value == ["gpt-image-2 @ Sandbox", "gpt-image-1.5 @ Sandbox"]
    assert any("2 rows x 2 targets = 4 cells" in i.value for i in at.info)
    at.button(key="compare_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cid = at.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid
    view = wait_done(cid)
    assert view.status == "done"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("image")) == 3
    found = chips(at)
    assert len(found) == 1 and found[0].key == "chip-r1c0"
    assert found[0].label.startswith("model_not_found") and ERROR_INFO["model_not_found"].title[:20] in found[0].label
    assert any("1/2 succeeded" in t.value for t in at.text) and any("2/2 succeeded" in t.value for t in at.text)

    # judging is stored
    at.button(key="star-r0c1").click().run()
    assert K.load(ui.get_store(), cid).winners() == {(0, -1): "r0c1"}
    at.text_input(key=f"note-{cid}-r0c1").set_value("crisp fur").run()
    assert K.load(ui.get_store(), cid).ratings["r0c1"]["note"] == "crisp fur"

    # the permalink shows the same grid in a fresh session
    again = new_app(PAGE, {"comparison": cid})
    assert len(again.get("image")) == 3 and len(chips(again)) == 1
    assert again.button(key="star-r0c1").label == "Winner"


def test_a_malformed_template_is_explained_and_nothing_runs(app):
    at = app
    at.radio(key="compare_rows_mode").set_value("Template").run()
    at.text_input(key="compare_template").set_value("a {animal in {style}").run()
    assert any("never closed" in e.value for e in at.error)
    assert at.button(key="compare_run").disabled
    at.text_input(key="compare_template").set_value("a {animal} in {style} style").run()
    at.text_area(key="compare_vars").set_value("animal = fox, owl").run()
    assert any("no values were given for it" in e.value for e in at.error)
    at.text_area(key="compare_vars").set_value("animal = fox, owl\nstyle = ink, oil, pixel").run()
    assert any("6 rows x 2 targets = 12 cells" in i.value for i in at.info)
    assert not at.button(key="compare_run").disabled


def test_an_unknown_comparison_link_is_explained(app):
    at = app
    at.query_params["comparison"] = "nope"
    at.run()
    assert not at.exception and any("no such comparison" in w.value for w in at.warning)


def test_reference_images_and_streaming_apply_to_every_cell(app):
    """Streaming and edits on Compare: the grid's reference image goes with every cell as an edit, streamed."""
    at = app
    ref = image_bytes((96, 64), colour=(200, 120, 40))
    at.text_area(key="compare_prompts").set_value("the same scene at noon").run()
    at.toggle(key="compare_stream").set_value(True).run()
    at.file_uploader(key="compare_ref_images").set_value([("scene.png", ref, "image/png")]).run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="compare_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cid = at.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid
    view = wait_done(cid)
    assert view.status == "done" and len(view.cells) == 2
    store = ui.get_store()
    for cell in view.cells.values():
        assert cell.ok, cell.error_type
        run = store.run(cell.run_id)
        assert run["request"]["stream"] is True
        assert [i["filename"] for i in run["request"]["images"]] == ["scene.png"]
        inputs = store.attempt_inputs(run["attempts"][-1]["id"])
        assert [(r["role"], r["filename"]) for r in inputs] == [("image", "scene.png")]
    at.run()
    assert len(at.get("image")) == 2 and not at.exception


def test_images_per_cell_out_of_range_is_kept_and_refused(app):
    at = app
    at.text_area(key="compare_prompts").set_value("a red fox in the snow").run()
    at.number_input(key="compare_n").set_value(11).run()
    assert at.number_input(key="compare_n").value == 11  # kept as typed, not clamped to 10
    assert any("Images per cell must be from 1 to 10; 11 is out of range." in e.value for e in at.error)
    assert at.button(key="compare_run").disabled
    at.number_input(key="compare_n").set_value(2).run()
    assert not at.button(key="compare_run").disabled


def test_a_sidebar_number_out_of_range_stops_the_grid(app):
    at = app
    at.text_area(key="compare_prompts").set_value("a red fox in the snow").run()
    at.sidebar.number_input(key="max_concurrency").set_value(0).run()
    assert any("Parallel requests must be from 1 to 16; 0 is out of range." in e.value for e in at.error)
    assert at.button(key="compare_run").disabled
