"""History's attempt detail: the chain of runs a result came from, with each prompt as a diff."""

from __future__ import annotations

import time

from lib import history as H
from lib import ui
from tests.support.apptest import generate
from tests.support.history_seed import add


def _step(store, prompt, parent=None, at=0.0):
    run_id = store.start_run(
        kind="generate",
        label=prompt,
        settings={},
        prompt=prompt,
        parent_run_id=parent,
        request={"prompt": prompt, "size": "1024x1024", "quality": "low", "n": 1},
    )
    return run_id, add(store, at=time.time() - 100 + at, prompt=prompt, run_id=run_id)


def test_the_attempt_detail_shows_the_chain_with_diffs_and_links_each_step_to_the_next(app_env, new_app):
    store = ui.get_store()
    a, a_att = _step(store, "a fox [sitting] in *snow*", at=1)
    b, b_att = _step(store, "a fox [sitting] in *snow* at dusk", parent=a, at=2)
    c, c_att = _step(store, "a grey fox in *snow* at dusk", parent=b, at=3)
    at = new_app("pages/history.py", {"attempt": str(c_att)})
    assert any(m.value == "**How this image came to be**" for m in at.markdown)
    steps = [m.value for m in at.markdown if m.value.startswith("**Step ")]
    assert steps == ["**Step 1**: generation", "**Step 2**: generation", "**Step 3**: generation (this attempt)"]
    diffs = [m.value for m in at.markdown if "green-background" in m.value or "red-background" in m.value]
    assert diffs[0].endswith(":green-background[at dusk]")
    assert "\\*snow\\*" in diffs[0] and "\\[sitting\\]" in diffs[0]  # the prompt shows literally, not as Markdown
    assert ":red-background[~~\\[sitting\\]~~]" in diffs[1] and ":green-background[grey]" in diffs[1]
    counts = [c.value for c in at.caption if c.value.startswith("Prompt against step")]
    assert counts == ["Prompt against step 1: 2 word(s) added, 0 removed", "Prompt against step 2: 1 word(s) added, 1 removed"]
    assert not any(b.key == "lineage-next-3" for b in at.button)  # the last step has no next
    at.button(key="lineage-next-1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["attempt"] in (str(b_att), [str(b_att)])
    at.button(key=f"lineage-child-{c}").click().run()  # from the middle step: what was made from it
    assert at.query_params["attempt"] in (str(c_att), [str(c_att)])
    assert a_att < b_att < c_att


def test_a_run_with_no_parent_and_no_child_shows_no_chain(app_env, new_app):
    store = ui.get_store()
    _, aid = _step(store, "alone")
    at = new_app("pages/history.py", {"attempt": str(aid)})
    assert not any(m.value == "**How this image came to be**" for m in at.markdown)
    assert H.lineage_detail(store, None) is None


def test_a_deleted_parent_is_named_and_a_parent_links_to_what_was_made_from_it(app_env, new_app):
    store = ui.get_store()
    orphan, orphan_att = _step(store, "an edit of a lost image", parent="f" * 32)
    detail = H.lineage_detail(store, orphan)
    assert detail["missing_parent"] == "f" * 32 and [s["run_id"] for s in detail["steps"]] == [orphan]
    at = new_app("pages/history.py", {"attempt": str(orphan_att)})
    assert any("no longer recorded" in c.value for c in at.caption)
    child, child_att = _step(store, "an edit of a lost image, brighter", parent=orphan, at=5)
    at = new_app("pages/history.py", {"attempt": str(orphan_att)})
    at.button(key=f"lineage-child-{child}").click().run()
    assert at.query_params["attempt"] in (str(child_att), [str(child_att)])


def test_edit_this_image_in_the_detail_opens_generate_with_it_as_the_reference(app):
    at = generate(app, "a paper lantern on a river")
    store = ui.get_store()
    run = store.recent_runs(limit=1)[0]
    aid = store.run(run["id"])["attempts"][-1]["id"]
    at.switch_page("pages/history.py")
    at.query_params["attempt"] = str(aid)
    at.run()
    assert at.button(key="history-reuse").label == "Reuse prompt and settings"
    at.button(key="history-edit-0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="prompt").value == "a paper lantern on a river"  # on Generate now
    refs, _ = at.session_state["media_rerun_refs"]
    assert len(refs) == 1 and at.session_state["parent_run_id"] == run["id"]
