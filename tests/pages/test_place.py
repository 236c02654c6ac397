"""Your place is kept: Generate's form and the sidebar's provider settings survive another page and a
reload (a new session of the same browser); another browser (a teammate opening your link) has its own."""

from __future__ import annotations

import pytest

from lib import constants as C
from lib.ui import place
from lib.ui.sidebar import SIDEBAR_PLACE

BROWSER = "mine-" + "a" * 30
TEAMMATE = "theirs-" + "b" * 30


@pytest.fixture
def browser(monkeypatch):
    """Which browser the next session comes from: the cookie it sends."""
    holder = {"token": BROWSER}
    monkeypatch.setattr(place, "_cookie_token", lambda: holder["token"])
    return holder


def fill_form(at):
    at.text_area(key="prompt").input("a lighthouse on a basalt cliff at dusk").run()
    at.selectbox(key="quality").set_value("high").run()
    at.selectbox(key="output_format").set_value("webp").run()
    at.slider(key="compression").set_value(55).run()
    at.sidebar.selectbox(key="provider").set_value("custom").run()
    at.sidebar.text_input(key="base_url__custom").input("http://127.0.0.1:9/v1").run()
    at.sidebar.text_input(key="typed_key__custom").input("sk-test-DO-NOT-KEEP-1234").run()
    at.sidebar.selectbox(key="provider").set_value("sandbox").run()
    return at


def assert_form_kept(at):
    assert at.text_area(key="prompt").value == "a lighthouse on a basalt cliff at dusk"
    assert at.selectbox(key="quality").value == "high"
    assert at.selectbox(key="output_format").value == "webp"
    assert at.slider(key="compression").value == 55
    assert at.session_state["base_url__custom"] == "http://127.0.0.1:9/v1"


def test_generate_to_compare_and_back_keeps_the_form_and_the_custom_base_url(browser, new_app):
    at = fill_form(new_app())
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert at.session_state["base_url__custom"] == "http://127.0.0.1:9/v1"
    at.switch_page("pages/history.py").run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception
    assert_form_kept(at)
    at.sidebar.selectbox(key="provider").set_value("custom").run()
    assert at.sidebar.text_input(key="base_url__custom").value == "http://127.0.0.1:9/v1"


def test_a_reload_finds_the_form_but_never_the_key(browser, new_app, app_env):
    fill_form(new_app())
    again = new_app()  # a reload: a new session, the same browser
    assert_form_kept(again)
    assert "typed_key__custom" not in again.session_state
    db = (app_env / C.DB_FILENAME).read_bytes()
    assert b"DO-NOT-KEEP" not in db and b"a lighthouse on a basalt cliff" in db


def cookie_scripts(at) -> list[str]:
    return [h.proto.body for h in at.get("html") if "document.cookie" in h.proto.body]


def test_a_new_browser_is_remembered_from_its_second_run_and_nothing_is_kept_before(browser, new_app):
    from lib import ui

    browser["token"] = None  # a browser that sends no cookie: a new token, unknown to it
    at = new_app()
    token = at.session_state[place.TOKEN_STATE]
    assert not cookie_scripts(at)  # the first view: no script, and nothing kept under a token the browser lacks
    assert ui.get_store().place(token, "generate") == {} and ui.get_store().place(token, SIDEBAR_PLACE) == {}
    at.selectbox(key="quality").set_value("high").run()
    (script,) = cookie_scripts(at)
    assert f"{C.PLACE_COOKIE}={token};" in script and "SameSite=Strict" in script
    assert ui.get_store().place(token, "generate")["quality"] == "high"
    at.text_area(key="prompt").input("a paper boat").run()
    assert not cookie_scripts(at)  # once per session


def test_a_browser_that_sends_its_cookie_is_never_sent_the_script(browser, new_app):
    from lib import ui

    at = new_app()
    assert not cookie_scripts(at) and at.session_state[place.TOKEN_STATE] == BROWSER
    at.selectbox(key="quality").set_value("high").run()
    assert not cookie_scripts(at)  # it holds the token already
    assert ui.get_store().place(BROWSER, "generate")["quality"] == "high"


def test_numbers_kept_as_floats_come_back_in_their_widgets_own_type(browser, new_app):
    from lib import ui

    ui.get_store().keep_place(BROWSER, "generate", {"n": 3.0, "output_format": "jpeg", "compression": 55.0})
    at = new_app()  # an int box handed a float default would stop the page
    assert at.number_input(key="n").value == 3
    assert at.slider(key="compression").value == 55


