"""The ``size`` check: the image is the size, format and background asked for.

Each aspect that was asked is judged; one not asked (``auto``, or left out) is not:
- size: ``WxH`` must match exactly; a ratio (``16:9``, as EvoLink takes it) must match within
  ``RATIO_TOLERANCE``; ``auto`` takes any size;
- format: ``png`` / ``jpeg`` / ``webp`` must be what the bytes are (not what a file name says);
- background: ``transparent`` needs an alpha channel with at least one pixel that is not fully
  opaque (an RGBA image whose every pixel is opaque is not transparent); ``opaque`` needs none.
The score is the share of asked aspects that match; the check passes when all do.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lib.checks._base import CheckRequest, CheckResult
from lib.providers import parse_size

if TYPE_CHECKING:  # Pillow is loaded by the functions that open an image
    from PIL import Image

NAME = "size"
RATIO_TOLERANCE = 0.02  # 2 % apart, as 1024x1536 is to 2:3 exactly and 1920x1080 to 16:9
_RATIO = re.compile(r"\s*(\d{1,3})\s*:\s*(\d{1,3})\s*")
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}


def transparent_share(image: Image.Image) -> float:
    """Share of pixels that are not fully opaque (0.0 for an image with no alpha channel)."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if "A" not in image.getbands():
        return 0.0
    alpha = image.getchannel("A")
    histogram = alpha.histogram()
    total = image.width * image.height
    return (total - histogram[255]) / total if total else 0.0


def _size_aspect(asked: str, width: int, height: int) -> dict | None:
    got = f"{width}x{height}"
    dims = parse_size(asked)
    if dims is not None:
        return {"aspect": "size", "asked": f"{dims[0]}x{dims[1]}", "got": got, "passed": dims == (width, height)}
    m = _RATIO.fullmatch(asked)
    if m and int(m.group(1)) and int(m.group(2)):
        want = int(m.group(1)) / int(m.group(2))
        have = width / height
        return {
            "aspect": "size",
            "asked": f"ratio {m.group(1)}:{m.group(2)}",
            "got": f"{got} (ratio {have:.3f})",
            "passed": abs(have / want - 1) <= RATIO_TOLERANCE,
        }
    return None  # auto, or a resolution tier: any size is what was asked


def check_size(image: Image.Image, request: CheckRequest) -> CheckResult:
    rows = []
    size_row = _size_aspect(request.size or "auto", image.width, image.height)
    if size_row is not None:
        rows.append(size_row)
    fmt = (request.output_format or "").lower()
    if fmt in _FORMATS:
        got = (image.format or "unknown").upper()
        rows.append({"aspect": "format", "asked": fmt, "got": got.lower(), "passed": got == _FORMATS[fmt]})
    background = (request.background or "").lower()
    if background in ("transparent", "opaque"):
        share = transparent_share(image)
        got = f"{share:.1%} of pixels see-through" if share else "no see-through pixels"
        passed = share > 0 if background == "transparent" else share == 0
        rows.append({"aspect": "background", "asked": background, "got": got, "passed": passed})
    detail = {"aspects": rows, "width": image.width, "height": image.height, "format": (image.format or "").lower()}
    if not rows:
        return CheckResult(NAME, True, 1.0, detail, f"{image.width}x{image.height}; nothing specific was asked.")
    matched = sum(row["passed"] for row in rows)
    passed = matched == len(rows)
    if passed:
        summary = "As asked: " + ", ".join(f"{row['aspect']} {row['asked']}" for row in rows) + "."
    else:
        summary = "; ".join(f"{row['aspect']}: asked {row['asked']}, got {row['got']}" for row in rows if not row["passed"]) + "."
    return CheckResult(NAME, passed, matched / len(rows), detail, summary)
