"""A failing write on this machine is ours, not the provider's: never retried against it, a clear app_error
naming the data directory, no row left pending, and an outcome an error card can render."""

from __future__ import annotations

import errno
import sqlite3

import httpx
import pytest

from lib.classify import classify_exception
from lib.errors import checklist_step, describe
from lib.generation import ClientSettings, GenerationRequest
from lib.images import ImageKeeper
from lib.jobs import run_generation
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.mock_client import png_b64

REQ = GenerationRequest(prompt="a lantern", model="gpt-image-2", size="1024x1024")


class Provider:
    """Answers every request with one image and counts what was sent (each one would be paid for)."""

    def __init__(self, on_request=None):
        self.calls = 0
        self.on_request = on_request

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.on_request is not None:
            self.on_request()
        return httpx.Response(200, json={"data": [{"b64_json": png_b64()}], "note": "a lantern, lit. " * 1000})


def generate(store: Store, provider: Provider, keeper=None):
    settings = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_retries=3, use_fallback=True)
    return run_generation(
        settings,
        REQ,
        recorder=store,
        keeper=keeper if keeper is not None else store.keeper,
        client_kwargs={
            "transport": httpx.MockTransport(provider),
            "sleep": lambda s: None,
            "limiter": ProviderLimiter(rate_per_s=1e6, burst=10**6, sleep=lambda s: None),
        },
    )


def assert_local_card(out, root, what: str):
    assert out.status == "failed" and out.error is not None
    assert out.error.error_type == "app_error" and out.error.code == "local_write"
    assert str(root) in out.error.message and what in out.error.message
    card = describe(out.error)
    assert card["title"] == "Image Prompt Lab could not write to its data directory"
    assert "bug" not in card["fix"] and "Free space" in card["fix"]
    assert card["step"] == 7 == checklist_step("app_error", code="local_write")


class FullDisk(ImageKeeper):
    def save(self, data, *, source, source_url=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.root / "images"))


def test_a_full_disk_while_saving_the_image_is_not_retried_against_the_provider(tmp_path):
    store = Store(tmp_path / "data" / "imagelab.db")
    provider = Provider()
    out = generate(store, provider, keeper=FullDisk(store.root))
    assert provider.calls == 1  # one paid request, not four
    assert_local_card(out, store.root, "the disk is full")
    [row] = store.run(out.run_id)["attempts"]
    assert (row["status"], row["error_type"], row["error_code"]) == ("failed", "app_error", "local_write")


def test_an_images_folder_that_cannot_be_created_is_a_local_failure(tmp_path):
    store = Store(tmp_path / "data" / "imagelab.db")
    (store.root / "images").write_text("not a folder")  # a real file where the folder should be
    provider = Provider()
    out = generate(store, provider)
    assert provider.calls == 1
    assert out.error.error_type == "app_error" and out.error.code == "local_write"
    assert str(store.root) in out.error.message
    assert [a["status"] for a in store.run(out.run_id)["attempts"]] == ["failed"]


def fill(store: Store) -> None:
    """Fill the database to its last page: SQLite's own "database or disk is full" from then on."""
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    store.db.execute("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
    size = 4096
    while size >= 16:
        try:
            store.db.execute("INSERT INTO filler VALUES (randomblob(?))", [size])
        except sqlite3.OperationalError:
            size //= 2


def test_a_database_that_fills_up_mid_attempt_fails_the_run_and_leaves_no_row_pending(tmp_path):
    store = Store(tmp_path / "data" / "imagelab.db")

    def fill_up() -> None:  # the disk fills while the provider answers
        fill(store)

    provider = Provider(on_request=fill_up)
    out = generate(store, provider)
    assert provider.calls == 1
    assert_local_card(out, store.root, "the disk is full")
    assert out.status == "failed"  # in memory: failed, never pending
    store.db.execute("PRAGMA max_page_count = 1073741823")  # space again
    assert store.flush() == 0  # the deferred finish is written
    [row] = store.run(out.run_id)["attempts"]
    assert row["status"] != "pending"


def test_a_database_that_cannot_record_the_attempt_sends_nothing(tmp_path):
    store = Store(tmp_path / "data" / "imagelab.db")
    run_id = store.start_run(kind="generate", label="x", settings={})
    fill(store)
    provider = Provider()
    big = GenerationRequest(prompt="p" * 30_000, model="gpt-image-2", size="1024x1024")
    settings = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", max_retries=3)
    out = run_generation(
        settings,
        big,
        recorder=store,
        keeper=store.keeper,
        run_id=run_id,
        client_kwargs={"transport": httpx.MockTransport(provider), "sleep": lambda s: None},
    )
    assert provider.calls == 0
    assert out.error.code == "local_write" and "before sending" in out.error.message
    assert str(store.root) in out.error.message


@pytest.mark.parametrize(
    "exc, words",
    [
        (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "read-only"),
        (sqlite3.OperationalError("disk I/O error"), "input/output"),
        (OSError(errno.EROFS, "Read-only file system", "/data/images/ab"), "read-only file system"),
        (PermissionError(errno.EACCES, "Permission denied", "/data"), "permission denied"),
    ],
)
def test_local_failures_are_app_errors_never_network(exc, words):
    err = classify_exception(exc)
    assert err.error_type == "app_error" and err.code == "local_write" and words in err.message
    assert not err.retryable


@pytest.mark.parametrize("exc", [ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ConnectionResetError(errno.ECONNRESET, "reset")])
def test_a_socket_error_stays_a_network_error(exc):
    assert classify_exception(exc).error_type == "network"
