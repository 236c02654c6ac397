"""A local OpenAI-compatible image API that misbehaves on demand.

It speaks the four delivery dialects (``b64``: OpenAI-style base64; ``url``:
gateway-style URLs; ``task_a`` / ``task_b``: the two async task shapes) and
draws real images with Pillow, different for every prompt.

A fault is chosen, first match wins, by:
1. the ``X-Sandbox-Scenario`` request header;
2. a ``#scenario`` tag in the prompt (``a red fox #rate_limited``), or a
   blocked word (``gore``) for content policy;
3. the scenario set at run time (``POST /sandbox/config`` or
   ``SandboxServer.configure``).

Run it standalone with ``python -m lib.sandbox --port 8765`` (EvoLink's file host on the
next port; both printed) or start it in-process on free loopback ports with
``SandboxServer().start()``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import logging
import math
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lib import constants as C
from lib.checks.text import quoted_texts, without_quoted
from lib.edits import sniff as _sniff
from lib.providers import (
    EVOLINK_FILE_LINK_S,
    EVOLINK_RATIOS,
    EVOLINK_UPLOAD_PATH,
    GATEWAY_MODELS,
    GPT_IMAGE_MODELS,
    SANDBOX_EVOLINK_PATH,
    bind_files_root,
    check_size,
    get_provider,
    ratio_pixels,
    route,
    unbind_files_root,
)

if TYPE_CHECKING:  # Pillow is loaded by the functions that draw or open an image, the server when the sandbox starts
    import uvicorn
    from PIL import Image, ImageFont

SANDBOX_MODELS = GPT_IMAGE_MODELS + GATEWAY_MODELS
DIALECTS = {
    "b64": "Sync, base64 in data[].b64_json (OpenAI style)",
    "url": "Sync, a URL in data[].url (gateway style)",
    "task_a": "Async task: {data: {task_id, status}} polled at /v1/images/generations/{id}",
    "task_b": "Async task: {id, object, status, progress} polled at /v1/tasks/{id}",
}
SCENARIOS: dict[str, str] = {
    "healthy": "Answers normally after the configured latency.",
    "slow": f"Answers normally after about {C.SANDBOX_SLOW_LATENCY_S:.0f} s.",
    "auth": "401: the key is rejected.",
    "permission": "403: the organization must be verified to use the model.",
    "endpoint_not_found": "404 as an nginx HTML page, as for a wrong route.",
    "model_not_found": "404 model_not_found for every model.",
    "fallback": "gpt-image-2 is unknown here; the other models work (shows the fallback chain).",
    "bad_request": "400 invalid_value for the size parameter.",
    "content_policy": "400 moderation_blocked (in a task dialect: the task fails with content_policy_violation).",
    "rate_limited": "429 with Retry-After on every other request: recovers after one retry.",
    "rate_limited_always": "429 with Retry-After on every request: retries run out.",
    "quota_exceeded": "429 insufficient_quota: out of credits.",
    "server_error": "502 Bad Gateway as an HTML page from a proxy.",
    "timeout": f"Holds the answer for {C.SANDBOX_HANG_S:.0f} s, longer than the client's timeout.",
    "network": "Drops the connection in the middle of the answer.",
    "bad_response": "200 with malformed, truncated JSON.",
    "invalid_image": "200 with base64 that decodes to something that is not an image.",
    "image_fetch_failed": "A result URL that has already expired (410 on download).",
    "task_failed": "An async task that fails on the provider's side.",
    "stream_error": "Streaming only: an error event arrives after the first partial image.",
}
BLOCKED_WORDS = ("gore", "bloodbath")
# What /v1/moderations flags each blocked word as (omni-moderation's category names).
BLOCKED_CATEGORIES = {"gore": ("violence", "violence/graphic"), "bloodbath": ("violence",)}
MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
# How the EvoLink file API can misbehave (Sandbox.fail_uploads).
UPLOAD_FAULTS = {
    "auth": "401: the key is not accepted by the file API.",
    "server_error": "502 Bad Gateway as an HTML page.",
    "network": "The connection drops in the middle of the answer.",
    "bad_response": "200 with no file_url in the answer.",
    "invalid_image": "400: the file is refused as not an image it takes.",
}
# Prompt tags that change the image rather than fail the request.
IMAGE_TAGS = {
    "misspell": "The prompt's first quoted text is lettered onto the image with one letter changed.",
    "wrong_size": "The image comes back at another size than asked (sides swapped; a square loses a quarter of its height).",
}
# The sandbox's vision judge passes an image with visible content: grey-level spread at least this...
JUDGE_MIN_SPREAD = 8.0
# ...and a mean grey level inside this band (of 255); a blank, black or white frame fails.
JUDGE_BRIGHTNESS_BAND = (8.0, 247.0)
_TAG = re.compile(r"#([a-z_]+)")

log = logging.getLogger("imagelab.sandbox")


@dataclass
class SandboxConfig:
    dialect: str = "b64"
    scenario: str = "healthy"
    latency_s: tuple[float, float] = C.SANDBOX_DEFAULT_LATENCY_S
    hang_s: float = C.SANDBOX_HANG_S
    retry_after_s: float = 1.0
    rate_limit_k: int | None = None  # when set: K requests per window, then 429
    rate_window_s: float = C.SANDBOX_RATE_WINDOW_S
    url_ttl_s: float = float(C.RESULT_URL_LIFETIME_S)
    task_duration_s: float = C.SANDBOX_TASK_DURATION_S

    def validate(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {self.dialect!r}; one of {', '.join(DIALECTS)}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; one of {', '.join(SCENARIOS)}")


class _DropConnection(Exception):
    """Raised inside a streamed body to cut the connection mid-answer."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, (_DropConnection, asyncio.CancelledError)):
                return False  # deliberate drops, and hung answers cut short at shutdown
            exc = exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())

# --------------------------------------------------------------------------
# Images


