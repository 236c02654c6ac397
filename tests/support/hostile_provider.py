"""A hostile image provider, served over loopback for tests and benchmarks/hostile.py.

It speaks the OpenAI-compatible API badly on purpose. Each probe is a path
prefix: the base URL ``http://127.0.0.1:<port>/<probe>/v1`` selects what it
does; hostile_probes.PROBES names every probe, what it does and how the app
must end a generation sent to it. It echoes the key it receives (and fragments and case variants of it)
into every field of every answer shape, sends bombs, endless and slow bodies,
absurd Retry-After values, internal URLs, redirect loops, task ids that climb
out of the path, and images that lie about themselves.

Loopback only, every loop bounded (by size or time): each probe ends by itself
even if the client never hangs up. ``internal`` is a second loopback server
standing for an internal service that must never be reached (it counts hits).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.hostile_probes import PROBES
from tests.support.wait_until import wait_until

SLOW_BYTE_EVERY_S = 0.25  # a slow body trickles one byte this often...
SLOW_MAX_S = 30.0  # ...for at most this long
ENDLESS_MAX_BYTES = 1024 * 1024 * 1024  # an "endless" body stops after 1 GB
BOMB_INFLATED_BYTES = 256 * 1024 * 1024  # the tests' gzip bomb inflates to 256 MB (~260 KB sent); the benchmark's to 4 GB
PARTIAL_EVERY_S = 0.05  # an endless stream sends a ~1 MB partial image this often
BIG_PARTIAL_B64 = 1024 * 1024  # characters of base64 in each of those partials
MANY = 300  # images sent by the probes that decide the count themselves
BUDGET_HEADERS = {  # OpenAI's rate-limit headers, the request budget spent
    "x-ratelimit-limit-requests": "50",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1s",
    "x-ratelimit-limit-tokens": "40000",
    "x-ratelimit-remaining-tokens": "38000",
    "x-ratelimit-reset-tokens": "6m0s",
}


# Markdown, LaTeX, directives and HTML that must render literally wherever they are shown.
MARKUP = "![x](http://127.0.0.1:9/px.png) `tick` $E=mc^2$ :red[RED] <img src=http://127.0.0.1:9/h.png>"
MARKUP_MARKERS = ("![x](", "`tick`", "$E=mc^2$", ":red[", "<img")


def key_variants(key: str) -> list[str]:
    """The key and what a provider might echo of it: cut, re-cased, fragmented."""
    half = len(key) // 2
    return [
        key,
        key[:-1],  # minus one character
        key[1:],
        key.upper(),
        key.lower(),
        key.swapcase(),
        key[half - 4 : half + 4],  # an 8-character fragment from the middle
        key[-9:],
        f"{key[:half]}...{key[half:]}",  # split in two
    ]


def sse(kind: str, **payload: Any) -> bytes:
    """One server-sent event as the Images API writes it."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()


def _flood_block(size: int = 64 * 1024) -> bytes:
    """Tiny events of many unknown types, with tiny (broken) partial images among them."""
    unit = b"".join(sse(f"vendor.tick.{i}", n=i) for i in range(40))
    unit += sse("image_generation.partial_image", b64_json="AAAA", partial_image_index=0) + b": keep-alive\n\n"
    return unit * (size // len(unit) + 1)


def _png(w: int = 8, h: int = 8) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (90, 20, 160)).save(buf, "PNG")
    return buf.getvalue()


