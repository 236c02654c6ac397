"""Streaming and edits in the store: reference images and masks kept content-addressed, read back for a re-run."""

from __future__ import annotations

import pytest

from lib.generation import ReferenceImage
from lib.store import Store
from tests.support.media_support import image_bytes, mask_bytes

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

PNG = image_bytes()


def test_inputs_are_kept_content_addressed_and_read_back(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    run = store.start_run(kind="generate", label="x", settings={})
    a1 = store.attempt_started({"run_id": run, "model": "gpt-image-1.5"})
    a2 = store.attempt_started({"run_id": run, "model": "gpt-image-1.5"})
    first, second = ReferenceImage("a.png", PNG), ReferenceImage("b.jpg", image_bytes(fmt="JPEG"))
    mask = ReferenceImage("m.png", mask_bytes(), "mask")
    store.inputs_saved(a1, [first, second, mask])
    store.inputs_saved(a2, [first])
    rows = store.attempt_inputs(a1)
    assert [(r["role"], r["position"], r["filename"]) for r in rows] == [("image", 0, "a.png"), ("image", 1, "b.jpg"), ("mask", 0, "m.png")]
    assert rows[0]["path"] == store.attempt_inputs(a2)[0]["path"]  # the same bytes are kept once
    assert len(list((tmp_path / "images").rglob("*.*"))) == 3
    images, back_mask = store.reference_images(a1)
    assert [i.data for i in images] == [first.data, second.data] and back_mask.data == mask.data
    assert store.attempt(a1)["inputs"][0]["sha256"] == rows[0]["sha256"]
