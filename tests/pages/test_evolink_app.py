"""EvoLink rehearsed on the sandbox from the Generate page (AppTest): a 16:9 2K generation, and an edit with two files."""

from __future__ import annotations

import pytest

from lib import ui
from lib.providers import REHEARSAL_KEY
from tests.support.apptest import generate
from tests.support.media_support import image_bytes

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


@pytest.fixture
def rehearsal(app):
    app.sidebar.selectbox(key="provider").set_value("evolink").run()
    assert not _has(app, "evolink_leave_sandbox")
    app.button(key="evolink_use_sandbox").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.sidebar.text_input(key="base_url__evolink").value == ui.get_sandbox().evolink_base_url
    assert any("Rehearsing" in s.value for s in app.success)
    assert not any("is not EvoLink's" in w.value for w in app.sidebar.warning)  # the sandbox is named as a rehearsal
    assert any("speaking as EvoLink: a rehearsal, nothing reaches api.evolink.ai" in c.value for c in app.sidebar.caption)
    return app


def _has(at, key) -> bool:
    return any(getattr(b, "key", None) == key for b in at.button)


def shown_text(at) -> str:
    return " ".join(str(e.proto) for e in (*at.code, *at.get("json"), *at.caption, *at.markdown, *at.get("arrow_data_frame")))


def test_the_evolink_panel_says_how_references_travel_and_why_no_callback(app):
    app.sidebar.selectbox(key="provider").set_value("evolink").run()
    said = " ".join(c.value for c in app.caption)
    assert "image_urls" in said and "callback_url is not used" in said
    app.sidebar.selectbox(key="provider").set_value("openai").run()
    assert not _has(app, "evolink_use_sandbox")


def test_a_16_9_2k_generation_on_the_rehearsal(rehearsal):
    at = rehearsal
    at.selectbox(key="size_choice").set_value("16:9").run()
    at.selectbox(key="resolution").set_value("2K").run()
    generate(at, "a lighthouse in fog, wide")
    assert len(at.get("image")) == 1 and not at.error, [e.value for e in at.error]
    store = ui.get_store()
    row = store.attempt(store.recent_attempts()[0]["id"])
    assert row["provider"] == "evolink" and row["status"] == "succeeded"
    assert row["url"] == ui.get_sandbox().evolink_base_url + "/images/generations"
    assert row["task_id"].startswith("task-unified-")
    assert (row["images"][0]["width"], row["images"][0]["height"]) == (2736, 1536)
    assert row["params"]["size"] == "16:9" and row["params"]["resolution"] == "2K"


def test_an_edit_with_two_reference_files_on_the_rehearsal(rehearsal):
    at = rehearsal
    first, second = image_bytes((320, 200), colour=(30, 160, 90)), image_bytes((64, 64), fmt="JPEG")
    at.file_uploader(key="ref_images").set_value([("garden.png", first, "image/png"), ("style.jpg", second, "image/jpeg")]).run()
    generate(at, "the garden in autumn colours")
    assert len(at.get("image")) == 1 and not at.error, [e.value for e in at.error]
    store = ui.get_store()
    row = store.attempt(store.recent_attempts()[0]["id"])
    assert row["status"] == "succeeded" and row["url"].endswith("/evolink/v1/images/generations")
    assert [i["filename"] for i in row["inputs"]] == ["garden.png", "style.jpg"]
    assert (row["images"][0]["width"], row["images"][0]["height"]) == (320, 200)
    files = ui.get_sandbox().sandbox.files_root + "/files/"
    shown = shown_text(at)
    assert "image_urls" in shown and files in shown  # the request as sent names the uploaded links
    assert "$EVOLINK_API_KEY" in shown and REHEARSAL_KEY not in shown  # the key is masked


def test_back_to_evolink_restores_its_base_url_and_drops_the_placeholder_key(rehearsal):
    at = rehearsal
    at.button(key="evolink_leave_sandbox").click().run()
    assert at.sidebar.text_input(key="base_url__evolink").value == "https://api.evolink.ai/v1"
    assert at.sidebar.text_input(key="typed_key__evolink").value == ""


def test_a_key_typed_before_the_rehearsal_is_left_as_typed(app):
    app.sidebar.selectbox(key="provider").set_value("evolink").run()
    app.sidebar.text_input(key="typed_key__evolink").set_value("evo-typed-by-me-9876").run()
    app.button(key="evolink_use_sandbox").click().run()
    assert app.sidebar.text_input(key="typed_key__evolink").value == "evo-typed-by-me-9876"
    app.button(key="evolink_leave_sandbox").click().run()
    assert app.sidebar.text_input(key="typed_key__evolink").value == "evo-typed-by-me-9876"