def _parse_dims(size: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", size or "")
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.fullmatch(r"(\d)[kK]", size or "")
    if m:
        side = 1024 * int(m.group(1))
        return side, side
    return 1024, 1024


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow
        return ImageFont.load_default()


def misspell(text: str, seed: bytes) -> str:
    """``text`` with one letter changed (the same one for the same seed): the letter, chosen among
    those of words of three letters or more, moves seven places along the alphabet, keeping its case."""
    spots = [m.start() + i for m in re.finditer(r"[^\W\d_]{3,}", text) for i in range(1, len(m.group()))]
    spots = spots or [i for i, ch in enumerate(text) if ch.isalpha()]
    if not spots:
        return text + "x"
    at = spots[seed[0] % len(spots)]
    ch = text[at]
    if "a" <= ch.lower() <= "z":
        base = ord("a") if ch.islower() else ord("A")
        swapped = chr(base + (ord(ch) - base + 7) % 26)
    else:
        swapped = "x" if ch.islower() else "X"
    return text[:at] + swapped + text[at + 1 :]


def sign_texts(prompt: str) -> list[str]:
    """The text the sandbox letters onto its image's sign: the prompt's quoted pieces, the first one
    misspelled by one letter when the prompt is tagged ``#misspell``."""
    pieces = quoted_texts(prompt)
    if pieces and "#misspell" in prompt.lower():
        pieces[0] = misspell(pieces[0], hashlib.sha256(prompt.encode()).digest())
    return pieces


def _wrap(text: str, font, max_width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and font.getlength(trial) > max_width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def _draw_sign(img: Image.Image, pieces: list[str]) -> None:
    """A light band across the middle of the image with the pieces in large dark letters, one piece
    a line (wrapped when long), so that OCR reads them as a person would (a band from edge to edge
    reads more reliably with Tesseract than a panel among the shapes)."""
    from PIL import ImageDraw

    width, height = img.size
    size = max(12, min(width, height) // 9)
    while True:
        font = _font(size)
        lines = [ln for piece in pieces[:6] for ln in _wrap(piece, font, width * 0.8)]
        line_h = size * 1.3
        if size <= 12 or (len(lines) * line_h <= height * 0.45 and all(font.getlength(ln) <= width * 0.86 for ln in lines)):
            break
        size = int(size * 0.85)
    block_h = len(lines) * line_h
    top = (height - block_h) / 2
    pad = size * 1.2
    draw = ImageDraw.Draw(img, "RGBA")
    draw.rectangle((0, top - pad, width, top + block_h + pad * 0.8), fill=(250, 248, 240, 255))
    y = top
    for ln in lines:
        draw.text(((width - font.getlength(ln)) / 2, y), ln, fill=(20, 20, 30, 255), font=font)
        y += line_h


def wrong_size(width: int, height: int) -> tuple[int, int]:
    """Another size than the one asked, as a model that ignores the size answers: the sides swapped,
    or for a square three quarters of the height (kept a multiple of 16)."""
    if width != height:
        return height, width
    return width, max(16, (height * 3 // 4) // 16 * 16)


def _answer_dims(size: str, prompt: str, auto: tuple[int, int] | None = None) -> tuple[int, int]:
    """The size of the image the sandbox answers: the one asked (``auto``: ``auto`` or 1024x1024),
    or another one when the prompt is tagged ``#wrong_size``."""
    dims = auto if auto is not None and size == "auto" else _parse_dims(size)
    return wrong_size(*dims) if "#wrong_size" in (prompt or "").lower() else dims


@lru_cache(maxsize=64)
def render_image(
    prompt: str, width: int, height: int, fmt: str = "png", transparent: bool = False, index: int = 0, compression: int | None = None
) -> bytes:
    """A real picture, visibly different per prompt: two-colour gradient, shapes, and the prompt."""
    from PIL import Image, ImageDraw, ImageOps

    digest = hashlib.sha256(f"{prompt}\x00{index}".encode()).digest()
    c1 = tuple(digest[0:3])
    c2 = tuple(255 - b for b in digest[3:6])
    gradient = Image.linear_gradient("L").rotate(digest[6] % 360).resize((width, height))
    img = ImageOps.colorize(gradient, c1, c2).convert("RGBA")
    draw = ImageDraw.Draw(img, "RGBA")
    scale = min(width, height)
    for i in range(6):
        b = digest[8 + i * 4 : 12 + i * 4]
        cx, cy = b[0] / 255 * width, b[1] / 255 * height
        r = (0.08 + b[2] / 255 * 0.22) * scale
        colour = (b[3], 255 - b[2], b[1], 170)
        if b[0] % 2:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.rectangle((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), fill=colour)
    font_size = max(12, scale // 20)
    font = _font(font_size)
    signs = sign_texts(prompt)
    if signs:
        _draw_sign(img, signs)
    caption = without_quoted(prompt) if signs else prompt  # the sign's text is on the sign only
    words, lines, line = caption.split(), [], ""
    max_chars = max(10, int(width / (font_size * 0.55)))
    for word in words:
        if len(line) + len(word) + 1 > max_chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
        if len(lines) >= 4:
            break
    if line and len(lines) < 5:
        lines.append(line)
    y = height - (len(lines) + 1) * font_size * 1.25
    draw.rectangle((0, y - font_size * 0.4, width, height), fill=(0, 0, 0, 110))
    for text in lines:
        draw.text((font_size * 0.6, y), text, fill=(255, 255, 255, 255), font=font)
        y += font_size * 1.25
    draw.text((font_size * 0.6, font_size * 0.5), "sandbox", fill=(255, 255, 255, 200), font=font)
    if transparent and fmt in ("png", "webp"):
        alpha = Image.new("L", (width, height), 0)
        ImageDraw.Draw(alpha).ellipse((width * 0.05, height * 0.05, width * 0.95, height * 0.95), fill=255)
        img.putalpha(alpha)
    elif fmt == "jpeg" or not transparent:
        img = img.convert("RGB")
    out = io.BytesIO()
    if fmt == "jpeg":
        img.save(out, "JPEG", quality=compression if compression is not None else 90)
    elif fmt == "webp":
        img.save(out, "WEBP", quality=compression if compression is not None else 90)
    else:
        img.save(out, "PNG", compress_level=1)
    return out.getvalue()


# Output tokens per image, by quality then shape (1024x1024, 1024x1536, 1536x1024), as OpenAI bills them.
# gpt-image-1, 1.5 and mini: the table of OpenAI's image generation guide. gpt-image-2: the guide's per-image
# prices at its image output rate ($30 per 1M tokens: $0.006 / $0.053 / $0.211 square, $0.005 / $0.041 /
# $0.165 portrait or landscape), so a cost rehearsed on the sandbox is the one OpenAI would charge.
_SQUARE, _PORTRAIT, _LANDSCAPE = (1024, 1024), (1024, 1536), (1536, 1024)
_GPT_IMAGE_1_TOKENS = {
    "low": {_SQUARE: 272, _PORTRAIT: 408, _LANDSCAPE: 400},
    "medium": {_SQUARE: 1056, _PORTRAIT: 1584, _LANDSCAPE: 1568},
    "high": {_SQUARE: 4160, _PORTRAIT: 6240, _LANDSCAPE: 6208},
}
OUTPUT_TOKENS: dict[str, dict[str, dict[tuple[int, int], int]]] = {
    "gpt-image-2": {
        "low": {_SQUARE: 200, _PORTRAIT: 167, _LANDSCAPE: 167},
        "medium": {_SQUARE: 1767, _PORTRAIT: 1367, _LANDSCAPE: 1367},
        "high": {_SQUARE: 7033, _PORTRAIT: 5500, _LANDSCAPE: 5500},
    },
    "gpt-image-1.5": _GPT_IMAGE_1_TOKENS,
    "gpt-image-1": _GPT_IMAGE_1_TOKENS,
    "gpt-image-1-mini": _GPT_IMAGE_1_TOKENS,
}
TEXT_CHARS_PER_TOKEN = 4  # about four characters of English per token


def output_tokens(model: str, size: str, quality: str) -> int:
    """Output tokens of one image: the table's figure for the shape, scaled by area for other sizes;
    an ``auto`` size counts as 1024x1024 and an ``auto`` quality as medium (as lib.pricing assumes)."""
    table = OUTPUT_TOKENS.get(model, _GPT_IMAGE_1_TOKENS)
    by_shape = table.get(quality) or table["medium"]
    w, h = _parse_dims(size) if size and size != "auto" else _SQUARE
    shape = _SQUARE if w == h else _LANDSCAPE if w > h else _PORTRAIT
    if (w, h) == shape:
        return by_shape[shape]
    return max(1, round(by_shape[shape] * (w * h) / (shape[0] * shape[1])))


def _usage(
    prompt: str, n: int, image_tokens: int = 0, *, model: str = "gpt-image-2", size: str = "auto", quality: str = "auto"
) -> dict[str, Any]:
    text = max(1, -(-len(prompt) // TEXT_CHARS_PER_TOKEN))
    out = output_tokens(model, size, quality) * n
    return {
        "input_tokens": text + image_tokens,
        "output_tokens": out,
        "total_tokens": text + image_tokens + out,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_tokens},
        "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
    }


def _encode(img: Image.Image, fmt: str, compression: int | None = None) -> bytes:
    out = io.BytesIO()
    if fmt == "jpeg":
        img.convert("RGB").save(out, "JPEG", quality=compression if compression is not None else 90)
    elif fmt == "webp":
        img.save(out, "WEBP", quality=compression if compression is not None else 90)
    else:
        img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def coarse_version(final: bytes, index: int, count: int, fmt: str = "png") -> bytes:
    """Partial image ``index`` of ``count``: the final image pixelated, in blocks that halve with each index."""
    from PIL import Image

    with Image.open(io.BytesIO(final)) as im:
        im.load()
        w, h = im.size
        block = max(2, min(w, h) // (6 * 2 ** (index + 1)))
        small = im.resize((max(1, w // block), max(1, h // block)), Image.Resampling.BILINEAR)
        return _encode(small.resize((w, h), Image.Resampling.NEAREST), fmt)


def derive_edit(
    first: bytes, prompt: str, width: int | None, height: int | None, fmt: str, mask: bytes | None = None, compression: int | None = None
) -> bytes:
    """The sandbox's "edit": the first reference image, resized, recoloured and captioned with the prompt;
    with a mask, only its transparent pixels change."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    digest = hashlib.sha256(prompt.encode()).digest()
    with Image.open(io.BytesIO(first)) as src:
        src = ImageOps.exif_transpose(src).convert("RGBA")
    size = (width or src.width, height or src.height)
    base = src.resize(size, Image.Resampling.LANCZOS) if src.size != size else src
    tint = ImageOps.colorize(ImageOps.grayscale(base), tuple(digest[0:3]), tuple(255 - b for b in digest[3:6])).convert("RGBA")
    edited = Image.blend(base, tint, 0.6)
    draw = ImageDraw.Draw(edited, "RGBA")
    font_size = max(12, min(size) // 20)
    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:
        font = ImageFont.load_default()
    draw.rectangle((0, size[1] - font_size * 2, size[0], size[1]), fill=(0, 0, 0, 120))
    draw.text((font_size * 0.6, size[1] - font_size * 1.6), ("edit: " + prompt)[:80], fill=(255, 255, 255, 255), font=font)
    if mask is not None:
        with Image.open(io.BytesIO(mask)) as m:
            alpha = m.convert("RGBA").getchannel("A").resize(size)
        keep = alpha.point(lambda a: 255 if a > 0 else 0)  # opaque mask pixels keep the original
        edited = Image.composite(base, edited, keep)
    return _encode(edited if fmt != "jpeg" else edited.convert("RGB"), fmt, compression)


# --------------------------------------------------------------------------
# Canned error answers (what real providers send)


def _error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": param, "code": code}},
        status_code=status,
        headers={"x-request-id": "req_sandbox_" + uuid.uuid4().hex[:12], **(headers or {})},
    )


def _dropped(start: bytes) -> StreamingResponse:
    """An answer that begins with ``start`` and then loses its connection."""

    async def broken():
        yield start
        await asyncio.sleep(0.01)
        raise _DropConnection("sandbox dropped the connection on purpose")

    return StreamingResponse(broken(), media_type="application/json")


async def _json_object(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object, or the 400 a provider answers when it is not one."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _error(400, "We could not parse the JSON body of your request.", code="invalid_json")
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.", code="invalid_json")
    return body


_NGINX_404 = """<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"""
_NGINX_405 = """<html>\r\n<head><title>405 Not Allowed</title></head>\r\n<body>\r\n<center><h1>405 Not Allowed</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"""
_BAD_GATEWAY = """<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response from an upstream server.</p></body></html>\n"""


# --------------------------------------------------------------------------
# The app


def _evolink_task_id() -> str:
    """An id shaped as EvoLink's task ids are: task-unified-<unix time>-<8 characters>."""
    return f"task-unified-{int(time.time())}-{uuid.uuid4().hex[:8]}"


class Sandbox:
    """State of one sandbox: its config, kept result files and tasks."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.config.validate()
        self._lock = threading.Lock()
        self._files: OrderedDict[str, tuple[bytes, str, float]] = OrderedDict()
        self._tasks: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}
        self._window_start = 0.0
        self._window_count = 0
        self.requests = 0
        self._evolink_init()
        self.app = self._build_app()

    # -- config -----------------------------------------------------------------

    def configure(self, **changes: Any) -> SandboxConfig:
        if "latency_s" in changes and not isinstance(changes["latency_s"], tuple):
            value = changes["latency_s"]
            changes["latency_s"] = tuple(value) if isinstance(value, (list, tuple)) else (float(value), float(value))
        new = replace(self.config, **changes)
        new.validate()
        with self._lock:
            self.config = new
            self._counters.clear()
        return new

    def _count(self, name: str) -> int:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + 1
            return self._counters[name]

    def _rate_window(self, cfg: SandboxConfig) -> float | None:
        """Seconds until the window reopens when over the K-per-window limit, else None."""
        if cfg.rate_limit_k is None:
            return None
        now = time.monotonic()
        with self._lock:
            if now - self._window_start >= cfg.rate_window_s:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            if self._window_count > cfg.rate_limit_k:
                return max(0.001, self._window_start + cfg.rate_window_s - now)
        return None

    def _keep_file(self, data: bytes, mime: str, ttl: float) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._files[token] = (data, mime, time.time() + ttl)
            while len(self._files) > C.SANDBOX_KEPT_FILES:
                self._files.popitem(last=False)
        return token

    # -- routes -----------------------------------------------------------------

    def _build_app(self) -> Starlette:
        routes = [
            Route("/v1/images/generations", self.generate, methods=["POST"]),
            Route("/v1/images/generations/{task_id}", self.task_a, methods=["GET"]),
            Route("/v1/images/edits", self.edit, methods=["POST"]),
            Route("/v1/tasks/{task_id}", self.task_b, methods=["GET"]),
            Route("/files/{token}", self.file, methods=["GET"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/moderations", self.moderations, methods=["POST"]),
            Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
            Route("/sandbox/config", self.get_config, methods=["GET"]),
            Route("/sandbox/config", self.set_config, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            *self._evolink_routes(),
            *jobs_routes(self),
        ]

        async def not_found(request: Request, exc: Exception) -> Response:
            return HTMLResponse(_NGINX_404, status_code=404)

        async def not_allowed(request: Request, exc: Exception) -> Response:
            # As nginx answers a method a location does not take (diagnostics tells 405 from 404).
            return HTMLResponse(_NGINX_405, status_code=405)

        return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "requests": self.requests})

    async def get_config(self, request: Request) -> Response:
        return JSONResponse(
            {
                **asdict(self.config),
                "scenarios": SCENARIOS,
                "dialects": DIALECTS,
                "task_apis": TASK_APIS,
                "files_root": self.files_root or None,  # EvoLink's file host, for a client in another process
            }
        )

    async def set_config(self, request: Request) -> Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("send a JSON object")
            cfg = self.configure(**changes)
        except (ValueError, TypeError) as err:
            return JSONResponse({"error": {"message": str(err), "type": "invalid_request_error"}}, status_code=400)
        return JSONResponse(asdict(cfg))

    async def models(self, request: Request) -> Response:
        """GET /v1/models, honouring the scenario as a real provider would for the
        same fault (diagnostics probes it): a rejected key, a wrong route, a
        proxy error page, or a list that lacks the models the scenario hides."""
        scenario = self._scenario_for(request, "")
        denied = self._auth_problem(request, scenario)
        if denied is not None:
            return denied
        if scenario == "endpoint_not_found":
            return HTMLResponse(_NGINX_404, status_code=404)
        if scenario == "server_error":
            return HTMLResponse(_BAD_GATEWAY, status_code=502)
        models = SANDBOX_MODELS
        if scenario == "model_not_found":
            models = ("text-embedding-3-small", "whisper-1")  # the key works; no image model is served
        elif scenario == "fallback":
            models = tuple(m for m in SANDBOX_MODELS if m != "gpt-image-2")
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "sandbox"} for m in models]})

    def _auth_problem(self, request: Request, scenario: str) -> Response | None:
        header = request.headers.get("authorization")
        if scenario == "auth" or (header is not None and not re.fullmatch(r"Bearer \S+", header)):
            return _error(401, "Incorrect API key provided. You can find your API key in your account settings.", code="invalid_api_key")
        return None

    def _scenario_for(self, request: Request, prompt: str) -> str:
        header = request.headers.get("x-sandbox-scenario")
        if header in SCENARIOS:
            return header
        for tag in _TAG.findall(prompt.lower()):
            if tag in SCENARIOS:
                return tag
        if any(re.search(rf"\b{w}\b", prompt.lower()) for w in BLOCKED_WORDS):
            return "content_policy"
        return self.config.scenario

    async def generate(self, request: Request) -> Response:
        self.requests += 1
        cfg = self.config
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        prompt = body.get("prompt")
        scenario = self._scenario_for(request, prompt if isinstance(prompt, str) else "")
        dialect = request.headers.get("x-sandbox-dialect") or cfg.dialect
        if dialect not in DIALECTS:
            dialect = cfg.dialect
        latency = request.headers.get("x-sandbox-latency")
        try:
            delay = float(latency) if latency is not None else random.uniform(*cfg.latency_s)
        except ValueError:
            delay = random.uniform(*cfg.latency_s)
        if scenario == "slow":
            delay = C.SANDBOX_SLOW_LATENCY_S

        early = self._early_faults(request, scenario, body.get("model"))
        if early is not None:
            return early

        # Parameter checks, as the real API does them.
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
        model = body.get("model")
        if model not in SANDBOX_MODELS or scenario == "model_not_found" or (scenario == "fallback" and model == "gpt-image-2"):
            if scenario in ("model_not_found", "fallback"):
                return _error(404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
            return _error(
                400,
                f"Invalid value: '{model}'. Supported values are: {', '.join(repr(m) for m in SANDBOX_MODELS)}.",
                param="model",
                code="invalid_value",
            )
        if "response_format" in body and str(model).startswith("gpt-image"):
            return _error(400, "Unknown parameter: 'response_format'.", param="response_format", code="unknown_parameter")
        size = str(body.get("size") or "auto")
        if scenario == "bad_request":
            return _error(
                400,
                f"Invalid value: '{size}'. Supported values are: '1024x1024', '1024x1536', '1536x1024', and 'auto'.",
                param="size",
                code="invalid_value",
            )
        if check_size(size, str(model)):
            return _error(400, f"Invalid value: '{size}'. {check_size(size, str(model))}", param="size", code="invalid_value")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return _error(400, f"Invalid value for 'n': {n!r}; it must be from 1 to 10.", param="n", code="invalid_value")
        fmt = str(body.get("output_format") or "png")
        if fmt not in ("png", "jpeg", "webp"):
            return _error(400, f"Invalid value: '{fmt}'.", param="output_format", code="invalid_value")
        transparent = body.get("background") == "transparent"
        compression = body.get("output_compression") if isinstance(body.get("output_compression"), int) else None

        if dialect in ("task_a", "task_b") or scenario == "task_failed":
            if scenario == "task_failed" and dialect not in ("task_a", "task_b"):
                dialect = "task_a"
            if scenario in ("timeout", "network", "bad_response", "invalid_image"):
                pass  # these faults act on the submission itself, below
            else:
                return self._new_task(dialect, scenario, prompt, size, fmt, transparent, compression, n, model)

        if body.get("stream") is True and dialect == "b64" and scenario not in ("content_policy", "timeout"):
            # Other dialects ignore `stream`, as some gateways do, and answer JSON.
            partials = body.get("partial_images", 0)
            if not isinstance(partials, int) or isinstance(partials, bool) or not 0 <= partials <= C.MAX_PARTIAL_IMAGES:
                return _error(
                    400,
                    f"Invalid 'partial_images': {partials!r}. Expected an integer between 0 and {C.MAX_PARTIAL_IMAGES}.",
                    param="partial_images",
                    code="invalid_value",
                )
            w, h = _answer_dims(size, prompt)
            finals = [render_image(prompt, w, h, fmt, transparent, i, compression) for i in range(n)]
            meta = {
                "size": f"{w}x{h}",
                "quality": str(body.get("quality") or "auto"),
                "background": str(body.get("background") or "auto"),
                "output_format": fmt,
            }
            usage = _usage(prompt, n, model=str(model), size=f"{w}x{h}", quality=meta["quality"])
            return self._stream("image_generation", finals, partials, delay, scenario, meta, usage)

        if scenario == "content_policy":
            await asyncio.sleep(delay)
            return _error(
                400,
                "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
                type_="image_generation_user_error",
                code="moderation_blocked",
            )
        if scenario == "timeout":
            await asyncio.sleep(cfg.hang_s)
        else:
            await asyncio.sleep(delay)
        if scenario == "network":
            return _dropped(b'{"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAA')
        if scenario == "bad_response":
            return Response(b'{"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgo', media_type="application/json")
        if scenario == "invalid_image":
            junk = base64.b64encode(b"<html>this is certainly not an image</html>" * 4).decode()
            return JSONResponse({"created": int(time.time()), "data": [{"b64_json": junk}]})

        w, h = _answer_dims(size, prompt)
        images = [render_image(prompt, w, h, fmt, transparent, i, compression) for i in range(n)]
        usage = _usage(prompt, n, model=str(model), size=f"{w}x{h}", quality=str(body.get("quality") or "auto"))
        if dialect == "url" or scenario == "image_fetch_failed":
            ttl = -1.0 if scenario == "image_fetch_failed" else cfg.url_ttl_s
            mime = "image/jpeg" if fmt == "jpeg" else f"image/{fmt}"
            base = str(request.base_url).rstrip("/")
            data = [{"url": f"{base}/files/{self._keep_file(img, mime, ttl)}"} for img in images]
        else:
            data = [{"b64_json": base64.b64encode(img).decode("ascii"), "revised_prompt": None} for img in images]
        return JSONResponse(
            {"created": int(time.time()), "data": data, "usage": usage, "size": f"{w}x{h}", "output_format": fmt},
            headers={"x-request-id": "req_sandbox_" + uuid.uuid4().hex[:12]},
        )

    # -- moderations and the vision judge ----------------------------------------

    async def moderations(self, request: Request) -> Response:
        """POST /v1/moderations as omni-moderation answers it: one result per text of a list of
        strings, one result for a list of content parts (text and images together). Text holding a
        blocked word is flagged with that word's categories; images are never flagged here."""
        self.requests += 1
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "We could not parse the JSON body of your request.", code="invalid_json")
        if not isinstance(body, dict) or "input" not in body:
            return _error(400, "Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
        model = body.get("model") or "omni-moderation-latest"
        early = self._early_faults(request, self._scenario_for(request, ""), model)
        if early is not None:
            return early
        raw = body["input"]
        if isinstance(raw, str):
            groups = [[raw]]
        elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
            groups = [[x] for x in raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, dict) for x in raw):
            texts = []
            for part in raw:
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
                    continue
                else:
                    return _error(
                        400,
                        "Invalid value for 'input': each part must be a text or an image_url part.",
                        param="input",
                        code="invalid_value",
                    )
            groups = [texts]
        else:
            return _error(
                400,
                "Invalid type for 'input': expected a string, an array of strings, or an array of content parts.",
                param="input",
                code="invalid_type",
            )
        results = []
        for texts in groups:
            words = [w for w in BLOCKED_WORDS if any(re.search(rf"\b{w}\b", t.lower()) for t in texts)]
            hit = {c for w in words for c in BLOCKED_CATEGORIES.get(w, ("violence",))}
            results.append(
                {
                    "flagged": bool(hit),
                    "categories": {c: c in hit for c in MODERATION_CATEGORIES},
                    "category_scores": {c: (0.97 if c in hit else 0.0004) for c in MODERATION_CATEGORIES},
                    "category_applied_input_types": {c: (["text"] if c in hit else []) for c in MODERATION_CATEGORIES},
                }
            )
        return JSONResponse(
            {"id": "modr-sandbox" + uuid.uuid4().hex[:12], "model": str(model), "results": results},
            headers={"x-request-id": "req_sandbox_" + uuid.uuid4().hex[:12]},
        )

    async def chat_completions(self, request: Request) -> Response:
        """POST /v1/chat/completions as a deterministic vision judge of the last image sent.

        The verdict comes from the image alone: it passes when its grey levels spread by at least
        ``JUDGE_MIN_SPREAD`` (standard deviation) and their mean lies in ``JUDGE_BRIGHTNESS_BAND``, so
        a picture passes and a blank, black or white frame fails; the reason gives both figures.
        The reply is the JSON verdict lib.checks.judge asks for; usage counts the text at four
        characters a token and the image by OpenAI's tile rule."""
        from PIL import Image, ImageStat

        from lib.checks.judge import image_tokens, text_tokens

        self.requests += 1
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "We could not parse the JSON body of your request.", code="invalid_json")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
        early = self._early_faults(request, self._scenario_for(request, ""), model)
        if early is not None:
            return early
        texts, urls = [], []
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                for part in content:
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "text" and isinstance(part.get("text"), str):
                        texts.append(part["text"])
                    elif part.get("type") == "image_url":
                        url = part.get("image_url", {}).get("url") if isinstance(part.get("image_url"), dict) else part.get("image_url")
                        if isinstance(url, str):
                            urls.append(url)
        if not urls:
            return _error(
                400, "The sandbox judge needs an image: send an image_url part with a data: URL.", param="messages", code="missing_image"
            )
        match = re.match(r"data:image/[a-z0-9.+-]+;base64,(.*)", urls[-1], re.S | re.I)
        try:
            if match is None:
                raise ValueError("not a data URL")
            with Image.open(io.BytesIO(base64.b64decode(match.group(1), validate=False))) as im:
                im.load()
                size = im.size
                grey = im.convert("RGBA")
                grey = Image.alpha_composite(Image.new("RGBA", grey.size, (255, 255, 255, 255)), grey).convert("L")
        except Exception:
            return _error(
                400,
                "You uploaded an unsupported image. Please make sure your image is valid.",
                param="messages",
                code="invalid_image_format",
            )
        stat = ImageStat.Stat(grey)
        mean, spread = stat.mean[0], stat.stddev[0]
        low, high = JUDGE_BRIGHTNESS_BAND
        passed = spread >= JUDGE_MIN_SPREAD and low <= mean <= high
        if passed:
            reason = f"The image shows visible content (grey-level spread {spread:.0f}, mean {mean:.0f} of 255)."
        else:
            reason = f"The image is nearly blank (grey-level spread {spread:.0f}, mean {mean:.0f} of 255)."
        content = json.dumps({"verdict": "pass" if passed else "fail", "reason": reason})
        prompt_tokens = sum(text_tokens(t) for t in texts) + sum(image_tokens(*size) for _ in urls)
        completion_tokens = text_tokens(content)
        return JSONResponse(
            {
                "id": "chatcmpl-sandbox" + uuid.uuid4().hex[:12],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            headers={"x-request-id": "req_sandbox_" + uuid.uuid4().hex[:12]},
        )

    # -- streaming and edits ---------------------------------------------

    def _stream(
        self, kind: str, finals: list[bytes], partials: int, delay: float, scenario: str, meta: dict[str, Any], usage: dict[str, Any]
    ) -> Response:
        """Server-sent events: ``partials`` coarse versions of the first image, then one completed event per image.

        ``network`` cuts the connection after the partials; ``bad_response`` ends
        the stream with no completed event; ``invalid_image`` completes with bytes
        that are no image; ``stream_error`` sends an error event."""
        gap = delay / (partials + 1)
        fmt = meta["output_format"]

        def sse(event_type: str, payload: dict[str, Any]) -> bytes:
            return f"event: {event_type}\ndata: {json.dumps({'type': event_type, **payload})}\n\n".encode()

        async def events():
            for index in range(partials):
                await asyncio.sleep(gap)
                b64 = base64.b64encode(coarse_version(finals[0], index, partials, fmt)).decode("ascii")
                yield sse(f"{kind}.partial_image", {"b64_json": b64, "partial_image_index": index, "created_at": int(time.time()), **meta})
                if scenario == "stream_error":
                    yield sse(
                        "error",
                        {
                            "error": {
                                "type": "server_error",
                                "code": "server_error",
                                "message": "The image worker failed while streaming. Please retry.",
                                "param": None,
                            }
                        },
                    )
                    return
            if scenario == "network":
                await asyncio.sleep(0.01)
                raise _DropConnection("sandbox cut the stream on purpose")
            await asyncio.sleep(gap)
            if scenario == "bad_response":
                return  # the stream just ends: no completed event
            if scenario == "invalid_image":
                junk = base64.b64encode(b"<html>this is certainly not an image</html>" * 4).decode()
                yield sse(f"{kind}.completed", {"b64_json": junk, "created_at": int(time.time()), "usage": usage, **meta})
                return
            for image in finals:
                b64 = base64.b64encode(image).decode("ascii")
                yield sse(f"{kind}.completed", {"b64_json": b64, "created_at": int(time.time()), "usage": usage, **meta})

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"x-request-id": "req_sandbox_" + uuid.uuid4().hex[:12], "cache-control": "no-cache"},
        )

    async def edit(self, request: Request) -> Response:
        """POST /v1/images/edits: multipart with image (or image[]), optional mask, and the usual fields."""
        from PIL import Image

        self.requests += 1
        cfg = self.config
        try:
            form = await request.form(max_files=64, max_fields=64)
        except Exception as err:  # not multipart, or a malformed form
            return _error(
                400,
                f"Could not parse the multipart form ({type(err).__name__}). Send multipart/form-data with an image.",
                code="invalid_multipart",
            )
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        uploads = [(k, v) for k, v in form.multi_items() if not isinstance(v, str)]
        prompt = fields.get("prompt", "")
        scenario = self._scenario_for(request, prompt)
        model = fields.get("model") or "gpt-image-1.5"
        early = self._early_faults(request, scenario, model)
        if early is not None:
            return early
        if not prompt.strip():
            return _error(400, "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
        if model not in SANDBOX_MODELS or scenario == "model_not_found":
            if scenario == "model_not_found":
                return _error(404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")
            return _error(
                400,
                f"Invalid value: '{model}'. Supported values are: {', '.join(repr(m) for m in SANDBOX_MODELS)}.",
                param="model",
                code="invalid_value",
            )
        images = [(await f.read(), f.filename or "image", f.content_type or "") for k, f in uploads if k in ("image", "image[]")]
        masks = [(await f.read(), f.filename or "mask", f.content_type or "") for k, f in uploads if k == "mask"]
        if not images:
            return _error(400, "Missing required parameter: 'image'.", param="image", code="missing_required_parameter")
        if len(images) > C.MAX_REFERENCE_IMAGES:
            return _error(
                400,
                f"Too many images: {len(images)} were provided, at most {C.MAX_REFERENCE_IMAGES} are allowed.",
                param="image",
                code="too_many_images",
            )
        for data, filename, _ctype in images:
            kind = _sniff(data)
            if kind not in ("image/png", "image/jpeg", "image/webp"):
                return _error(
                    400,
                    f"Invalid file '{filename}': unsupported mimetype ('{kind or 'application/octet-stream'}'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
                    param="image",
                    code="unsupported_file_mimetype",
                )
        try:
            with Image.open(io.BytesIO(images[0][0])) as im:
                first_size = im.size
        except Exception:
            return _error(400, f"Invalid image file '{images[0][1]}': the file could not be decoded.", param="image", code="invalid_image")
        mask = masks[0][0] if masks else None
        if mask is not None:
            if _sniff(mask) != "image/png":
                return _error(
                    400, f"Invalid file '{masks[0][1]}': the mask must be a PNG image.", param="mask", code="unsupported_file_mimetype"
                )
            with Image.open(io.BytesIO(mask)) as m:
                mask_size, mask_mode = m.size, m.mode
            if mask_size != first_size:
                return _error(
                    400,
                    f"Invalid mask image: the mask ({mask_size[0]}x{mask_size[1]}) and the image ({first_size[0]}x{first_size[1]}) must have the same dimensions.",
                    param="mask",
                    code="invalid_mask_dimensions",
                )
            if mask_mode not in ("RGBA", "LA", "PA"):
                return _error(
                    400, f"Invalid mask image: it must have an alpha channel; got mode {mask_mode}.", param="mask", code="invalid_mask"
                )
        fidelity = fields.get("input_fidelity")
        if fidelity is not None and (model == "gpt-image-2" or fidelity not in ("low", "high")):
            return _error(
                400,
                f"Invalid value for 'input_fidelity': {fidelity!r} is not supported with model {model}.",
                param="input_fidelity",
                code="invalid_value",
            )
        size = fields.get("size") or "auto"
        if check_size(size, model):
            return _error(400, f"Invalid value: '{size}'. {check_size(size, model)}", param="size", code="invalid_value")
        try:
            n = int(fields.get("n") or 1)
        except ValueError:
            n = 0
        if not 1 <= n <= 10:
            return _error(400, f"Invalid value for 'n': {fields.get('n')!r}; it must be from 1 to 10.", param="n", code="invalid_value")
        fmt = fields.get("output_format") or "png"
        if fmt not in ("png", "jpeg", "webp"):
            return _error(400, f"Invalid value: '{fmt}'.", param="output_format", code="invalid_value")
        compression = int(fields["output_compression"]) if (fields.get("output_compression") or "").isdigit() else None
        latency = request.headers.get("x-sandbox-latency")
        try:
            delay = float(latency) if latency is not None else random.uniform(*cfg.latency_s)
        except ValueError:
            delay = random.uniform(*cfg.latency_s)
        if scenario == "content_policy":
            return _error(
                400,
                "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
                type_="image_generation_user_error",
                code="moderation_blocked",
            )
        w, h = _answer_dims(size, prompt, first_size)
        results = [derive_edit(images[0][0], f"{prompt} #{i + 1}" if i else prompt, w, h, fmt, mask, compression) for i in range(n)]
        usage = _usage(
            prompt, n, image_tokens=194 * len(images), model=str(model), size=f"{w}x{h}", quality=str(fields.get("quality") or "auto")
        )
        if fields.get("stream") == "true":
            try:
                partials = int(fields.get("partial_images") or 0)
            except ValueError:
                partials = -1
            if not 0 <= partials <= C.MAX_PARTIAL_IMAGES:
                return _error(
                    400,
                    f"Invalid 'partial_images': {fields.get('partial_images')!r}. Expected an integer between 0 and {C.MAX_PARTIAL_IMAGES}.",
                    param="partial_images",
                    code="invalid_value",
                )
            meta = {
                "size": f"{w}x{h}",
                "quality": fields.get("quality") or "auto",
                "background": fields.get("background") or "auto",
                "output_format": fmt,
            }
            return self._stream("image_edit", results, partials, delay, scenario, meta, usage)
        await asyncio.sleep(delay)
        return JSONResponse(
            {
                "created": int(time.time()),
                "data": [{"b64_json": base64.b64encode(r).decode("ascii")} for r in results],
                "usage": usage,
                "size": f"{w}x{h}",
                "output_format": fmt,
            },
            headers={"x-request-id": "req_sandbox_" + uuid.uuid4().hex[:12]},
        )

    def _early_faults(self, request: Request, scenario: str, model: Any) -> Response | None:
        """Faults answered before the parameters are even read (shared by generations and edits)."""
        cfg = self.config
        denied = self._auth_problem(request, scenario)
        if denied is not None:
            return denied
        wait = self._rate_window(cfg)
        if wait is not None:
            return self._rate_limited(wait)
        if scenario == "permission":
            return _error(
                403,
                f"Your organization must be verified to use the model `{model}`. Please go to the organization settings and verify it; access can take up to 15 minutes to propagate.",
            )
        if scenario == "endpoint_not_found":
            return HTMLResponse(_NGINX_404, status_code=404)
        if scenario == "quota_exceeded":
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                type_="insufficient_quota",
                code="insufficient_quota",
            )
        if scenario == "rate_limited" and self._count("rate_limited") % 2 == 1:
            return self._rate_limited(cfg.retry_after_s)
        if scenario == "rate_limited_always":
            return self._rate_limited(cfg.retry_after_s)
        if scenario == "server_error":
            return HTMLResponse(_BAD_GATEWAY, status_code=502)
        return None

    def _rate_limited(self, wait: float) -> Response:
        return _error(
            429,
            "Rate limit reached for images per minute (IPM): Limit 5, Used 5, Requested 1. Please try again shortly.",
            type_="requests",
            code="rate_limit_exceeded",
            headers={"retry-after": str(max(1, math.ceil(wait))), "retry-after-ms": str(int(wait * 1000))},
        )

    # -- tasks ------------------------------------------------------------------

    def add_task(self, task_id: str, scenario: str, dialect: str, args: tuple, model: Any, **fields: Any) -> None:
        """A task the sandbox runs, in any of its task shapes: it ends after the configured task time (a slow
        one after SANDBOX_SLOW_LATENCY_S); ``args`` make its image; ``fields`` are the shape's own."""
        task = {
            "created": time.monotonic(),
            "duration": self.config.task_duration_s if scenario != "slow" else C.SANDBOX_SLOW_LATENCY_S,
            "scenario": scenario,
            "dialect": dialect,
            "args": args,
            "model": model,
            "urls": None,
            **fields,
        }
        with self._lock:
            self._tasks[task_id] = task

    def _new_task(self, dialect, scenario, prompt, size, fmt, transparent, compression, n, model) -> Response:
        task_id = ("task-" if dialect == "task_b" else "") + uuid.uuid4().hex[:20]
        self.add_task(task_id, scenario, dialect, (prompt, size, fmt, transparent, compression, n), model)
        if scenario not in ("content_policy", "task_failed"):
            # Like a real provider, the image is made while the task runs, so the poll
            # that sees "completed" can hand it over at once (render_image is cached).
            w, h = _answer_dims(size, prompt)
            threading.Thread(
                target=lambda: [render_image(prompt, w, h, fmt, transparent, i, compression) for i in range(n)],
                name="sandbox-task-render",
                daemon=True,
            ).start()
        if dialect == "task_a":
            return JSONResponse({"data": {"task_id": task_id, "status": "pending"}})
        return JSONResponse({"id": task_id, "object": "image.generation.task", "status": "pending", "progress": 0, "model": model})

    def _task_view(self, request: Request, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            return None
        elapsed = time.monotonic() - task["created"]
        if elapsed < task["duration"]:
            progress = min(99, int(elapsed / max(task["duration"], 1e-6) * 100))
            return {"status": "pending" if progress < 20 else "processing", "progress": progress}
        if task["scenario"] == "content_policy":
            return {
                "status": "failed",
                "error": "content_policy_violation",
                "code": "content_policy_violation",
                "message": "The prompt was flagged by the content safety system.",
            }
        if task["scenario"] == "task_failed":
            return {
                "status": "failed",
                "error": "internal_error",
                "code": "internal_error",
                "message": "The image worker crashed while generating.",
            }
        if task["urls"] is None:
            prompt, size, fmt, transparent, compression, n = task["args"]
            w, h = _answer_dims(size, prompt)
            mime = "image/jpeg" if fmt == "jpeg" else f"image/{fmt}"
            ttl = -1.0 if task["scenario"] == "image_fetch_failed" else self.config.url_ttl_s
            base = str(request.base_url).rstrip("/")
            task["urls"] = [
                f"{base}/files/{self._keep_file(render_image(prompt, w, h, fmt, transparent, i, compression), mime, ttl)}" for i in range(n)
            ]
        return {"status": "completed", "progress": 100, "urls": task["urls"]}

    async def task_a(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        view = self._task_view(request, task_id)
        if view is None:
            return _error(404, f"Task {task_id} not found.", code="task_not_found")
        data: dict[str, Any] = {"task_id": task_id, "status": view["status"], "progress": view["progress"] if "progress" in view else None}
        if view["status"] == "completed":
            urls = view["urls"]
            if len(urls) == 1:
                data["image_url"] = urls[0]
            else:
                data["image_urls"] = urls
        elif view["status"] == "failed":
            data["error"] = view["error"]
        return JSONResponse({"data": data})

    async def task_b(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        view = self._task_view(request, task_id)
        if view is None:
            return _error(404, f"Task {task_id} not found.", code="task_not_found")
        out: dict[str, Any] = {
            "id": task_id,
            "object": "image.generation.task",
            "status": view["status"],
            "progress": view.get("progress", 0),
        }
        if view["status"] == "completed":
            out["results"] = view["urls"]
        elif view["status"] == "failed":
            out["error"] = {"code": view["code"], "message": view["message"]}
        return JSONResponse(out)

    async def file(self, request: Request) -> Response:
        token = request.path_params["token"]
        with self._lock:
            entry = self._files.get(token)
        if entry is None:
            return HTMLResponse(_NGINX_404, status_code=404)
        data, mime, expires = entry
        if time.time() > expires:
            return Response(
                b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                status_code=410,
                media_type="application/xml",
            )
        return Response(data, media_type=mime)

    # -- EvoLink's shapes: tasks, ratio sizes, image_urls, and the file API on a host of its own --------------
    #
    # Under SANDBOX_EVOLINK_PATH the sandbox answers as EvoLink does: a task object for POST .../images/generations,
    # polled at .../tasks/{id}. References come as image_urls, which it reads only from its own file host:
    # ``files_app``, served on a second port, takes EvoLink's base64 upload and serves the files back.

    def _evolink_init(self) -> None:
        self._uploads: OrderedDict[str, tuple[bytes, str, float]] = OrderedDict()
        self.files_root = ""  # scheme://host:port of the file host, set when it is served
        self.upload_fault: str | None = None  # one of UPLOAD_FAULTS: how the file API misbehaves
        self.uploads = 0  # uploads answered, faults included
        self.files_app = Starlette(
            routes=[
                Route(EVOLINK_UPLOAD_PATH, self.evolink_upload, methods=["POST"]),
                Route("/files/{token}", self.evolink_file, methods=["GET"]),
            ],
            exception_handlers={404: self._nginx_404},
        )

    async def _nginx_404(self, request: Request, exc: Exception) -> Response:
        return HTMLResponse(_NGINX_404, status_code=404)

    def _evolink_routes(self) -> list[Route]:
        return [
            Route(SANDBOX_EVOLINK_PATH + "/images/generations", self.evolink_generate, methods=["POST"]),
            Route(SANDBOX_EVOLINK_PATH + "/tasks/{task_id}", self.evolink_task, methods=["GET"]),
        ]

    def fail_uploads(self, fault: str | None) -> None:
        """Make the file API misbehave (one of UPLOAD_FAULTS), or answer normally again (None)."""
        if fault is not None and fault not in UPLOAD_FAULTS:
            raise ValueError(f"unknown upload fault {fault!r}; one of {', '.join(UPLOAD_FAULTS)}")
        self.upload_fault = fault

    async def evolink_upload(self, request: Request) -> Response:
        """POST /api/v1/files/upload/base64: {"base64_data": "data:image/png;base64,..."} -> the file's link."""
        self.uploads += 1
        fault = self.upload_fault
        header = request.headers.get("authorization") or ""
        if fault == "auth" or not re.fullmatch(r"Bearer \S+", header):
            return JSONResponse({"success": False, "code": 401, "msg": "Invalid or missing API key."}, status_code=401)
        if fault == "server_error":
            return HTMLResponse(_BAD_GATEWAY, status_code=502)
        if fault == "network":
            return _dropped(b'{"success": true, "code": 200, "data": {"file_url": "')
        if fault == "bad_response":
            return JSONResponse({"success": True, "code": 200, "data": {"file_name": "upload.png"}})
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"success": False, "code": 400, "msg": "The body is not JSON."}, status_code=400)
        raw = body.get("base64_data") if isinstance(body, dict) else None
        m = re.fullmatch(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", raw or "", re.S)
        try:
            data = base64.b64decode(m.group(2), validate=True) if m else b""
        except ValueError:
            data = b""
        if not data:
            return JSONResponse(
                {"success": False, "code": 400, "msg": "base64_data must be a data URL: data:<type>;base64,<data>."}, status_code=400
            )
        if len(data) > C.MAX_REFERENCE_IMAGE_BYTES:
            return JSONResponse({"success": False, "code": 413, "msg": "The file is over 50 MB."}, status_code=413)
        mime = _sniff(data)
        if fault == "invalid_image" or mime not in ("image/png", "image/jpeg", "image/webp"):
            return JSONResponse(
                {"success": False, "code": 400, "msg": "Unsupported file type: only jpeg, png and webp images are accepted."},
                status_code=400,
            )
        token = uuid.uuid4().hex
        expires = time.time() + EVOLINK_FILE_LINK_S
        with self._lock:
            self._uploads[token] = (data, mime, expires)
            while len(self._uploads) > C.SANDBOX_KEPT_FILES:
                self._uploads.popitem(last=False)
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[mime]
        url = f"{self.files_root or str(request.base_url).rstrip('/')}/files/{token}.{ext}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        return JSONResponse(
            {
                "success": True,
                "code": 200,
                "msg": "upload succeeded",
                "data": {
                    "file_id": f"file_{token[:16]}",
                    "file_name": f"{token}.{ext}",
                    "original_name": str(body.get("file_name") or f"upload.{ext}")[:120],
                    "file_size": len(data),
                    "mime_type": mime,
                    "upload_path": str(body.get("upload_path") or "images")[:120],
                    "file_url": url,
                    "download_url": url,
                    "upload_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "expires_at": stamp,
                },
            }
        )

    def _uploaded(self, url: str) -> tuple[bytes, str] | None:
        """The bytes behind a link of this sandbox's file host (None: not one of its links, or expired)."""
        if not self.files_root or not isinstance(url, str) or not url.startswith(self.files_root + "/files/"):
            return None
        token = url[len(self.files_root + "/files/") :].split(".", 1)[0]
        with self._lock:
            entry = self._uploads.get(token)
        if entry is None or time.time() > entry[2]:
            return None
        return entry[0], entry[1]

    async def evolink_file(self, request: Request) -> Response:
        found = self._uploaded(f"{self.files_root}/files/{request.path_params['token']}")
        if found is None:
            return HTMLResponse(_NGINX_404, status_code=404)
        return Response(found[0], media_type=found[1])

    async def evolink_generate(self, request: Request) -> Response:
        """POST .../images/generations in EvoLink's shape: checks as its documentation states them, then a task."""
        from PIL import Image

        self.requests += 1
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        prompt = body.get("prompt")
        scenario = self._scenario_for(request, prompt if isinstance(prompt, str) else "")
        model = body.get("model")
        if request.headers.get("authorization") is None:
            return _error(401, "Authorization header is missing: send Authorization: Bearer <key>.", code="unauthorized")
        early = self._early_faults(request, scenario, model)
        if early is not None:
            return early
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(400, "prompt is required.", param="prompt", code="invalid_parameter")
        served = get_provider("evolink").models
        if model not in served or scenario == "model_not_found":
            return _error(404, f"Model '{model}' is not available. Available models: {', '.join(served)}.", code="model_not_found")
        rules = route("evolink", str(model))
        size = str(body.get("size") or "auto")
        problem = check_size(size, str(model), "evolink")
        if problem or scenario == "bad_request":
            return _error(400, f"Invalid size '{size}'. {problem or ''}".strip(), param="size", code="invalid_parameter")
        resolution = body.get("resolution")
        if resolution is not None and resolution not in rules.sizes.resolutions:
            return _error(
                400, f"resolution must be one of {', '.join(rules.sizes.resolutions)}.", param="resolution", code="invalid_parameter"
            )
        n = body.get("n", 1)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= rules.limits.max_n:
            return _error(400, f"n must be from 1 to {rules.limits.max_n} for {model}.", param="n", code="invalid_parameter")
        if "quality" in body and body["quality"] not in rules.limits.qualities:
            return _error(
                400, f"quality is not one {model} takes: {', '.join(rules.limits.qualities)}.", param="quality", code="invalid_parameter"
            )
        urls = body.get("image_urls")
        refs: list[tuple[bytes, str]] = []
        if urls is not None:
            if not isinstance(urls, list) or not 1 <= len(urls) <= C.MAX_REFERENCE_IMAGES:
                return _error(
                    400, f"image_urls must list 1 to {C.MAX_REFERENCE_IMAGES} URLs.", param="image_urls", code="invalid_parameter"
                )
            for i, url in enumerate(urls):
                found = self._uploaded(url)
                if found is None:
                    return _error(
                        400,
                        f"image_urls[{i}] could not be downloaded; this sandbox reads only the links of its own file host.",
                        param="image_urls",
                        code="image_download_failed",
                    )
                refs.append(found)
        if size == "auto" and refs:
            with Image.open(io.BytesIO(refs[0][0])) as first:
                w, h = first.size
        elif size == "auto":
            w, h = 1024, 1024
        elif size in EVOLINK_RATIOS:
            w, h = ratio_pixels(size, resolution)
        else:
            w, h = _parse_dims(size)
        if "#wrong_size" in prompt.lower():
            w, h = wrong_size(w, h)
        broken = await self._evolink_submission_fault(scenario)
        if broken is not None:
            return broken
        failing = scenario in ("content_policy", "task_failed")
        ttl = -1.0 if scenario == "image_fetch_failed" else self.config.url_ttl_s

        def make() -> list[str]:
            if scenario == "invalid_image":  # the task completes; its result is not an image
                return [self._keep_file(b"<html>this is certainly not an image</html>" * 4, "image/png", ttl) for _ in range(n)]
            if refs:
                images = [derive_edit(refs[0][0], f"{prompt} #{i + 1}" if i else prompt, w, h, "png", None, None) for i in range(n)]
            else:
                images = [render_image(prompt, w, h, "png", False, i, None) for i in range(n)]
            return [self._keep_file(img, "image/png", ttl) for img in images]

        tokens = [] if failing else await asyncio.to_thread(make)
        base = str(request.base_url).rstrip("/")
        task_id = _evolink_task_id()
        self.add_task(
            task_id, scenario, "evolink", (prompt, f"{w}x{h}", "png", False, None, n), model, urls=[f"{base}/files/{t}" for t in tokens]
        )
        return JSONResponse(
            {
                "created": int(time.time()),
                "id": task_id,
                "model": model,
                "object": "image.generation.task",
                "progress": 0,
                "status": "pending",
                "task_info": {"can_cancel": True, "estimated_time": max(1, round(self.config.task_duration_s))},
                "type": "image",
                "usage": {"billing_rule": "per_call", "credits_reserved": 2.5 * n, "user_group": "default"},
            }
        )

    async def _evolink_submission_fault(self, scenario: str) -> Response | None:
        """The faults that act on the submission itself: no answer in time, a dropped connection, a cut answer."""
        if scenario == "timeout":
            await asyncio.sleep(self.config.hang_s)
        if scenario == "network":
            return _dropped(f'{{"created": {int(time.time())}, "id": "task-unified-'.encode())
        if scenario == "bad_response":  # cut off in the middle of the task object
            cut = f'{{"created": {int(time.time())}, "id": "{_evolink_task_id()}", "object": "image.gen'
            return Response(cut.encode(), media_type="application/json")
        return None

    async def evolink_task(self, request: Request) -> Response:
        """GET .../tasks/{id}: EvoLink's task object; ``results`` once completed, an ``error`` object once failed."""
        task_id = request.path_params["task_id"]
        with self._lock:
            task = self._tasks.get(task_id)
        view = self._task_view(request, task_id) if task is not None and task["dialect"] == "evolink" else None
        if view is None:
            return _error(404, f"Task {task_id} not found.", code="task_not_found")
        out: dict[str, Any] = {
            "created": int(time.time()),
            "id": task_id,
            "model": task["model"],
            "object": "image.generation.task",
            "progress": view.get("progress", 0),
            "status": view["status"],
            "type": "image",
        }
        if view["status"] == "completed":
            out["results"] = view["urls"]
        elif view["status"] == "failed":
            out["error"] = {"code": view["code"], "message": view["message"], "type": "task_error"}
        return JSONResponse(out)


# --------------------------------------------------------------------------
# A gateway's own task API (not OpenAI's): a create route, a poll route with the task id in
# the query string, ``state`` words, and the result URLs inside a JSON-encoded string.
#
#   POST /api/v1/jobs/createTask  {"model", "input": {"prompt", "size", "n", "output_format"}}
#     -> {"code": 200, "msg": "success", "data": {"taskId": "..."}}
#   GET  /api/v1/jobs/recordInfo?taskId=...
#     -> {"code": 200, "data": {"taskId", "state": "waiting|generating|success|fail",
#                               "resultJson": "{\"resultUrls\": [...]}", "failCode", "failMsg"}}
#
# A dialect file describes it (README, "Connecting a gateway"). Faults: the scenarios that
# act before a request is read (auth, rate limits, quota, 5xx...), ``task_failed`` and
# ``content_policy`` (the task ends in ``fail``), and two of its own, by the
# ``X-Sandbox-Job-Fault`` header or a ``#tag`` in the prompt.

TASK_APIS = {
    "jobs": "A gateway's own task API: POST /api/v1/jobs/createTask, GET /api/v1/jobs/recordInfo?taskId=..., "
    "state words waiting / generating / success / fail, result URLs in the JSON string resultJson.",
}
JOB_FAULTS = {
    "bad_result_json": "The task succeeds, but resultJson is cut off: not valid JSON.",
    "unknown_state": "The task reports a state word the dialect does not list ('paused').",
}
JOBS_CREATE_PATH = "/api/v1/jobs/createTask"
JOBS_POLL_PATH = "/api/v1/jobs/recordInfo"


def _job_answer(code: int, msg: str, data: Any = None, *, status: int = 200) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg, "data": data}, status_code=status)


def _job_fault(request: Request, prompt: str) -> str | None:
    header = request.headers.get("x-sandbox-job-fault")
    if header in JOB_FAULTS:
        return header
    return next((tag for tag in _TAG.findall(prompt.lower()) if tag in JOB_FAULTS), None)


def jobs_routes(sandbox: Sandbox) -> list[Route]:
    """The task API's two routes, served by every sandbox beside the OpenAI-compatible ones."""

    async def create(request: Request) -> Response:
        sandbox.requests += 1
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _job_answer(400, "request body is not valid JSON")
        inputs = body.get("input") if isinstance(body, dict) else None
        if not isinstance(inputs, dict):
            return _job_answer(422, "input is required: an object with prompt, size, n")
        prompt = inputs.get("prompt")
        scenario = sandbox._scenario_for(request, prompt if isinstance(prompt, str) else "")
        early = sandbox._early_faults(request, scenario, body.get("model"))
        if early is not None:
            return early
        if not isinstance(prompt, str) or not prompt.strip():
            return _job_answer(422, "input.prompt is required")
        model = body.get("model")
        if model not in SANDBOX_MODELS:
            return _job_answer(422, f"model '{model}' is not supported")
        size = str(inputs.get("size") or "auto")
        if check_size(size, str(model)):
            return _job_answer(422, f"input.size '{size}': {check_size(size, str(model))}")
        n = inputs.get("n", 1)
        if isinstance(n, str) and n.isdigit():
            n = int(n)
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
            return _job_answer(422, f"input.n must be from 1 to 10, not {n!r}")
        fmt = str(inputs.get("output_format") or "png")
        if fmt not in ("png", "jpeg", "webp"):
            return _job_answer(422, f"input.output_format '{fmt}' is not supported")
        task_id = uuid.uuid4().hex[:24]
        sandbox.add_task(task_id, scenario, "jobs", (prompt, size, fmt, False, None, n), model, fault=_job_fault(request, prompt))
        return _job_answer(200, "success", {"taskId": task_id})

    async def record_info(request: Request) -> Response:
        task_id = request.query_params.get("taskId", "")
        if not task_id:
            return _job_answer(422, "taskId is required")
        scenario = sandbox._scenario_for(request, "")
        denied = sandbox._auth_problem(request, scenario)
        if denied is not None:
            return denied
        with sandbox._lock:
            task = sandbox._tasks.get(task_id)
        if task is None or task.get("dialect") != "jobs":
            return _job_answer(404, f"task {task_id} not found")
        view = sandbox._task_view(request, task_id)
        assert view is not None
        data: dict[str, Any] = {"taskId": task_id, "model": task["model"], "param": json.dumps({"prompt": task["args"][0]})}
        fault = task.get("fault")
        if view["status"] in ("pending", "processing"):
            data["state"] = "waiting" if view["status"] == "pending" else "generating"
            data["progress"] = view.get("progress", 0)
        elif view["status"] == "failed":
            data.update(state="fail", failCode=view["code"], failMsg=view["message"])
        elif fault == "unknown_state":
            data["state"] = "paused"
        else:
            result = json.dumps({"resultUrls": view["urls"]})
            data.update(state="success", progress=100, resultJson=result[: len(result) // 2] if fault == "bad_result_json" else result)
        return _job_answer(200, "success", data)

    return [Route(JOBS_CREATE_PATH, create, methods=["POST"]), Route(JOBS_POLL_PATH, record_info, methods=["GET"])]


# --------------------------------------------------------------------------
# Serving


class SandboxServer:
    """The sandbox served by uvicorn on loopback, in a background thread."""

    def __init__(self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, files_port: int = 0) -> None:
        self.sandbox = Sandbox(config)
        self.host = host
        self._requested_port = port
        self._requested_files_port = files_port  # EvoLink's file host; 0: any free port
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def configure(self, **changes: Any) -> SandboxConfig:
        return self.sandbox.configure(**changes)

    def start(self, timeout: float = 10.0, *, lazy: bool = False) -> SandboxServer:
        """Serve on loopback in a background thread. ``lazy``: listen at once (the address
        is known, connections wait in the backlog) but load and start the server only
        when the first connection comes, so an app that never uses the sandbox never
        pays for it."""
        sock = self.listen()
        if lazy:
            self._thread = threading.Thread(target=self._serve_when_called, args=(sock,), name=f"sandbox:{self.port}", daemon=True)
            self._thread.start()
            return self
        self._thread = threading.Thread(target=self._run, args=(sock,), name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while self._server is None or not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)
        return self

    def listen(self) -> list[socket.socket]:
        """Bind both ports (the API, then EvoLink's file host): their addresses are known from here on."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        try:
            sockets = self._with_files_host(sock)
        except OSError:
            sock.close()
            raise
        self._stopping = threading.Event()
        return sockets

    def _run(self, sock: list[socket.socket]) -> None:
        import uvicorn

        config = uvicorn.Config(
            self._app, interface="asgi3", log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        if self._stopping.is_set():
            for one in sock:
                one.close()
            return
        self._server.run(sockets=sock)

    def _serve_when_called(self, sock: list[socket.socket]) -> None:
        import select

        while not self._stopping.is_set():
            ready, _, _ = select.select(sock, [], [], 0.2)
            if ready:
                self._run(sock)
                return
        for one in sock:
            one.close()

    # -- EvoLink's file host: a second port of the same server ------------------

    def _with_files_host(self, sock: socket.socket) -> list[socket.socket]:
        """Listen on a second port for EvoLink's file API, and name it as the file host of this sandbox's API."""
        files = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        files.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        files.bind((self.host, self._requested_files_port))
        files.listen(128)
        self.files_port = files.getsockname()[1]
        self.sandbox.files_root = f"http://{self.host}:{self.files_port}"
        bind_files_root(self.url, self.sandbox.files_root)
        return [sock, files]

    @property
    def evolink_base_url(self) -> str:
        """The base URL for the EvoLink preset to rehearse on this sandbox."""
        return self.url + SANDBOX_EVOLINK_PATH

    def face_for(self, provider_id: str) -> str:
        """The base URL that answers in a provider's shapes: EvoLink's face for EvoLink, else the OpenAI one."""
        return self.evolink_base_url if provider_id == "evolink" else self.base_url

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        port = (scope.get("server") or (None, None))[1]
        app = self.sandbox.files_app if port == getattr(self, "files_port", None) else self.sandbox.app
        await app(scope, receive, send)

    def stop(self) -> None:
        stopping = getattr(self, "_stopping", None)
        if stopping is not None:
            stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.port is not None:
            unbind_files_root(self.url)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


FILES_PORT_HELP = (
    "the port of EvoLink's file host, which takes the uploads of an EvoLink edit rehearsed here "
    "(default: the next port, or any free one when it is taken; 0: any free port)"
)


def serve(
    port: int,
    *,
    host: str = "127.0.0.1",
    scenario: str = "healthy",
    dialect: str = "b64",
    latency: float | None = None,
    files_port: int | None = None,
    out: Any = None,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C: the API on ``port``, EvoLink's file host on
    ``files_port`` (default: the next port), both printed."""
    config = SandboxConfig(scenario=scenario, dialect=dialect)
    if latency is not None:
        config.latency_s = (latency, latency)
    config.validate()
    server = SandboxServer(config, host=host, port=port, files_port=files_port if files_port is not None else port + 1 if port else 0)
    try:
        try:
            sockets = server.listen()
        except OSError:
            if files_port is not None or not port:
                raise
            server._requested_files_port = 0  # the next port is taken: any free one (it is printed, and discoverable)
            sockets = server.listen()
    except OSError as err:
        ports = f"{port} and {files_port}" if files_port is not None else str(port)
        raise SystemExit(f"The sandbox cannot listen on {host} (port {ports}): {err.strerror or err}") from None
    for line in serve_banner(server, scenario=scenario, dialect=dialect):
        print(line, file=out or sys.stdout, flush=True)
    try:
        server._run(sockets)
    finally:
        unbind_files_root(server.url)


def serve_banner(server: SandboxServer, *, scenario: str, dialect: str) -> list[str]:
    """What a sandbox started by hand prints: where each of its faces answers."""
    return [
        f"Image Prompt Lab sandbox on {server.base_url}  (scenario: {scenario}, delivery: {dialect})",
        f"  EvoLink's shapes:     {server.evolink_base_url}  (the EvoLink provider's base URL for a rehearsal)",
        f"  EvoLink's file host:  {server.sandbox.files_root}{EVOLINK_UPLOAD_PATH}  (uploads of reference images)",
        f"  A gateway's task API: {server.url}{JOBS_CREATE_PATH}  (the README's worked dialect file; Custom provider, "
        f"base URL {server.url})",
    ]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a sandbox started by hand (``imagelab sandbox`` and ``python -m lib.sandbox``)."""
    parser.add_argument("--port", type=int, default=8765, help="the port of the image API (default: 8765)")
    parser.add_argument("--files-port", type=int, default=None, metavar="PORT", help=FILES_PORT_HELP)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--scenario", default="healthy", choices=list(SCENARIOS))
    parser.add_argument(
        "--dialect",
        default="b64",
        choices=list(DIALECTS),
        help="how the OpenAI routes hand back images; EvoLink's shapes and the task API are served beside them",
    )
    parser.add_argument("--latency", type=float, default=None, metavar="SECONDS", help="seconds per answer (default: 1-3 s at random)")


def serve_from(args: argparse.Namespace) -> None:
    serve(
        args.port,
        host=args.host,
        scenario=args.scenario,
        dialect=args.dialect,
        latency=args.latency,
        files_port=args.files_port,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lib.sandbox",
        description="A local image API that misbehaves on demand, with EvoLink's file host on a second port.",
    )
    add_serve_arguments(parser)
    serve_from(parser.parse_args(argv))


if __name__ == "__main__":
    main()
