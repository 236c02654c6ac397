"""Streaming and edits on the Generate page (AppTest): partials before the final image, an edit with two reference images."""

from __future__ import annotations

import pytest

from lib import ui
from tests.support.apptest import error_card_text, generate
from tests.support.media_support import image_bytes
from tests.support.wait_until import wait_until

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


def test_partials_appear_before_the_final_image(app):
    app.sidebar.selectbox(key="sandbox_latency").set_value("5 s").run()
    app.toggle(key="stream").set_value(True).run()
    app.slider(key="partial_images").set_value(2).run()
    app.text_area(key="prompt").set_value("a glass whale in a library").run()
    app.button(key="generate").click().run()
    seen_partial_while_running = False

    def finished() -> bool:
        nonlocal seen_partial_while_running
        if app.session_state["generate_job"] is None:
            return True
        app.run()
        if app.session_state["generate_job"] is not None and len(app.get("image")) >= 1:
            captions = str([i.proto for i in app.get("image")])
            assert "rough preview" in captions
            seen_partial_while_running = True
        return app.session_state["generate_job"] is None

    wait_until(finished, timeout=40, interval=0.2, message="the generation did not finish")
    assert not app.exception, [e.value for e in app.exception]
    assert seen_partial_while_running, "no partial image was on screen while the job ran"
    # the final image replaced the partials
    assert len(app.get("image")) == 1 and "rough preview" not in str(app.get("image")[0].proto)
    assert any("Streamed: 2 partial image(s), the first after" in c.value for c in app.caption)
    row = ui.get_store().recent_attempts()[0]
    assert row["status"] == "succeeded" and row["first_partial_ms"] is not None
    assert row["params"]["stream"] is True


def test_an_edit_with_two_reference_images_shows_the_result(app):
    first, second = image_bytes((320, 200), colour=(30, 160, 90)), image_bytes((64, 64), fmt="JPEG")
    app.file_uploader(key="ref_images").set_value([("garden.png", first, "image/png"), ("style.jpg", second, "image/jpeg")]).run()
    generate(app, "the garden in autumn colours")
    assert len(app.get("image")) == 1 and not app.error
    assert any("Edited from 2 reference image(s): garden.png, style.jpg" in c.value for c in app.caption)
    store = ui.get_store()
    row = store.attempt(store.recent_attempts()[0]["id"])
    assert row["status"] == "succeeded" and row["url"].endswith("/v1/images/edits")
    assert [(i["filename"], i["width"]) for i in row["inputs"]] == [("garden.png", 320), ("style.jpg", 64)]
    assert row["images"][0]["width"] == 320 and row["images"][0]["height"] == 200  # derived from the first reference
    # the inspector shows multipart fields by name and size, and curl with -F
    shown = str([d.proto for d in app.get("arrow_data_frame")]) + str([c.proto for c in app.code])
    assert "garden.png" in shown and "-F" in shown


def test_a_file_that_is_not_what_its_name_says_is_refused_by_name(app):
    gif = image_bytes(fmt="GIF", mode="P", colour=1)
    app.file_uploader(key="ref_images").set_value([("holiday.png", gif, "image/png")]).run()
    generate(app, "make it sunny")
    text = error_card_text(app)
    assert "holiday.png" in text or "holiday.png" in str([c.proto for c in app.code])
    row = ui.get_store().recent_attempts()[0]
    assert row["error_type"] == "invalid_input" and "holiday.png" in row["error_message"]


def test_streaming_is_offered_only_where_the_model_streams(app):
    assert not app.toggle(key="stream").disabled
    app.sidebar.selectbox(key="model_choice").set_value("seedream-4-5").run()
    assert app.toggle(key="stream").disabled
    assert any("does not stream" in c.value for c in app.caption)


def test_keep_partials_shows_them_under_the_result(app):
    app.toggle(key="stream").set_value(True).run()
    app.slider(key="partial_images").set_value(3).run()
    app.checkbox(key="keep_partials").set_value(True).run()
    generate(app, "a copper kettle")
    assert any("Partial images kept (3)" in e.label for e in app.expander)
    assert len(app.get("image")) == 4  # the final image and the three kept partials