def _png_with_text(text: str) -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 160, 90)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def lying_png(width: int = 4000, height: int = 4000) -> bytes:
    """A small PNG whose header claims ``width``x``height`` and whose IDAT is broken
    (a valid zlib stream that ends long before the pixels do): passes verify()."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x7f" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _gzip_bomb(inflated: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (4 * 1024 * 1024)
    parts = [z.compress(zeros) for _ in range(inflated // len(zeros))]
    parts.append(z.flush())
    return b"".join(parts)


class _Internal(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        body = _png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class HostileProvider:
    """Start with ``start()``; ``base_url(probe)`` is the base URL of one probe."""

    host: str = "127.0.0.1"
    port: int | None = None
    seen_keys: list[str] = field(default_factory=list)
    seen_paths: list[str] = field(default_factory=list)
    bomb_inflated: int = BOMB_INFLATED_BYTES
    _bomb: bytes | None = None

    # -- serving -----------------------------------------------------------------

    def start(self) -> HostileProvider:
        self.internal = ThreadingHTTPServer(("127.0.0.1", 0), _Internal)
        self.internal_url = f"http://127.0.0.1:{self.internal.server_address[1]}"
        threading.Thread(target=self.internal.serve_forever, daemon=True, name="hostile-internal").start()
        self.bomb()  # made once, before any probe is timed
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/{probe}/v1/images/generations", self.generate, methods=["POST"]),
                Route("/{probe}/v1/images/generations/{task_id:path}", self.poll, methods=["GET"]),
                Route("/{probe}/v1/tasks/{task_id:path}", self.poll, methods=["GET"]),
                Route("/{probe}/files/{name:path}", self.file, methods=["GET"]),
                Route("/{rest:path}", self.anything, methods=["GET", "POST"]),
            ]
        )
        config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="hostile")
        self._thread.start()
        wait_until(lambda: self._server.started, timeout=10, interval=0.01, message="the hostile provider did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self.internal.shutdown()
        self._thread.join(timeout=5)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, probe: str) -> str:
        if probe not in PROBES:
            raise ValueError(f"no probe {probe!r}: the probes are listed in tests/support/hostile_probes.py")
        return f"{self.origin}/{probe}/v1"

    @property
    def internal_hits(self) -> list[str]:
        return _Internal.hits

    def bomb(self) -> bytes:
        if self._bomb is None:
            self._bomb = _gzip_bomb(self.bomb_inflated)
        return self._bomb

    # -- helpers -----------------------------------------------------------------

    def _key(self, request: Request) -> str:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else auth
        self.seen_keys.append(key)
        return key or "no-key-was-sent"

    def _echo(self, key: str) -> str:
        return " | ".join(key_variants(key))

    def _headers(self, key: str) -> dict[str, str]:
        v = key_variants(key)
        return {"x-request-id": v[0], "request-id": v[3], "cf-ray": v[1], "x-echo": v[5], "openai-organization": v[6]}

    def _error_body(self, key: str) -> dict[str, Any]:
        v = key_variants(key)
        return {"error": {"message": f"Invalid key {self._echo(key)}", "type": v[3], "param": v[1], "code": v[0], "key": v[4]}}

    # -- routes --------------------------------------------------------------------

    async def generate(self, request: Request) -> Response:
        probe = request.path_params["probe"]
        key = self._key(request)
        v = key_variants(key)
        h = self._headers(key)
        origin = self.origin
        b64 = base64.b64encode(_png()).decode()
        if probe == "echo_400":
            return JSONResponse(self._error_body(key), status_code=400, headers=h)
        if probe == "echo_401":
            return JSONResponse(self._error_body(key), status_code=401, headers=h)
        if probe == "echo_429":
            return JSONResponse(self._error_body(key), status_code=429, headers=dict(h, **{"retry-after": "0"}))
        if probe == "echo_html":
            page = f"<html><head><title>{v[0]}</title></head><body><h1>502 {v[3]}</h1><p>{self._echo(key)}</p></body></html>"
            return Response(page, status_code=502, media_type="text/html", headers=h)
        if probe == "echo_text":
            return Response(f"upstream said: {self._echo(key)}", status_code=503, media_type="text/plain", headers=h)
        if probe == "echo_malformed":
            return Response(
                f'{{"data": [{{"b64_json": "{v[0]}", "note": "{self._echo(key)}"', status_code=200, media_type="application/json", headers=h
            )
        if probe == "echo_200_error":
            return JSONResponse(self._error_body(key), status_code=200, headers=h)
        if probe == "echo_usage":
            return JSONResponse(
                {
                    "data": [{"b64_json": b64, "revised_prompt": f"![x](http://{v[6]}.example/p.png) {self._echo(key)}"}],
                    "usage": {"total_tokens": 7, v[0]: v[3], "note": self._echo(key)},
                },
                headers=h,
            )
        if probe == "echo_url":
            return JSONResponse({"data": [{"url": f"{origin}/{probe}/files/{v[1]}.png?token={v[0]}&X-Amz-Signature={v[3]}"}]}, headers=h)
        if probe == "echo_png_text":
            return JSONResponse({"data": [{"b64_json": base64.b64encode(_png_with_text(self._echo(key))).decode()}]}, headers=h)
        if probe in ("echo_task_a", "echo_task_b"):
            tid = f"task-{v[6]}-{v[1]}"
            if probe == "echo_task_a":
                return JSONResponse({"data": {"task_id": tid, "status": v[3]}}, headers=h)
            return JSONResponse({"id": tid, "object": "image.generation.task", "status": v[5], "progress": 0}, headers=h)
        if probe == "echo_task_ok":
            return JSONResponse({"id": f"t-{v[6]}", "object": "image.generation.task", "status": "pending", "progress": 0}, headers=h)
        # --- markup in every field ---
        if probe == "md_error":
            body = {"error": {"message": f"bad {MARKUP} {self._echo(key)}", "type": MARKUP, "param": MARKUP, "code": MARKUP}}
            return JSONResponse(body, status_code=400, headers={"x-request-id": MARKUP + " " + v[0]})
        if probe == "md_usage":
            return JSONResponse(
                {"data": [{"b64_json": b64, "revised_prompt": f"{MARKUP} {self._echo(key)}"}], "usage": {"total_tokens": 3, "note": MARKUP}}
            )
        if probe == "md_task":
            return JSONResponse({"id": f"{MARKUP} {v[0]}", "object": "image.generation.task", "status": f"{MARKUP} {v[3]}", "progress": 0})
        # --- limits ---
        if probe == "gzip_bomb":
            return Response(self.bomb(), status_code=200, media_type="application/json", headers={"content-encoding": "gzip"})
        if probe == "gzip_bomb_error":
            return Response(self.bomb(), status_code=500, media_type="application/json", headers={"content-encoding": "gzip"})
        if probe == "huge_length":
            return StreamingResponse(self._endless(), media_type="application/json", headers={"content-length": str(5 * 1024**3)})
        if probe == "near_cap":  # a well-formed answer just under the answer cap: the largest read that is allowed
            return StreamingResponse(self._near_cap(), media_type="application/json")
        if probe == "endless_chunked":
            return StreamingResponse(self._endless(), media_type="application/json")
        if probe == "slow_body":
            return StreamingResponse(self._trickle(), media_type="application/json")
        if probe == "slow_download":
            return JSONResponse({"data": [{"url": f"{origin}/{probe}/files/slow.png"}]})
        if probe == "retry_after_huge":
            return JSONResponse(
                {"error": {"message": "slow down", "code": "rate_limit_exceeded"}}, status_code=429, headers={"retry-after": "999999"}
            )
        if probe == "retry_after_inf":
            return JSONResponse(
                {"error": {"message": "slow down"}}, status_code=429, headers={"retry-after": "inf", "retry-after-ms": "1e400"}
            )
        if probe == "retry_after_date":
            return JSONResponse(
                {"error": {"message": "slow down"}}, status_code=429, headers={"retry-after": "Fri, 01 Jan 2100 00:00:00 GMT"}
            )
        if probe == "retry_after_nan":
            return JSONResponse({"error": {"message": "slow down"}}, status_code=503, headers={"retry-after": "nan"})
        if probe == "internal_url":
            return JSONResponse({"data": [{"url": f"{self.internal_url}/admin/secrets"}]})
        if probe == "internal_relative":
            return JSONResponse({"data": [{"url": "//" + self.internal_url.split("://", 1)[1] + "/admin/relative"}]})
        if probe == "internal_redirect":
            return JSONResponse({"data": [{"url": f"{origin}/{probe}/files/jump"}]})
        if probe == "file_scheme":
            return JSONResponse({"data": [{"url": "file:///etc/passwd"}]})
        if probe == "redirect_loop":
            return JSONResponse({"data": [{"url": f"{origin}/{probe}/files/loop-a"}]})
        if probe == "task_traversal":
            return JSONResponse({"id": "../../../admin/delete?all=1#", "object": "image.generation.task", "status": "pending"})
        if probe == "lying_png":
            return JSONResponse({"data": [{"b64_json": base64.b64encode(lying_png()).decode()}]})
        if probe == "garbage_5xx":
            return Response(b"\xff\xfe\x00<<\x9c" * 100 + b'{"error": [', status_code=503, media_type="application/json")
        # --- streams, floods and counts ---
        sse_type = "text/event-stream"
        if probe == "stream_endless_partials":
            return StreamingResponse(self._endless_partials(), media_type=sse_type)
        if probe == "stream_flood":
            return StreamingResponse(self._flood(), media_type=sse_type)
        if probe == "stream_gzip_flood":
            return StreamingResponse(self._gzip_flood(), media_type=sse_type, headers={"content-encoding": "gzip"})
        if probe == "stream_many_finals":
            events = [sse("image_generation.partial_image", b64_json=b64, partial_image_index=0)]
            events += [sse("image_generation.completed", b64_json=b64, usage={"total_tokens": 100}) for _ in range(MANY)]
            return Response(b"".join(events) + b"data: [DONE]\n\n", media_type=sse_type)
        if probe == "stream_after_done":
            body = sse("image_generation.partial_image", b64_json=b64, partial_image_index=0) + b"data: [DONE]\n\n"
            return Response(body + sse("image_generation.completed", b64_json=b64), media_type=sse_type)
        if probe == "data_many":
            return JSONResponse({"data": [{"b64_json": b64}] * MANY, "usage": {"total_tokens": 100 * MANY}})
        if probe == "budget_spent":
            return JSONResponse({"data": [{"b64_json": b64}]}, headers=BUDGET_HEADERS)
        if probe == "healthy":
            return JSONResponse({"data": [{"b64_json": b64}]})
        return JSONResponse({"error": {"message": f"unknown probe {probe}"}}, status_code=404)

    async def poll(self, request: Request) -> Response:
        probe = request.path_params["probe"]
        self.seen_paths.append(request.scope.get("raw_path", b"").decode("latin-1") or request.url.path)
        key = self._key(request)
        v = key_variants(key)
        h = self._headers(key)
        if probe == "echo_task_a":
            return JSONResponse(
                {"data": {"task_id": v[0], "status": "failed", "error": {"message": self._echo(key), "code": v[3]}}}, headers=h
            )
        if probe == "echo_task_b":
            return JSONResponse(
                {"id": v[0], "status": "failed", "error": {"message": self._echo(key), "code": v[1], "type": v[4]}}, headers=h
            )
        if probe == "echo_task_ok":
            return JSONResponse(
                {"id": v[0], "status": "completed", "results": [f"{self.origin}/{probe}/files/{v[3]}.png?signature={v[0]}"]}, headers=h
            )
        if probe == "task_traversal":
            return JSONResponse({"id": "x", "status": "failed", "error": {"message": "no such task"}})
        if probe == "md_task":
            return JSONResponse({"id": "x", "status": "failed", "error": {"message": f"{MARKUP} {self._echo(key)}", "code": MARKUP}})
        return JSONResponse({"error": {"message": "no task"}}, status_code=404)

    async def file(self, request: Request) -> Response:
        probe = request.path_params["probe"]
        name = request.path_params["name"]
        self.seen_paths.append(request.scope.get("raw_path", b"").decode("latin-1") or request.url.path)
        if probe == "internal_redirect":
            return Response(status_code=302, headers={"location": f"{self.internal_url}/admin/redirected"})
        if probe == "redirect_loop":
            return Response(status_code=302, headers={"location": "loop-b" if name == "loop-a" else "loop-a"})
        if probe == "slow_download":
            return StreamingResponse(self._trickle(), media_type="image/png")
        return Response(_png(), media_type="image/png")

    async def anything(self, request: Request) -> Response:
        self.seen_paths.append(request.scope.get("raw_path", b"").decode("latin-1") or request.url.path)
        return JSONResponse({"error": {"message": "not here"}}, status_code=404)

    # -- bounded bodies ------------------------------------------------------------

    async def _endless(self):
        chunk = b'{"data": [{"b64_json": "' + b"A" * (1024 * 1024 - 25)
        sent = 0
        while sent < ENDLESS_MAX_BYTES:
            yield chunk
            sent += len(chunk)
            chunk = b"A" * (1024 * 1024)
            await asyncio.sleep(0)

    async def _near_cap(self):
        from lib import constants as C

        size = C.MAX_ANSWER_BYTES - 1024 * 1024
        yield b'{"data": [{"b64_json": "'
        block = b"QUFB" * (256 * 1024)
        sent = 0
        while sent + len(block) <= size:
            yield block
            sent += len(block)
            await asyncio.sleep(0)
        yield b'"}]}'

    async def _endless_partials(self):
        end = time.monotonic() + SLOW_MAX_S
        sent = index = 0
        while time.monotonic() < end and sent < ENDLESS_MAX_BYTES:
            event = sse("image_generation.partial_image", b64_json="QUFB" * (BIG_PARTIAL_B64 // 4), partial_image_index=index)
            yield event
            sent += len(event)
            index += 1
            await asyncio.sleep(PARTIAL_EVERY_S)

    async def _flood(self):
        block = _flood_block()
        end = time.monotonic() + SLOW_MAX_S
        sent = 0
        while time.monotonic() < end and sent < ENDLESS_MAX_BYTES:
            yield block
            sent += len(block)
            await asyncio.sleep(0)

    async def _gzip_flood(self):
        """Inflates ~1000:1: a few KB a step on the wire, 1 MB of tiny events once inflated."""
        z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        raw = _flood_block(1024 * 1024)
        end = time.monotonic() + SLOW_MAX_S
        inflated = 0
        while time.monotonic() < end and inflated < ENDLESS_MAX_BYTES:
            yield z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH)
            inflated += len(raw)
            await asyncio.sleep(0.001)

    async def _trickle(self):
        end = time.monotonic() + SLOW_MAX_S
        yield b"{"
        while time.monotonic() < end:
            await asyncio.sleep(SLOW_BYTE_EVERY_S)
            yield b" "


def main() -> None:  # pragma: no cover - manual use: python -m tests.support.hostile_provider
    server = HostileProvider().start()
    print(json.dumps({"origin": server.origin, "internal": server.internal_url}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
