"""Pages show images inside the session and make downloads on click: no element the app draws
holds a media-endpoint URL (AppTest's own media manager serves under /mock/media)."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lib.ui.media import SESSION_IMAGE_MAX_BYTES
from tests.support.apptest import all_rendered_text, generate

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


def _image_urls(at: AppTest) -> list[str]:
    return [img.url for element in at.get("image") for img in element.proto.imgs]


def _assert_session_bound(at: AppTest) -> None:
    assert "/media/" not in all_rendered_text(at)
    assert all(u.startswith("data:image/") for u in _image_urls(at)), _image_urls(at)
    for button in at.get("download_button"):
        assert button.proto.url == "" and button.proto.deferred_file_id  # made on click, not before


def test_a_result_and_its_download_go_through_the_session(app):
    generate(app, "a lighthouse on a basalt cliff at dusk")
    assert len(_image_urls(app)) == 1 and len(app.get("download_button")) == 1
    _assert_session_bound(app)
    generate(app, "a tide pool with one red starfish")  # the first one is now under Recent generations, with its thumbnail
    assert len(_image_urls(app)) == 2
    _assert_session_bound(app)


def test_an_attempt_in_history_goes_through_the_session(app, new_app):
    generate(app, "a paper boat on a puddle")
    at = new_app("pages/history.py", {"attempt": "1"})
    assert len(_image_urls(at)) == 1 and len(at.get("download_button")) == 1
    _assert_session_bound(at)


def _noise_png(size: int) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(out, "PNG")
    return out.getvalue()


def _show(path: str) -> None:
    import streamlit as st

    from lib.ui.media import session_image

    st.session_state["shown"] = session_image(st, path, width="stretch")


def test_an_image_too_large_to_travel_whole_is_shown_as_a_preview(app_env, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(_noise_png(1100))
    assert big.stat().st_size > SESSION_IMAGE_MAX_BYTES
    at = AppTest.from_function(_show, args=(str(big),)).run()
    assert at.session_state["shown"] == "preview"
    [url] = _image_urls(at)
    assert url.startswith("data:image/webp;base64,") and len(url) < SESSION_IMAGE_MAX_BYTES * 4 // 3 + 100
    _assert_session_bound(at)


@pytest.mark.parametrize("content", [b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", b"<html><script>alert(1)</script>"])
def test_an_image_that_cannot_be_read_is_said_so_and_never_served(app_env, tmp_path, content):
    path = tmp_path / "not-an-image.png"
    path.write_bytes(content)
    at = AppTest.from_function(_show, args=(str(path),)).run()
    assert at.session_state["shown"] == "none" and not at.get("image") and not at.exception
    assert "cannot be shown" in at.caption[0].value
