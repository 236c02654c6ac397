"""The ``similar`` check: the image looks like a reference image.

Both images are flattened on white, turned to greyscale and scaled to 64x64 (the shape is not
compared: a 1536x1024 result can look like a square reference). The score is their structural
similarity (SSIM, on 8x8 windows moved 4 pixels at a time, averaged, negative values counted as 0):
1.0 for the same picture, near 0 for unrelated ones; it tolerates re-encoding, small shifts in
brightness and resizing, and drops for a different layout. The check passes at ``threshold``
(the user's; ``DEFAULT_THRESHOLD`` when not given). A 64-bit difference hash of each image is
kept in the detail, with the number of bits that differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.checks._base import CheckResult

if TYPE_CHECKING:  # Pillow is loaded by the functions that open an image
    from PIL import Image

NAME = "similar"
DEFAULT_THRESHOLD = 0.75
_SIDE = 64
_WINDOW = 8
_STEP = 4
# SSIM's constants for 8-bit values: (0.01 * 255) ** 2 and (0.03 * 255) ** 2
_C1 = 6.5025
_C2 = 58.5225


def _grey(image: Image.Image, side: int) -> Image.Image:
    from PIL import Image

    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("L").resize((side, side), Image.Resampling.BOX)


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Mean structural similarity of two images at 64x64 greyscale, clamped to 0..1."""
    pa, pb = list(_grey(a, _SIDE).tobytes()), list(_grey(b, _SIDE).tobytes())
    n = _WINDOW * _WINDOW
    total, windows = 0.0, 0
    for top in range(0, _SIDE - _WINDOW + 1, _STEP):
        for left in range(0, _SIDE - _WINDOW + 1, _STEP):
            xs = [pa[(top + r) * _SIDE + left + c] for r in range(_WINDOW) for c in range(_WINDOW)]
            ys = [pb[(top + r) * _SIDE + left + c] for r in range(_WINDOW) for c in range(_WINDOW)]
            mx, my = sum(xs) / n, sum(ys) / n
            vx = sum((x - mx) ** 2 for x in xs) / (n - 1)
            vy = sum((y - my) ** 2 for y in ys) / (n - 1)
            cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (n - 1)
            total += ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
            windows += 1
    return max(0.0, min(1.0, total / windows))


def dhash(image: Image.Image) -> int:
    """64-bit difference hash: is each pixel of a 9x8 greyscale thumbnail brighter than its right neighbour."""
    from PIL import Image

    small = image.convert("L").resize((9, 8), Image.Resampling.BOX)
    px = list(small.tobytes())
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return bits


def check_similar(
    image: Image.Image, reference: Image.Image, *, threshold: float = DEFAULT_THRESHOLD, reference_name: str = ""
) -> CheckResult:
    score = ssim(image, reference)
    h1, h2 = dhash(image), dhash(reference)
    detail = {
        "threshold": threshold,
        "reference": reference_name,
        "reference_size": f"{reference.width}x{reference.height}",
        "hash": f"{h1:016x}",
        "reference_hash": f"{h2:016x}",
        "hash_bits_apart": bin(h1 ^ h2).count("1"),
    }
    passed = score >= threshold
    verdict = "as similar as asked" if passed else "less similar than asked"
    return CheckResult(NAME, passed, score, detail, f"Similarity {score:.2f} to the reference (threshold {threshold:.2f}): {verdict}.")