def test_another_browser_opening_a_link_does_not_get_my_draft(browser, new_app):
    fill_form(new_app())
    browser["token"] = TEAMMATE
    theirs = new_app()
    assert theirs.text_area(key="prompt").value == ""
    assert theirs.session_state["provider"] == "sandbox"
    assert "base_url__custom" not in theirs.session_state


def test_a_kept_place_expires(browser, new_app, app_env):
    from lib.store import Store

    store = Store(app_env / C.DB_FILENAME)
    store.keep_place(BROWSER, "generate", {"prompt": "old draft"}, now=1_000.0)
    assert store.place(BROWSER, "generate", now=1_000.0 + 3600) == {"prompt": "old draft"}
    assert store.place(BROWSER, "generate", now=1_000.0 + C.PLACE_KEEP_DAYS * 86400 + 1) == {}
    store.keep_place(TEAMMATE, "generate", {"prompt": "new"}, now=1_000.0 + C.PLACE_KEEP_DAYS * 86400 + 1)
    assert store.place(BROWSER, "generate", now=0) == {}  # dropped from the table, not only hidden
    store.close()


def test_history_filters_come_back_on_a_bare_history(browser, new_app):
    at = new_app("pages/history.py", {"since": "7d", "status": "failed"})
    at.switch_page("pages/generate.py").run()
    at.switch_page("pages/history.py").run()
    assert not at.exception
    assert at.query_params.get("since") == ["7d"] or at.query_params.get("since") == "7d"
    assert at.selectbox(key="hist_since").value == "7d"
    assert at.multiselect(key="hist_status").value == ["failed"]


def test_a_link_with_filters_wins_over_the_kept_ones(browser, new_app):
    new_app("pages/history.py", {"since": "7d", "status": "failed"})
    at = new_app("pages/history.py", {"since": "24h"})
    assert at.selectbox(key="hist_since").value == "24h"
    assert at.multiselect(key="hist_status").value == []


