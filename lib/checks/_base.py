"""What every check returns, and the request it is judged against."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lib import constants as C
from lib.errors import InvalidImage

if TYPE_CHECKING:  # Pillow is loaded by the functions that open an image
    from PIL import Image


@dataclass(frozen=True)
class CheckResult:
    """One check of one image: passed or not, a score from 0 to 1, and what it found (JSON-able)."""

    name: str
    passed: bool
    score: float
    detail: dict[str, Any] = field(default_factory=dict)
    summary: str = ""  # one line for a card or a terminal

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "score": round(self.score, 4), "summary": self.summary, "detail": self.detail}


@dataclass(frozen=True)
class CheckRequest:
    """What was asked for, as the check needs it: the fields of the image request."""

    prompt: str = ""
    size: str = "auto"
    output_format: str | None = None  # png | jpeg | webp; None: not asked
    background: str | None = None  # auto | opaque | transparent

    @classmethod
    def from_params(cls, prompt: str, params: dict[str, Any] | None) -> CheckRequest:
        params = params or {}
        return cls(
            prompt=prompt or "",
            size=str(params.get("size") or "auto"),
            output_format=(str(params["output_format"]).lower() if params.get("output_format") else None),
            background=(str(params["background"]).lower() if params.get("background") else None),
        )


def open_image(data: bytes) -> Image.Image:
    """The image in ``data``, fully decoded; InvalidImage when it is not one (or is too large to open)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > C.MAX_IMAGE_PIXELS:
                raise InvalidImage(f"The image is {im.width}x{im.height}, more pixels than are checked.")
            im.load()
            return im.copy() if im.format is None else _keep_format(im)
    except InvalidImage:
        raise
    except Exception as err:  # Pillow raises many kinds for bytes that are not an image
        raise InvalidImage(f"The bytes are not an image ({type(err).__name__}).") from err


def _keep_format(im: Image.Image) -> Image.Image:
    copy = im.copy()
    copy.format = im.format  # copy() drops it; the size check reads it
    return copy
