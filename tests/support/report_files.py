"""Report files for import tests, made in the test: a well-formed imagelab-report/1, inline
thumbnails, and the hostile kinds (an SVG, a real decompression bomb)."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image

from lib import diagnostics as D


def body(evidence: list[dict] | None = None, *, step: int = 3, **extra) -> dict:
    """A well-formed imagelab-report/1, with ``evidence`` under ``step``."""
    steps = [
        {"step": n, "name": D.STEP_NAMES[n], "status": "pass", "verdict": f"step {n} looks fine", "evidence": [], "fix": "Nothing to do."}
        for n in range(1, 10)
    ]
    steps[step - 1]["evidence"] = evidence or []
    return {
        "format": D.REPORT_FORMAT,
        "provider": "sandbox",
        "model": "gpt-image-2",
        "created_at": "2026-12-02T00:00:00Z",
        "settings": {"provider_label": "Sandbox", "endpoint": "http://127.0.0.1:8765/v1/images/generations"},
        "steps": steps,
        **extra,
    }


def thumb(data: bytes, mime: str = "image/png") -> dict:
    return {"kind": "probe", "text": "the spend probe's image", "image": f"data:{mime};base64," + base64.b64encode(data).decode()}


def picture(fmt: str = "JPEG", size: tuple[int, int] = (160, 160)) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(out, fmt)
    return out.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bomb_png(side: int = 20_000) -> bytes:
    """A real decompression bomb: a 1-bit PNG of side x side pixels, all zeros, a few dozen KB."""
    squeeze = zlib.compressobj(9)
    row = b"\0" * (1 + -(-side // 8))
    idat = b"".join(squeeze.compress(row * 1000) for _ in range(side // 1000)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


SVG = b"<svg xmlns='http://www.w3.org/2000/svg' width='160' height='160' onload='alert(1)'><rect width='160' height='160'/></svg>"
