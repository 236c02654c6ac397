"""Compare: a cell of several images shows them all, and sends its result to Generate."""

from __future__ import annotations

from lib import compare as K
from lib import ui
from tests.support.wait_until import wait_until

PAGE = "pages/compare.py"


def test_a_cell_shows_all_its_images_and_reuses_into_generate(app):
    at = app
    at.switch_page(PAGE).run()
    at.text_area(key="compare_prompts").set_value("a red fox in the snow").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-2 @ Sandbox"]).run()
    at.number_input(key="compare_n").set_value(2).run()
    at.button(key="compare_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cid = at.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid

    def finished():
        view = K.load(ui.get_store(), cid)
        return view if view is not None and view.cells and not view.running else None

    view = wait_until(finished, timeout=30, interval=0.1, message="the grid did not finish")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    cell = view.cells["r0c0"]
    assert len(cell.images) == 2 and len(at.get("image")) == 2  # both images of the one cell
    assert at.button(key="cell-r0c0-reuse").label == "Reuse prompt and settings"
    at.button(key="cell-r0c0-edit-1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="prompt").value == "a red fox in the snow"  # on Generate now
    assert at.session_state["parent_run_id"] == cell.run_id
    refs, _ = at.session_state["media_rerun_refs"]
    assert refs[0].data == ui.get_store().keeper.resolve(cell.images[1]["path"]).read_bytes()
