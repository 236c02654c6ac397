"""Images rendered for the checks' tests."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    (img.convert("RGB") if fmt == "JPEG" else img).save(out, fmt)
    return out.getvalue()


def sign(text: str, size: tuple[int, int] = (640, 200), *, font_px: int = 56, ground=(250, 250, 245), ink=(15, 15, 15)) -> Image.Image:
    """``text`` in large letters, centred, on a plain ground: what OCR must read."""
    img = Image.new("RGB", size, ground)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, font_px)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((size[0] - (right - left)) / 2 - left, (size[1] - (bottom - top)) / 2 - top), text, font=font, fill=ink)
    return img


def scene(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A picture with a layout of its own per seed: shapes on a gradient."""
    import random

    rng = random.Random(seed)
    img = Image.linear_gradient("L").rotate(rng.randrange(360)).resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(5):
        x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(20, 70)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
    return img
