"""Reliability: a killed process, a distinctive key, and bodies that are not images."""

from __future__ import annotations

import base64
import io
import logging
import os
import signal
import struct
import subprocess
import sys
import textwrap
import uuid
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lib import constants as C
from lib.client import ImageClient
from lib.config import configure_logging
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support import ROOT
from tests.support.wait_until import wait_until


def test_sigkill_mid_request_leaves_a_row_that_becomes_interrupted(sandbox, tmp_path):
    sandbox.configure(hang_s=30.0)
    data = tmp_path / "data"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from lib.client import ImageClient
        from lib.generation import ClientSettings, GenerationRequest
        from lib.store import Store
        store = Store(data_dir={str(data)!r})
        settings = ClientSettings(provider="sandbox", base_url={sandbox.base_url!r}, read_timeout_s=60, max_retries=0)
        with ImageClient(settings=settings, recorder=store, keeper=store.keeper) as client:
            client.generate(GenerationRequest(prompt="hang here #timeout"))
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        observer = None

        def pending_rows() -> list:
            nonlocal observer
            if not (data / C.DB_FILENAME).exists():
                return []
            observer = observer or Store(data_dir=data)
            return [r for r in observer.recent_attempts() if r["status"] == "pending"]

        pending = wait_until(pending_rows, timeout=20, interval=0.05, message="the child never wrote its pending row")
        assert observer.recovered == 0  # the child is alive: its row is not stolen
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    after = Store(data_dir=data)
    assert after.recovered == 1
    row = after.attempt(pending[0]["id"])
    assert row["status"] == "interrupted" and row["error_type"] == "interrupted"


def _all_bytes_under(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_key_is_written_nowhere(sandbox, tmp_path):
    key = "sk-imagelab-" + uuid.uuid4().hex + "-DISTINCT"
    data = tmp_path / "data"
    store = Store(data_dir=data)
    configure_logging(data, level=logging.DEBUG)
    settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url, api_key=key, key_source="typed", max_retries=1)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000)
    with ImageClient(settings=settings, recorder=store, keeper=store.keeper, limiter=limiter) as client:
        assert client.generate(GenerationRequest(prompt="a key test")).ok
        sandbox.configure(dialect="url")
        assert client.generate(GenerationRequest(prompt="a key test by url")).ok
        sandbox.configure(dialect="task_b")
        assert client.generate(GenerationRequest(prompt="a key test by task")).ok
        sandbox.configure(dialect="b64", scenario="auth")
        assert client.generate(GenerationRequest(prompt="rejected")).error.error_type == "auth"

    # A gateway that echoes the key back in its error message and its raw body.
    def echo(request):
        sent = request.headers["authorization"].removeprefix("Bearer ")
        return httpx.Response(401, json={"error": {"message": f"key {sent} is not valid", "code": "invalid_api_key"}})

    with ImageClient(
        settings=settings, recorder=store, keeper=store.keeper, limiter=limiter, transport=httpx.MockTransport(echo)
    ) as client:
        out = client.generate(GenerationRequest(prompt="echo"))
    assert out.error.error_type == "auth"
    assert key not in out.error.message and key not in (out.raw_response or "")
    assert "••••" in out.error.message  # masked where it was echoed (any 8-character run of it, in any case)

    files = _all_bytes_under(data)
    assert any(p.name.endswith("-wal") for p in files), "check the WAL while it exists"
    assert any(p.suffix == ".png" for p in files) and any(p.suffix == ".log" for p in files)
    for path, content in files.items():
        assert key.encode() not in content, f"the key leaked into {path}"
        assert key[:-4].encode() not in content, f"most of the key leaked into {path}"
    hints = {r["key_hint"] for r in store.recent_attempts()}
    assert hints == {key[-4:]}


def _png(w=8, h=8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 10)).save(out, "PNG")
    return out.getvalue()


def _bomb_png(side=60000) -> bytes:
    """A tiny PNG that claims side x side pixels (decoding it would need gigabytes)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


BAD = {
    "not-an-image": ("b64", b"<html><body>Sorry, something went wrong</body></html>", "invalid_image"),
    "truncated-png": ("b64", _png(64, 64)[:-30], "invalid_image"),
    "zero-bytes-b64": ("b64", b"", "invalid_image"),
    "zero-bytes-url": ("url", b"", "invalid_image"),
    "bomb": ("b64", _bomb_png(), "invalid_image"),
    "truncated-jpeg": ("url", None, "invalid_image"),
    "oversized-download": ("url", "oversized", "image_fetch_failed"),
}


def _jpeg_truncated() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((128, 128), 60).convert("RGB").save(out, "JPEG")
    return out.getvalue()[: len(out.getvalue()) // 2]


@pytest.mark.parametrize("name", list(BAD))
def test_bad_image_bodies_write_nothing(tmp_path, name, monkeypatch):
    kind, payload, expected = BAD[name]
    if name == "truncated-jpeg":
        payload = _jpeg_truncated()
    if payload == "oversized":
        monkeypatch.setattr(C, "MAX_IMAGE_BYTES", 4096)
        payload = os.urandom(10_000)
    store = Store(data_dir=tmp_path / "data")

    def handler(request):
        if request.method == "POST":
            if kind == "b64":
                return httpx.Response(200, json={"data": [{"b64_json": base64.b64encode(payload).decode()}]})
            return httpx.Response(200, json={"data": [{"url": "https://cdn.example.com/img"}]})
        return httpx.Response(200, content=payload)

    settings = ClientSettings(provider="custom", base_url="https://gw.example.com/v1", api_key="k" * 24, max_retries=0, use_fallback=False)
    with ImageClient(
        settings=settings,
        recorder=store,
        keeper=store.keeper,
        transport=httpx.MockTransport(handler),
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000),
    ) as client:
        out = client.generate(GenerationRequest(prompt="bad bytes"))
    assert not out.ok and out.error.error_type == expected, out.error
    images = store.root / "images"
    assert not images.exists() or not any(p.is_file() for p in images.rglob("*"))
    (row,) = store.recent_attempts()
    assert row["status"] == "failed" and row["error_type"] == expected and row["image_count"] == 0
    assert store.db.execute("select count(*) from images").fetchone()[0] == 0
