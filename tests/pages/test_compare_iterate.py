"""Compare for iterating, through AppTest on the sandbox: samples per cell and their spread, the
A/B view, rows ordered and filtered, and the third axis side by side."""

from __future__ import annotations

import pytest

from lib import compare as K
from lib import ui
from tests.support.wait_until import wait_until

PAGE = "pages/compare.py"


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app(app):
    return ok(app.switch_page(PAGE).run())


def run_grid(at) -> str:
    ok(at.button(key="compare_run").click().run())
    cid = at.query_params["comparison"]
    cid = cid[0] if isinstance(cid, list) else cid
    wait_until(lambda: not K.load(ui.get_store(), cid).running, timeout=30, interval=0.1, message="the grid did not finish")
    ok(at.run())
    return cid


def test_samples_per_cell_run_each_and_show_their_spread_and_the_ab_view(app):
    at = app
    at.text_area(key="compare_prompts").set_value("a red fox in the snow").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-2 @ Sandbox"]).run()
    at.number_input(key="compare_repeats").set_value(2).run()
    assert any("1 row x 1 target x 2 samples = 2 cells" in i.value for i in at.info)
    cid = run_grid(at)
    view = K.load(ui.get_store(), cid)
    assert sorted(view.cells) == ["r0c0", "r0c0s1"] and all(c.ok for c in view.cells.values())
    assert any(c.value.startswith("2/2 samples succeeded · latency") for c in at.caption)
    assert len(at.get("image")) == 2  # the cell's image and its second sample's
    ok(at.toggle(key="compare_ab").set_value(True).run())
    assert at.selectbox(key="compare_ab_a").value == "r0c0" and at.selectbox(key="compare_ab_b").value == "r0c0s1"
    assert len(at.get("image")) == 4  # A and B at full size beside the grid


def test_the_third_axis_side_by_side_and_rows_filtered(app):
    at = app
    at.text_area(key="compare_prompts").set_value("a red fox in the snow\nan owl at night #fallback").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-2 @ Sandbox"]).run()
    at.selectbox(key="compare_vary").set_value("quality").run()
    at.multiselect(key="compare_vary_values").set_value(["low", "high"]).run()
    run_grid(at)
    assert len(at.get("image")) == 1  # one tab drawn: quality low, the fox's cell (the owl's fails)
    ok(at.toggle(key="compare_side_by_side").set_value(True).run())
    assert len(at.get("image")) == 2  # both qualities' columns in one grid
    assert any("quality high" in m.value for m in at.markdown)
    ok(at.selectbox(key="compare_show").set_value("failed").run())
    assert len(at.get("image")) == 0 and [t.value for t in at.text if t.value.startswith("an owl")]
    ok(at.selectbox(key="compare_show").set_value("unfinished").run())
    assert any("No row matches the filter." in c.value for c in at.caption)
