"""A place's reference images: kept as content-addressed files with rows of the place, bounded,
read back in order, named when gone, and dropped with the place (a file still used elsewhere stays)."""

from __future__ import annotations

import pytest

from lib import constants as C
from lib.generation import ReferenceImage
from lib.store import Store
from lib.store import places as P
from tests.support.history_seed import add
from tests.support.media_support import image_bytes, mask_bytes

TOKEN = "browser-" + "a" * 30


@pytest.fixture
def store(tmp_path):
    s = Store(data_dir=tmp_path / "d")
    s.keep_place(TOKEN, "generate", {"prompt": "a garden"})
    yield s
    s.close()


def refs(*colours):
    return [ReferenceImage(f"ref-{i}.png", image_bytes((40, 30), colour=c)) for i, c in enumerate(colours)]


def test_references_and_a_mask_come_back_in_order_from_files_not_from_the_database(store):
    images = refs((200, 10, 10), (10, 200, 10))
    mask = ReferenceImage("mask.png", mask_bytes((40, 30)), "mask")
    assert store.keep_place_refs(TOKEN, "generate", images, mask, note="Image 1 of the result being edited") == []
    back = store.place_refs(TOKEN, "generate")
    assert [(r.filename, r.data) for r in back.images] == [(r.filename, r.data) for r in images]
    assert back.mask.data == mask.data and back.mask.role == "mask" and back.images[0].content_type == "image/png"
    assert back.note == "Image 1 of the result being edited" and back.missing == []
    blob = (store.root / C.DB_FILENAME).read_bytes()
    assert images[0].data not in blob and images[1].data[-64:] not in blob  # only paths in the rows
    assert store.place_refs("someone-else-" + "b" * 30, "generate").images == []


def test_keeping_none_forgets_them_and_deletes_the_files_nothing_else_uses(store):
    store.keep_place_refs(TOKEN, "generate", refs((1, 2, 3)))
    path = store.keeper.resolve(store.db.execute("SELECT path FROM place_refs").fetchone()[0])
    assert path.is_file()
    store.keep_place_refs(TOKEN, "generate", [])
    assert store.place_refs(TOKEN, "generate").images == [] and not path.exists()


def test_past_the_bounds_or_not_an_image_is_not_kept_and_named(store, monkeypatch):
    monkeypatch.setattr(P, "PLACE_REFS_MAX_FILES", 2)
    many = refs((1, 1, 1), (2, 2, 2), (3, 3, 3))
    assert store.keep_place_refs(TOKEN, "generate", many) == ["ref-2.png"]
    assert [r.filename for r in store.place_refs(TOKEN, "generate").images] == ["ref-0.png", "ref-1.png"]
    monkeypatch.setattr(P, "PLACE_REFS_MAX_BYTES", len(many[0].data) + 10)
    assert store.keep_place_refs(TOKEN, "generate", many[:2]) == ["ref-1.png"]
    bogus = ReferenceImage("notes.png", b"not an image at all")
    assert store.keep_place_refs(TOKEN, "generate", [bogus, many[0]]) == ["notes.png"]
    assert [r.filename for r in store.place_refs(TOKEN, "generate").images] == ["ref-0.png"]


def test_a_kept_file_gone_from_disk_is_named_and_left_out(store):
    store.keep_place_refs(TOKEN, "generate", refs((9, 9, 9), (8, 8, 8)))
    first = store.db.execute("SELECT path FROM place_refs WHERE position = 0").fetchone()[0]
    store.keeper.resolve(first).unlink()
    back = store.place_refs(TOKEN, "generate")
    assert [r.filename for r in back.images] == ["ref-1.png"] and back.missing == ["ref-0.png"]


def test_they_expire_with_the_place_and_a_file_a_result_uses_stays(store):
    shared, own = refs((5, 5, 5), (6, 6, 6))
    saved = store.keeper.save(shared.data, source="b64")  # the same file is also a result's image
    attempt = add(store, at=1_000.0)
    store.db["images"].insert({"attempt_id": attempt, "sha256": saved.info.sha256, "path": saved.rel_path})
    store.keep_place(TOKEN, "generate", {"prompt": "a garden"}, now=1_000.0)
    store.keep_place_refs(TOKEN, "generate", [shared, own])
    paths = [store.keeper.resolve(r[0]) for r in store.db.execute("SELECT path FROM place_refs ORDER BY position")]
    assert store.place_refs(TOKEN, "generate", now=1_000.0 + C.PLACE_KEEP_DAYS * 86400 + 1).images == []  # past its time
    store.keep_place("another-" + "c" * 30, "generate", {}, now=1_000.0 + C.PLACE_KEEP_DAYS * 86400 + 1)  # drops old places
    assert store.db.execute("SELECT count(*) FROM place_refs").fetchone()[0] == 0
    assert paths[0].is_file() and not paths[1].exists()


def test_forgetting_the_place_forgets_its_references(store):
    store.keep_place_refs(TOKEN, "generate", refs((7, 7, 7)))
    store.forget_place(TOKEN)
    assert store.place_refs(TOKEN, "generate").images == []
    assert store.db.execute("SELECT count(*) FROM place_refs").fetchone()[0] == 0
