"""The transport: every connection the client opens, bounded and guarded.

- ``deadline(seconds)``: every connect, write and read of this thread inside
  the block ends by then (headers and body together), enforced by the network
  backend that ``DeadlineTransport`` installs through httpcore's public
  ``network_backend`` parameter;
- ``iter_capped`` / ``read_capped``: the decoded body, never more than a cap
  of *decompressed* bytes, inflated a chunk at a time;
- ``AddressGuard``: where a result URL may point (no loopback, private or
  link-local address unless it is the provider's own or the operator allowed
  a private image store), checked on the URL and again on every resolved
  address at connect time, which it pins;
- ``SocketTracker``: the sockets a client opened, so that a cancel from
  another thread can shut a request blocked on a read.

``DeadlineTransport`` is the client's default transport; any
``httpx.BaseTransport`` (an ``httpx.MockTransport`` in tests) can be passed
to ``ImageClient(transport=...)`` instead.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from lib import constants as C
from lib import errors as E
from lib import redact

# --------------------------------------------------------------------------
# Bounded reads and whole-request deadlines
#
# httpx's read timeout bounds each socket read, not the answer: a body that
# trickles in one byte per second never times out, and ``response.content``
# decompresses a gzip bomb whole. So every request of the app is sent
# streamed, inside ``deadline(seconds)``, and read with ``read_capped``:
#
# - ``deadline`` sets a per-thread deadline that the network layer
#   (``_DeadlineBackend``, installed in the client's transport) applies to
#   every connect, write and read: the timeout of each is cut to the time
#   left, and past the deadline the request fails with a timeout. Headers
#   and body together fit in the deadline.
# - ``iter_capped`` decodes the body itself (identity, gzip, deflate; any
#   other Content-Encoding is refused), never inflating more than a chunk at
#   a time, and stops past a cap on *decompressed* bytes.

_deadline_state = threading.local()
_DECODE_CHUNK = 256 * 1024
_TEXT_ENCODINGS = ("", "identity")


class AnswerTooLarge(Exception):
    """The answer passed its byte cap; ``read`` bytes had arrived (decompressed)."""

    def __init__(self, cap: int, read: int, declared: int | None = None) -> None:
        super().__init__(f"answer over {cap} bytes")
        self.cap, self.read, self.declared = cap, read, declared


class BadEncoding(Exception):
    """The answer's Content-Encoding is one this client does not decode (we ask for gzip or deflate)."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every network operation of this thread inside the block ends by ``seconds`` from now."""
    previous = getattr(_deadline_state, "at", None)
    at = time.monotonic() + max(float(seconds), 0.0)
    _deadline_state.at = at if previous is None else min(previous, at)
    try:
        yield
    finally:
        _deadline_state.at = previous


def time_left() -> float | None:
    """Seconds left of this thread's ``deadline`` (None outside one); past it, ``httpx.ReadTimeout``."""
    return _time_left(None, httpx.ReadTimeout)


