"""Reading the text in an image, offline.

``read_text(image)`` is what the ``text`` check calls. It runs Tesseract (Debian's ``tesseract-ocr``
package, English data) as a subprocess: the image goes in on stdin as greyscale PNG (small images
scaled up, large ones down), the text comes back on stdout; nothing is written to disk and nothing
is fetched from a network. Page segmentation 11 ("sparse text") finds text anywhere in a picture,
as on a sign or a poster. An engine returns a list of readings (``invert=True`` adds a reading of
the inverted image; the check takes whichever reading matches best).

RapidOCR (ONNX models shipped in its wheel) was measured against it in benchmarks/checks.py: on
rendered signs Tesseract read more words right (it keeps the spaces between words) in a fraction
of the time, so the app uses Tesseract. The RapidOCR engine stays here for the benchmark only; it
is not a dependency of the app.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

from PIL import Image, ImageOps

OCR_TIMEOUT_S = 30.0
# Tesseract reads small text badly: a short side under this is scaled up before reading.
OCR_MIN_SIDE = 600
# Larger images are scaled down: reading time grows with the pixels, the accuracy does not.
OCR_MAX_SIDE = 1600


class OcrUnavailable(RuntimeError):
    """No OCR engine is installed on this machine."""


@dataclass(frozen=True)
class Reading:
    text: str  # as read, lines joined by newlines
    engine: str


def _prepared(image: Image.Image) -> Image.Image:
    """Greyscale, flattened on white, at a size Tesseract reads well."""
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


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


class TesseractEngine:
    name = "tesseract"

    def __init__(self, binary: str | None = None, *, psm: int = 11, invert: bool = False) -> None:
        self.binary = binary or shutil.which("tesseract")
        self.psm = psm  # 11: sparse text, in any place and order, as on a poster or a sign
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

    def read(self, image: Image.Image) -> list[Reading]:
        grey = _prepared(image)
        readings = [Reading(self._run(_png(grey)), self.name)]
        if self.invert:
            readings.append(Reading(self._run(_png(ImageOps.invert(grey))), self.name))
        return readings


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
