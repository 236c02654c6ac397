"""Bytes -> a validated image -> a content-addressed file.

Nothing here trusts the provider: base64 is decoded leniently (data-URL
prefix, whitespace, missing padding) but the bytes must then open in Pillow,
have sane dimensions (decompression bombs are refused before decoding) and be
complete (truncated files are refused). Only then is anything written, to
``images/ab/<sha256>.<ext>`` under the data directory: the same image is kept
once, and no part of a path ever comes from provider or user input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from lib import constants as C
from lib import redact
from lib.errors import InvalidImage

_EXT = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
_MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
_DATA_URL = re.compile(r"^\s*data:image/[a-z0-9.+-]+;base64,", re.I)


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: PNG, JPEG, WEBP, GIF
    width: int
    height: int
    byte_size: int
    sha256: str

    @property
    def ext(self) -> str:
        return _EXT[self.format]

    @property
    def mime(self) -> str:
        return _MIME[self.ext]


@dataclass(frozen=True)
class SavedImage:
    info: ImageInfo
    path: Path  # absolute
    rel_path: str  # relative to the data directory, as stored in the database
    source: str  # "b64" or "url"
    source_url: str | None = None
    created: bool = True  # False when an identical file was already kept


def decode_b64(text: str | bytes) -> bytes:
    """Decode base64 leniently; raise InvalidImage when it is not base64 at all."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidImage("The base64 field holds non-ASCII bytes.") from None
    if not isinstance(text, str):
        raise InvalidImage(f"The image field holds {type(text).__name__}, not a base64 string.")
    body = text
    if body[:5].lower() == "data:" or body[:6].lstrip()[:5].lower() == "data:":
        body = _DATA_URL.sub("", body, count=1)
    if not body.strip():
        raise InvalidImage("The base64 image field is empty.")
    if len(body) * 3 // 4 > C.MAX_IMAGE_BYTES:
        raise InvalidImage(f"The base64 image is larger than {C.MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
    try:  # the fast path: well-formed standard base64, as providers normally send
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        pass
    body = re.sub(r"\s+", "", body)
    if not body:
        raise InvalidImage("The base64 image field is empty.")
    urlsafe = "-" in body or "_" in body
    body = body.rstrip("=")
    body += "=" * (-len(body) % 4)
    try:
        if urlsafe:
            return base64.b64decode(body, altchars=b"-_", validate=True)
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as err:
        raise InvalidImage(f"The image field is not valid base64 ({err}).") from err


def validate(data: bytes) -> ImageInfo:
    """Check that ``data`` is one complete, reasonably sized image."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidImage("The image is empty (0 bytes).")
    if len(data) > C.MAX_IMAGE_BYTES:
        raise InvalidImage(f"The image is {len(data):,} bytes, over the {C.MAX_IMAGE_BYTES:,} byte limit.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format
                width, height = im.size
                if fmt not in _EXT:
                    raise InvalidImage(f"The bytes are a {fmt} file, not PNG, JPEG, WebP or GIF.")
                if width <= 0 or height <= 0:
                    raise InvalidImage(f"The image claims an impossible size {width}x{height}.")
                if width * height > C.MAX_IMAGE_PIXELS:
                    raise InvalidImage(
                        f"The image claims {width}x{height} pixels, over the {C.MAX_IMAGE_PIXELS:,} pixel limit "
                        "(a decompression bomb is refused before decoding)."
                    )
                if fmt == "PNG":
                    im.verify()  # reads every chunk and checks its CRC: catches truncation and corruption
                else:
                    im.load()  # JPEG/WebP have no checksums: decode fully to catch truncation
            if fmt == "PNG":
                # verify() does not decompress: a PNG with intact CRCs but a short or broken
                # IDAT passes it. Decode every pixel (within the pixel cap checked above).
                with Image.open(io.BytesIO(data)) as im:
                    im.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InvalidImage(f"The image is a decompression bomb ({err}).") from err
    except UnidentifiedImageError as err:
        head = data[:16]
        hint = " (it looks like text or HTML)" if head.lstrip()[:1] in (b"<", b"{", b"[") or head.isascii() else ""
        raise InvalidImage(f"The bytes are not an image Pillow can identify{hint}.") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InvalidImage(f"The image is damaged or truncated ({err}).") from err
    return ImageInfo(fmt, width, height, len(data), hashlib.sha256(data).hexdigest())


def _pixels_only(data: bytes, fmt: str) -> bytes:
    """The same image re-encoded by Pillow with no metadata (text chunks, EXIF, comments)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        out = io.BytesIO()
        frame = im if fmt != "JPEG" or im.mode in ("RGB", "L", "CMYK") else im.convert("RGB")
        frame.save(out, fmt)
    return out.getvalue()


class ImageKeeper:
    """Saves validated images content-addressed under ``<data>/images``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def rel_path_for(self, info: ImageInfo) -> str:
        return f"images/{info.sha256[:2]}/{info.sha256}.{info.ext}"

    def save(self, data: bytes, *, source: str, source_url: str | None = None) -> SavedImage:
        """Validate, then write once. Raises InvalidImage and writes nothing on bad bytes."""
        info = validate(data)
        if redact.contains_secret(data):
            # A provider hid (a piece of) the API key in the file, e.g. in a text chunk:
            # keep the pixels only, re-encoded without any metadata.
            data = _pixels_only(data, info.format)
            info = validate(data)
            if redact.contains_secret(data):
                raise InvalidImage("The image carries text matching the API key, even re-encoded; it was not kept.")
        rel = self.rel_path_for(info)
        path = self.root / rel
        created = False
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix="." + info.ext)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
                created = True
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        return SavedImage(info=info, path=path, rel_path=rel, source=source, source_url=source_url, created=created)

    def resolve(self, rel_path: str) -> Path:
        """The absolute path of a stored image; refuses anything outside the images folder."""
        candidate = (self.root / rel_path).resolve()
        images_root = (self.root / "images").resolve()
        if images_root not in candidate.parents:
            raise ValueError(f"{rel_path!r} is not inside the images folder")
        return candidate

    def thumbnail(self, rel_path: str, size: int = C.THUMBNAIL_PX) -> Path:
        """A cached WebP thumbnail of a stored image, made on first request."""
        source = self.resolve(rel_path)
        name = source.stem
        thumb = self.root / "thumbs" / name[:2] / f"{name}_{size}.webp"
        if thumb.exists():
            return thumb
        thumb.parent.mkdir(parents=True, exist_ok=True)
        data = make_thumbnail(source, size)
        fd, tmp = tempfile.mkstemp(dir=thumb.parent, prefix=".tmp-", suffix=".webp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, thumb)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return thumb

    def thumbnail_data_url(self, rel_path: str | None, size: int = C.THUMBNAIL_PX) -> str | None:
        """The cached thumbnail of a stored image as a data URL; None when there is no readable file."""
        if not rel_path:
            return None
        try:
            return data_url(self.thumbnail(rel_path, size=size).read_bytes(), "image/webp")
        except Exception:  # a missing or unreadable file: no thumbnail, never a failed page
            return None


def make_thumbnail(source: bytes | str | os.PathLike, size: int, *, fmt: str = "WEBP") -> bytes:
    """A thumbnail at most ``size`` pixels on a side, encoded as ``fmt`` (WEBP keeps
    transparency; JPEG is flattened to RGB)."""
    from PIL import Image

    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        im.thumbnail((size, size))
        if fmt == "JPEG":
            im = im.convert("RGB")
        elif im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA")
        out = io.BytesIO()
        im.save(out, fmt, quality=70 if fmt == "JPEG" else 80)
    return out.getvalue()


def data_url(data: bytes, mime: str) -> str:
    """Bytes as a ``data:`` URL (thumbnails inline in tables and exported reports)."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
