"""Reading the text in an image, offline.

``read_text(image)`` is what the ``text`` check calls. It runs Tesseract (Debian's ``tesseract-ocr``
package, English data) as a subprocess: the image goes in on stdin as greyscale PNG (small images
scaled up, large ones down, framed in a margin), the text comes back on stdout; nothing is written
to disk and nothing is fetched from a network. An engine offers several readings of one image
(``readings``: in a margin of the image's edge colour, then in a white one; ``invert=True`` adds the
inverted image); the text check asks for the next one only while some quoted piece is not found.

RapidOCR (ONNX models shipped in its wheel) was measured against it in benchmarks/checks.py: on
rendered signs Tesseract read more words right (it keeps the spaces between words) in a fraction
of the time, so the app uses Tesseract. The RapidOCR engine stays here for the benchmark only; it
is not a dependency of the app.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow is loaded by the functions that open an image
    from PIL import Image


OCR_TIMEOUT_S = 30.0
# Tesseract reads small text badly: a short side under this is scaled up before reading.
OCR_MIN_SIDE = 600
# Larger images are scaled down: reading time grows with the pixels, the accuracy does not.
OCR_MAX_SIDE = 1600
OCR_MIN_BORDER = 20  # pixels of white margin added around the image before reading


class OcrUnavailable(RuntimeError):
    """No OCR engine is installed on this machine."""


@dataclass(frozen=True)
class Reading:
    text: str  # as read, lines joined by newlines
    engine: str


def _prepared(image: Image.Image) -> Image.Image:
    """Greyscale, flattened on white, at a size Tesseract reads well."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(ground, rgba)
    grey = image.convert("L")
    w, h = grey.size
    short, long = min(w, h), max(w, h)
    scale = 1.0
    if short < OCR_MIN_SIDE:
        scale = OCR_MIN_SIDE / short
    if long * scale > OCR_MAX_SIDE:
        scale = OCR_MAX_SIDE / long
    if scale != 1.0:
        grey = grey.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return grey


def edge_grey(grey: Image.Image) -> int:
    """The median grey level of the image's outermost pixels."""
    w, h = grey.size
    strips = [grey.crop((0, 0, w, 1)), grey.crop((0, h - 1, w, h)), grey.crop((0, 0, 1, h)), grey.crop((w - 1, 0, w, h))]
    values = sorted(v for strip in strips for v in strip.tobytes())
    return values[len(values) // 2]


def framed(grey: Image.Image, fill: int) -> Image.Image:
    """The image in a margin of one grey level. Tesseract's layout analysis misses text on a panel
    that reaches a busy edge; a margin of the image's own edge colour mends most of those (a margin
    of another colour is an edge of its own, and hides light text on dark), a white one the rest."""
    from PIL import ImageOps

    return ImageOps.expand(grey, max(OCR_MIN_BORDER, min(grey.size) // 10), fill)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


class TesseractEngine:
    name = "tesseract"

    def __init__(self, binary: str | None = None, *, psm: int = 3, invert: bool = False) -> None:
        self.binary = binary or shutil.which("tesseract")
        self.psm = psm  # 3: Tesseract's automatic page layout
        self.invert = invert

    @property
    def available(self) -> bool:
        return self.binary is not None

    def _run(self, png: bytes) -> str:
        if self.binary is None:
            raise OcrUnavailable("Tesseract is not installed (Debian: apt-get install tesseract-ocr).")
        try:
            done = subprocess.run(
                [self.binary, "stdin", "stdout", "-l", "eng", "--psm", str(self.psm)],
                input=png,
                capture_output=True,
                timeout=OCR_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise OcrUnavailable(f"Tesseract could not read the image: {err}") from err
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise OcrUnavailable(f"Tesseract failed (exit {done.returncode}): {tail[0]}")
        return "\n".join(line for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip())

    def readings(self, image: Image.Image) -> Iterator[Reading]:
        """Readings one at a time, cheapest and likeliest first: in a margin of the edge colour, then
        (only when asked for) in a white margin, then inverted. A caller that has what it needs stops."""
        from PIL import ImageOps

        grey = _prepared(image)
        edge = edge_grey(grey)
        yield Reading(self._run(_png(framed(grey, edge))), self.name)
        if edge < 250:
            yield Reading(self._run(_png(framed(grey, 255))), self.name)
        if self.invert:
            yield Reading(self._run(_png(framed(ImageOps.invert(grey), 255 - edge))), self.name)

    def read(self, image: Image.Image) -> list[Reading]:
        return list(self.readings(image))


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self) -> None:
        self._ocr = None

    @property
    def available(self) -> bool:
        try:
            import rapidocr_onnxruntime  # noqa: F401
        except ImportError:
            return False
        return True

    def read(self, image: Image.Image) -> list[Reading]:
        try:
            import numpy as np
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as err:
            raise OcrUnavailable("RapidOCR is not installed.") from err
        if self._ocr is None:
            self._ocr = RapidOCR()
        rgb = image.convert("RGB")
        result, _elapsed = self._ocr(np.asarray(rgb)[:, :, ::-1])
        lines = [item[1] for item in (result or [])]
        return [Reading("\n".join(lines), self.name)]


_DEFAULT: TesseractEngine | None = None


def default_engine() -> TesseractEngine:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TesseractEngine()
    return _DEFAULT


def read_text(image: Image.Image, engine=None) -> list[Reading]:
    """Every reading of the image's text by ``engine`` (the default: Tesseract)."""
    return (engine or default_engine()).read(image)


def readings(image: Image.Image, engine=None) -> Iterator[Reading]:
    """The readings of ``engine`` one at a time (an engine without ``readings`` reads all at once)."""
    engine = engine or default_engine()
    lazy = getattr(engine, "readings", None)
    yield from (lazy(image) if lazy is not None else engine.read(image))