def test_the_sidebar_stays_on_custom_across_pages(browser, new_app):
    at = new_app()
    at.sidebar.selectbox(key="provider").set_value("custom").run()
    at.sidebar.text_input(key="base_url__custom").input("http://127.0.0.1:9/v1").run()
    for page in ("pages/compare.py", "pages/generate.py", "pages/diagnostics.py", "pages/generate.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert at.sidebar.selectbox(key="provider").value == "custom"
        assert at.sidebar.text_input(key="base_url__custom").value == "http://127.0.0.1:9/v1"


def test_a_rerun_link_wins_over_the_kept_place(browser, new_app):
    from tests.support.apptest import generate

    at = generate(new_app(), "the prompt that was sent")
    at.text_area(key="prompt").input("a draft typed afterwards").run()
    linked = new_app(query={"rerun": "1"})  # a reload of a re-run link: the attempt's prompt, not the draft
    assert linked.text_area(key="prompt").value == "the prompt that was sent"


def _refs_caption(at) -> str:
    return " ".join(c.value for c in at.caption if ".png" in c.value)


def _queued(at):
    """The reference images the form would send when nothing is uploaded."""
    return at.session_state["media_rerun_refs"] if "media_rerun_refs" in at.session_state else None


def test_uploaded_reference_images_come_back_after_a_reload_from_files(browser, new_app, app_env):
    from tests.support.media_support import image_bytes, mask_bytes

    first, second = image_bytes((64, 48), colour=(30, 160, 90)), image_bytes((64, 48), colour=(90, 30, 160))
    at = new_app()
    at.file_uploader(key="ref_images").set_value([("garden.png", first, "image/png"), ("style.png", second, "image/png")]).run()
    at.file_uploader(key="ref_mask").set_value(("mask.png", mask_bytes((64, 48)), "image/png")).run()
    again = new_app()  # a reload: a new session of the same browser
    images, mask = again.session_state["media_rerun_refs"]
    assert [(r.filename, r.data) for r in images] == [("garden.png", first), ("style.png", second)] and mask.filename == "mask.png"
    assert "Uploaded before the reload: garden.png, style.png, mask mask.png" in _refs_caption(again)
    assert first not in (app_env / C.DB_FILENAME).read_bytes()  # files under images/, rows in the database
    browser["token"] = TEAMMATE
    assert _queued(new_app()) is None  # another browser has its own place


def test_edit_this_image_says_where_its_reference_came_from_and_survives_a_reload(browser, new_app):
    from lib import ui
    from tests.support.apptest import generate, wait_for_job

    at = new_app()
    at.sidebar.selectbox(key="sandbox_latency").set_value("none").run()
    generate(at, "a red kite over dunes")
    first = ui.get_store().recent_runs(limit=1)[0]["id"]
    [b for b in at.button if b.label == "Edit this image"][0].click().run()
    assert "Image 1 of the result being edited: result-" in _refs_caption(at)
    assert "re-run" not in _refs_caption(at)
    again = new_app()
    assert "Image 1 of the result being edited: result-" in _refs_caption(again)
    assert again.text_area(key="prompt").value == "a red kite over dunes"
    again.text_area(key="prompt").input("the same kite at night").run()
    again.button(key="generate").click().run()
    wait_for_job(again)
    attempt = ui.get_store().recent_attempts()[0]
    assert attempt["prompt"] == "the same kite at night" and attempt["url"].endswith("/images/edits")
    edit = ui.get_store().run(attempt["run_id"])
    assert edit["parent_run_id"] == first  # the reload kept what the edit is made from: its lineage holds


def test_dont_send_these_is_kept_too_and_a_gone_file_is_named_not_sent(browser, new_app):
    from lib import ui
    from tests.support.media_support import image_bytes

    at = new_app()
    at.file_uploader(key="ref_images").set_value([("garden.png", image_bytes(colour=(1, 2, 3)), "image/png")]).run()
    again = new_app()
    again.button(key="ref_clear_rerun").click().run()
    assert _queued(new_app()) is None

    at.file_uploader(key="ref_images").set_value([("pond.png", image_bytes(colour=(9, 8, 7)), "image/png")]).run()
    store = ui.get_store()
    path = store.keeper.resolve(store.db.execute("SELECT path FROM place_refs").fetchone()[0])
    path.unlink()
    gone = new_app()
    assert _queued(gone) is None
    assert any("no longer in the data directory and will not be sent: pond.png" in w.value for w in gone.warning)


def test_references_past_what_a_reload_keeps_stay_for_the_session_and_say_so(browser, new_app, monkeypatch):
    from lib.store import places as P
    from tests.support.media_support import image_bytes

    monkeypatch.setattr(P, "PLACE_REFS_MAX_FILES", 1)
    at = new_app()
    at.file_uploader(key="ref_images").set_value(
        [("a.png", image_bytes(colour=(1, 1, 1)), "image/png"), ("b.png", image_bytes(colour=(2, 2, 2)), "image/png")]
    ).run()
    assert any("Kept for this browser session only, not for a reload: b.png" in w.value for w in at.warning)
    images, _ = new_app().session_state["media_rerun_refs"]
    assert [r.filename for r in images] == ["a.png"]


def test_compare_builder_survives_a_reload_and_library_rows_win_over_it(browser, new_app):
    at = new_app("pages/compare.py")
    at.text_area(key="compare_prompts").input("a lighthouse at dusk\na lighthouse at dawn").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-1.5 @ Sandbox"]).run()
    at.selectbox(key="compare_quality").set_value("high").run()
    again = new_app("pages/compare.py")  # a reload of /compare
    assert again.text_area(key="compare_prompts").value == "a lighthouse at dusk\na lighthouse at dawn"
    assert again.multiselect(key="compare_targets").value == ["gpt-image-1.5 @ Sandbox"]
    assert again.selectbox(key="compare_quality").value == "high"

    from lib import ui

    ui.get_store().save_prompt("Fox", "a red fox in the snow")
    again.switch_page("pages/library.py").run()
    again.button(key="library_pair_to_compare").click().run()
    again.switch_page("pages/compare.py").run()  # AppTest stays on the page st.switch_page went to
    assert not again.exception
    assert again.text_area(key="compare_prompts").value == "a lighthouse at dusk\na lighthouse at dawn\na red fox in the snow"
    assert new_app("pages/compare.py").text_area(key="compare_prompts").value.endswith("a red fox in the snow")


def test_a_library_version_sent_to_generate_wins_over_the_kept_prompt(browser, new_app):
    from lib import ui

    at = new_app()
    at.text_area(key="prompt").input("a draft typed before").run()
    ui.get_store().save_prompt("Fox", "a red fox in the snow")
    at.switch_page("pages/library.py").run()
    at.button(key="library_to_generate").click().run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception
    assert at.text_area(key="prompt").value == "a red fox in the snow"
    assert new_app().text_area(key="prompt").value == "a red fox in the snow"  # and a reload finds it