def _time_left(timeout: float | None, exc: type[Exception]) -> float | None:
    at = getattr(_deadline_state, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0.005:
        raise exc("deadline: the whole request did not finish in time")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._inner.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))
        except httpcore.ReadTimeout:
            _time_left(None, httpcore.ReadTimeout)  # say "deadline" when that is what ran out
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._inner.write(buffer, _time_left(timeout, httpcore.WriteTimeout))
        except httpcore.WriteTimeout:
            _time_left(None, httpcore.WriteTimeout)
            raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _time_left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the thread's deadline applied, and an
    optional ``guard(host, port) -> address`` that vets (and pins) the address
    of every connection before it is made: used for result URLs (SSRF rules)."""

    def __init__(self, guard: Callable[[str, int], str] | None = None, tracker: SocketTracker | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self._guard = guard
        self._tracker = tracker

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None) -> httpcore.NetworkStream:
        address = self._guard(host, port) if self._guard is not None else host
        stream = self._inner.connect_tcp(address, port, _time_left(timeout, httpcore.ConnectTimeout), local_address, socket_options)
        if self._tracker is not None:
            self._tracker.register(stream)  # a cancel can shut it from another thread
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path, timeout=None, socket_options=None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by Image Prompt Lab")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


_SSL_CONTEXT: list[Any] = []  # one per process: loading the CA bundle costs ~0.1 s of CPU
_SSL_LOCK = threading.Lock()


def _ssl_context():
    """httpx's own default TLS context (certifi, SSL_CERT_FILE/DIR honoured), built once and shared:
    a new one per client made every generation of a parallel grid spend ~0.1 s of CPU on it."""
    with _SSL_LOCK:
        if not _SSL_CONTEXT:
            _SSL_CONTEXT.append(httpx.create_ssl_context())
        return _SSL_CONTEXT[0]


def _decoder(response: httpx.Response) -> Callable[[bytes, bool], Iterator[bytes]]:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in _TEXT_ENCODINGS:

        def identity(data: bytes, final: bool) -> Iterator[bytes]:
            if data:
                yield data

        return identity
    if encoding in ("gzip", "x-gzip", "deflate"):
        state: dict[str, Any] = {"z": zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding != "deflate" else None, "first": True}

        def inflate(data: bytes, final: bool) -> Iterator[bytes]:
            if state["z"] is None:  # deflate: zlib-wrapped or raw, as servers disagree
                state["z"] = zlib.decompressobj() if data[:1] and (data[0] & 0x0F) == 8 else zlib.decompressobj(-zlib.MAX_WBITS)
            z = state["z"]
            try:
                chunk = z.decompress(data, _DECODE_CHUNK)
                while True:
                    if chunk:
                        yield chunk
                    if not z.unconsumed_tail:
                        break
                    chunk = z.decompress(z.unconsumed_tail, _DECODE_CHUNK)
                if final:
                    tail = z.flush()
                    if tail:
                        yield tail
            except zlib.error as err:
                raise httpx.DecodingError(f"the {encoding} body could not be decompressed ({err})") from err

        return inflate
    raise BadEncoding(encoding)


def iter_capped(
    response: httpx.Response, cap: int, *, check: Callable[[], None] | None = None, on_large: Callable[[], None] | None = None
) -> Iterator[bytes]:
    """The decoded body of a response sent with ``stream=True``, chunk by chunk,
    raising ``AnswerTooLarge`` as soon as more than ``cap`` decompressed bytes came.

    Reusable for streaming (SSE) reads: iterate it inside ``deadline(...)`` and
    split the chunks into events; memory stays at one chunk (at most 256 KB
    inflated at a time) plus what the caller keeps. A declared Content-Length
    over the cap fails before any byte is read. Raises ``BadEncoding`` for a
    Content-Encoding other than gzip or deflate (the only ones we ask for).
    ``check()`` runs before each decoded chunk: a cancel raised from it stops a
    body that inflates from bytes already received, where no socket read waits.
    ``on_large()`` runs once, as the body grows past ``C.LARGE_ANSWER_BYTES`` (it may wait
    for the process's large-answer turn)."""
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > cap and response.headers.get("content-encoding", "").strip().lower() in _TEXT_ENCODINGS:
        raise AnswerTooLarge(cap, 0, int(declared))
    if response.is_stream_consumed:
        # Already read and decoded in memory (an httpx.MockTransport answer built from bytes).
        decode: Callable[[bytes, bool], Iterator[bytes]] = _decoder(httpx.Response(200))
        raws: Iterator[bytes] = iter([response.content])
    else:
        decode = _decoder(response)
        raws = response.iter_raw()
    total = 0
    large = on_large is None
    for raw in raws:
        for chunk in decode(raw, False):
            if check is not None:
                check()
            total += len(chunk)
            if not large and total > C.LARGE_ANSWER_BYTES:
                large = True
                on_large()
            if total > cap:
                yield chunk[: len(chunk) - (total - cap)]  # up to the cap exactly, then stop
                raise AnswerTooLarge(cap, total)
            yield chunk
    for chunk in decode(b"", True):
        total += len(chunk)
        if total > cap:
            yield chunk[: len(chunk) - (total - cap)]
            raise AnswerTooLarge(cap, total)
        yield chunk


def read_capped(
    response: httpx.Response,
    cap: int,
    *,
    truncate: bool = False,
    check: Callable[[], None] | None = None,
    on_large: Callable[[], None] | None = None,
) -> bytes:
    """The whole decoded body, at most ``cap`` bytes: past it, ``AnswerTooLarge``
    (or, with ``truncate=True``, the first ``cap`` bytes: enough to classify an
    error page). See ``iter_capped``."""
    body = bytearray()
    try:
        for chunk in iter_capped(response, cap, check=check, on_large=on_large):
            body += chunk
    except AnswerTooLarge:
        if not truncate:
            raise
        del body[cap:]
    return bytes(body)


_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    # the most specific first: a ReadTimeout is a TimeoutException too
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as the httpx ones the rest of the client classifies."""
    try:
        yield
    except Exception as exc:
        for source, target in _HTTPCORE_ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class DeadlineTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore connection pool whose network backend
    applies the thread's ``deadline``, vets every address with ``guard`` (result
    URLs) and registers every socket with ``tracker`` (cancel). HTTP/1.1, TLS
    verified with httpx's default context (certifi; SSL_CERT_FILE/DIR honoured)."""

    def __init__(self, *, guard: Callable[[str, int], str] | None = None, tracker: SocketTracker | None = None) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=C.MAX_CONNECTIONS,
            max_keepalive_connections=C.MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=C.KEEPALIVE_EXPIRY_S,
            network_backend=_DeadlineBackend(guard, tracker),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            answer = self._pool.handle_request(core)
        return httpx.Response(
            status_code=answer.status, headers=answer.headers, stream=_ResponseStream(answer.stream), extensions=answer.extensions
        )

    def close(self) -> None:
        self._pool.close()


class SocketTracker:
    """Remembers the sockets a client's transports opened, so that a cancel from
    another thread can shut them down and wake a request blocked on a read
    (closing a socket alone does not)."""

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.aborted = False  # set by abort(); a connection opened afterwards is shut at once

    def register(self, stream: httpcore.NetworkStream) -> None:
        sock = stream.get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            self._sockets.add(sock)
            aborted = self.aborted
        if aborted:  # the cancel came while this connection was being opened
            self._shut(sock)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass


# --------------------------------------------------------------------------
# Where result URLs may point (SSRF rules)


class BlockedAddress(httpcore.ConnectError):
    """A result URL's host resolved to an address the app does not fetch from."""


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally routable unicast address (not loopback, private, link-local, CGNAT, reserved...)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address.is_loopback or address.is_private or address.is_link_local or address.is_reserved:
        return False
    if address.is_multicast or address.is_unspecified or not address.is_global:
        return False
    return not (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)


def _private_message(host: str, address: str | None = None) -> str:
    where = f"'{host}'" + (f" ({address})" if address and address != host else "")
    return (
        f"The image URL points at {where}, a loopback, private or link-local address that is not the provider's own; "
        "it was not fetched. A self-hosted gateway with a private image store can be allowed with "
        f"{C.ALLOW_PRIVATE_IMAGES_VAR}=1."
    )


class AddressGuard:
    """Where the result URLs of one provider configuration may be fetched from.

    ``check_url`` refuses a URL that is not http(s) or names a non-public
    address literally; names are resolved when connecting, where the guard
    (installed as ``DeadlineTransport(guard=...)``) refuses any non-public
    address and pins the connection to the address it checked. The provider's
    own origin is always allowed, and so is everything when the operator
    allowed a private image store."""

    def __init__(self, provider_root: str, *, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self.origin: tuple[str, int] | None = None
        if provider_root:
            parts = urlsplit(provider_root)
            self.origin = ((parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80))

    def check_url(self, url: str) -> None:
        """Refuse a result URL that is not http(s) or names a non-public address
        literally (names are resolved and checked when connecting)."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise E.ImageFetchFailed("The image URL cannot be read.", code="blocked_url") from None
        if parts.scheme not in ("http", "https") or not host:
            raise E.ImageFetchFailed(
                f"The image URL is not an http(s) URL with a host ({redact.scrub(parts.scheme, limit=20) or 'no scheme'}); not fetched.",
                code="blocked_url",
            )
        if self.allow_private or (host, port) == self.origin:
            return
        if host == "localhost" or host.endswith(".localhost"):
            raise E.ImageFetchFailed(_private_message(host), code="blocked_url")
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name: checked once resolved, at connect time
        if not _is_public(address):
            raise E.ImageFetchFailed(_private_message(host), code="blocked_url")

    def __call__(self, host: str, port: int) -> str:
        """At connect time: resolve ``host`` and refuse if any address is not public
        (unless provider origin / allowed); connect to the address that was checked."""
        host = host.lower()
        if self.allow_private or (host, port) == self.origin:
            return host
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as err:
            raise httpcore.ConnectError(f"the host name could not be resolved (DNS): {err}") from err
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        bad = [a for a in addresses if not _is_public(a)]
        if bad or not addresses:
            raise BlockedAddress(_private_message(host, str(bad[0]) if bad else None))
        return str(addresses[0])
