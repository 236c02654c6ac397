"""Images shown through the session itself: no /media URL exists for them."""

from __future__ import annotations

import pytest

from lib.ui.media import SESSION_IMAGE_MAX_BYTES, image_data_url
from tests.support.apptest import generate
from tests.support.media_support import image_bytes

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


def _urls(app) -> list[str]:
    return [img.url for element in app.get("image") for img in element.proto.imgs]


def test_kept_partials_travel_inside_the_session(app):
    app.toggle(key="stream").set_value(True).run()
    app.slider(key="partial_images").set_value(3).run()
    app.checkbox(key="keep_partials").set_value(True).run()
    generate(app, "a copper kettle")
    urls = _urls(app)
    assert len(urls) == 4
    inline = [u for u in urls if u.startswith("data:image/png;base64,")]
    assert len(inline) == 4  # the partials and the final image; no /media/ URL was made for them
    assert not any("/media/" in u for u in inline)


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_image_data_url_knows_raster_images(fmt, mime):
    data = image_bytes((8, 8), fmt=fmt, **({"mode": "P", "colour": 1} if fmt == "GIF" else {}))
    assert image_data_url(data).startswith(f"data:{mime};base64,")


def test_image_data_url_refuses_what_it_cannot_inline(tmp_path):
    assert image_data_url(b"<svg onload=alert(1)>") is None
    assert image_data_url(b"RIFF0000WAVE") is None
    assert image_data_url(tmp_path / "missing.png") is None
    assert image_data_url(b"\x89PNG" + b"\0" * SESSION_IMAGE_MAX_BYTES) is None
    path = tmp_path / "t.png"
    path.write_bytes(image_bytes((4, 4)))
    assert image_data_url(path).startswith("data:image/png;base64,")
