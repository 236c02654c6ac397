"""The prompt library through AppTest: saving from Generate, versions and their diff on the
Library page, saved prompts as Compare rows; Compare's "Edit and re-run" and its builder
kept across pages."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from lib import compare as K
from lib import ui
from tests.support.wait_until import wait_until

COMPARE = "pages/compare.py"
LIBRARY = "pages/library.py"


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def save(at: AppTest, name: str, text: str, tags: str = "") -> AppTest:
    at.text_area(key="prompt").set_value(text)
    at.text_input(key="library_save_name").set_value(name)
    at.text_input(key="library_save_tags").set_value(tags)
    return ok(at.button(key="library_save").click().run())


def comparison_id(at: AppTest) -> str:
    cid = at.query_params["comparison"]
    return cid[0] if isinstance(cid, list) else cid


def test_saving_twice_makes_two_versions_and_the_library_shows_their_diff(app):
    at = save(app, "Neon sign", 'a neon sign that says "OPEN" on a brick wall', "poster, neon")
    assert any("version 1" in s.value for s in at.success)
    at = save(at, "neon sign", 'a neon sign that says "OPEN" on a brick wall')
    assert any("no new version was made" in i.value for i in at.info) and not at.success
    at = save(at, "Neon sign", 'a pink neon sign that says "CLOSED" on a brick wall')
    assert any("version 2" in s.value for s in at.success)
    store = ui.get_store()
    saved = store.prompt_named("Neon sign")
    assert saved["versions"] == 2 and saved["tags"] == ["poster", "neon"]
    assert store.prompt_versions(saved["id"])[1]["settings"]["model"] == "gpt-image-2"  # the settings it was saved with

    ok(at.switch_page(LIBRARY).run())
    assert at.selectbox(key=f"library_a_{saved['id']}").value == 1 and at.selectbox(key=f"library_b_{saved['id']}").value == 2
    assert any("2 words added, 1 removed" in m.value for m in at.markdown)  # "pink", "CLOSED" in; "OPEN" out
    diff = "".join(h.proto.body for h in at.get("html"))
    assert "<ins" in diff and "pink" in diff and "<del" in diff and "OPEN" in diff
    at.selectbox(key=f"library_a_{saved['id']}").set_value(2)
    ok(at.run())
    assert any("same version" in c.value for c in at.caption)


def test_an_empty_prompt_or_a_bad_name_is_refused_with_a_message(app):
    at = save(app, "", "a fox")
    assert any("Give the prompt a name." in e.value for e in at.error)
    at = save(at, "Fox", "   ")
    assert any("empty prompt cannot be saved" in e.value for e in at.error)
    assert ui.get_store().prompts() == []


def test_a_saved_prompt_and_its_versions_become_compare_rows(app):
    store = ui.get_store()
    store.save_prompt("Fox", "a red fox\nin the snow", tags="animal")
    store.save_prompt("Fox", "a red fox in the snow at dawn")
    at = ok(app.switch_page(LIBRARY).run())
    ok(at.button(key="library_pair_to_compare").click().run())
    at.switch_page(COMPARE)  # AppTest's next run stays on the page st.switch_page went to
    assert at.text_area(key="compare_prompts").value == "a red fox in the snow\na red fox in the snow at dawn"  # one line a row
    assert any("2 rows x 2 targets = 4 cells" in i.value for i in at.info)

    # from the builder itself: one version of a saved prompt, not added twice
    at.text_area(key="compare_prompts").set_value("an owl at night")
    fox = store.prompt_named("fox")["id"]
    at.selectbox(key=f"compare_library_version_{fox}").set_value(2)
    ok(at.button(key="compare_library_add").click().run())
    assert at.text_area(key="compare_prompts").value == "an owl at night\na red fox in the snow at dawn"
    ok(at.button(key="compare_library_add").click().run())
    assert any("already rows" in c.value for c in at.caption)
    assert at.text_area(key="compare_prompts").value == "an owl at night\na red fox in the snow at dawn"


def test_edit_and_rerun_opens_the_builder_filled_in_from_the_comparison(app):
    at = ok(app.switch_page(COMPARE).run())
    at.radio(key="compare_rows_mode").set_value("Template").run()
    at.text_input(key="compare_template").set_value("a {animal} in {style} style").run()
    at.text_area(key="compare_vars").set_value("animal = fox, owl\nstyle = ink").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-2 @ Sandbox"]).run()
    at.selectbox(key="compare_quality").set_value("low").run()
    at.selectbox(key="compare_vary").set_value("output_format").run()
    at.multiselect(key="compare_vary_values").set_value(["png", "webp"]).run()
    ok(at.button(key="compare_run").click().run())
    cid = comparison_id(at)
    wait_until(lambda: not K.load(ui.get_store(), cid).running, timeout=30, interval=0.1, message="the grid did not finish")
    ok(at.run())
    assert any(m.value == "animal: fox · style: ink" for m in at.markdown)  # rows show their template values

    # a new session opening the link: nothing typed in this one
    fresh = AppTest.from_file(at._script_path, default_timeout=30)
    fresh.run()
    fresh.switch_page(COMPARE)
    fresh.query_params["comparison"] = cid
    ok(fresh.run())
    ok(fresh.button(key="compare_edit").click().run())
    assert "comparison" not in fresh.query_params
    assert fresh.radio(key="compare_rows_mode").value == "Template"
    assert fresh.text_input(key="compare_template").value == "a {animal} in {style} style"
    assert fresh.text_area(key="compare_vars").value == "animal = fox, owl\nstyle = ink"
    assert fresh.multiselect(key="compare_targets").value == ["gpt-image-2 @ Sandbox"]
    assert fresh.selectbox(key="compare_quality").value == "low"
    assert fresh.selectbox(key="compare_vary").value == "output_format"
    assert fresh.multiselect(key="compare_vary_values").value == ["png", "webp"]
    assert any("2 rows x 1 target x 2 format values = 4 cells" in i.value for i in fresh.info)


def test_the_builder_keeps_its_inputs_across_pages(app):
    at = ok(app.switch_page(COMPARE).run())
    at.text_area(key="compare_prompts").set_value("a lighthouse at dusk\na lighthouse at dawn").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-1.5 @ Sandbox"]).run()
    at.selectbox(key="compare_quality").set_value("high").run()
    ok(at.switch_page("pages/history.py").run())
    ok(at.switch_page(COMPARE).run())
    assert at.text_area(key="compare_prompts").value == "a lighthouse at dusk\na lighthouse at dawn"
    assert at.multiselect(key="compare_targets").value == ["gpt-image-1.5 @ Sandbox"]
    assert at.selectbox(key="compare_quality").value == "high"
