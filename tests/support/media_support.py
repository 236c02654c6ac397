"""Small image files for the media tests."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(size=(64, 48), fmt="PNG", mode="RGB", colour=(200, 40, 40)) -> bytes:
    """A small picture: the colour with a gradient over it (a flat colour compresses to long
    repeated byte runs, which other tests' registered fake keys can happen to match)."""
    out = io.BytesIO()
    fill = colour + (0,) if mode == "RGBA" and len(colour) == 3 else colour
    im = Image.new(mode, size, fill)
    if mode in ("RGB", "RGBA"):
        gradient = Image.linear_gradient("L").resize(size).rotate(30)
        im = Image.composite(im, Image.new(mode, size, (255, 255, 255) + ((0,) if mode == "RGBA" else ())), gradient)
    im.save(out, fmt)
    return out.getvalue()


def mask_bytes(size=(64, 48)) -> bytes:
    """A mask: opaque, with a fully transparent square in the middle (the part to edit)."""
    im = Image.new("RGBA", size, (0, 0, 0, 255))
    w, h = size
    for x in range(w // 4, 3 * w // 4):
        for y in range(h // 4, 3 * h // 4):
            im.putpixel((x, y), (0, 0, 0, 0))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def sse(event_type: str, **payload) -> bytes:
    import json

    return f"event: {event_type}\ndata: {json.dumps({'type': event_type, **payload})}\n\n".encode()
