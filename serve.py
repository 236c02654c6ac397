"""`make run`: Streamlit's server for the app, which loads the app while the first browser is on its way.

The first page a new server process draws imports the app's modules and opens (on a first start,
creates) the database: a quarter of a second or more that a browser connecting then waits for. Here a
thread does that work once the server is ready for browsers, before the first browser connects for its
first page run; a person who opens the address a moment later finds it done. Everything else is
Streamlit's command line, unchanged: ``python serve.py --server.port 8600`` is
``streamlit run streamlit_app.py --server.port 8600``, and that command still works, without the head start.

When does the thread load? A browser opening the page asks for some sixty scripts at once; anything
this process does meanwhile slows every one of those answers (the threads share one interpreter
lock), and the page is drawn that much later. Once they are served, the browser spends a while
reading them before it connects for the first page run: that is when the thread loads. So it
watches the server's HTTP requests (``RequestWatch``, around Streamlit's own app) and starts once
none has been in flight for a moment; with no browser on its way, within a third of a second. On
a busy machine the loading can outlast the browser's reading, and the first page run then waits
for the rest of it, which is still less than all of it (``benchmarks/startup.py`` measures the
whole start).
"""

from __future__ import annotations

import logging
import sys
import threading
import time

WAIT_S = 60.0  # how long the thread waits for the server to be ready before giving up (nothing is lost)
FIRST_REQUEST_S = 0.3  # once ready: how long a browser on its way (one that waited for the server) takes to ask
QUIET_S = 0.06  # how long without an HTTP request in flight means the browser has its scripts
MOST_S = 3.0  # the longest the thread gives way to requests before it loads anyway


class RequestWatch:
    """An ASGI app around another one, counting the HTTP requests in flight and noting when the last
    one began or ended (websockets are not counted: the page runs on one)."""

    def __init__(self, app, clock=time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self.in_flight = 0
        self.last = None  # when a request last began or ended; None: none yet

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        self.in_flight += 1
        self.last = self.clock()
        try:
            return await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.last = self.clock()


WATCH: RequestWatch | None = None  # set once Streamlit has built its app


def give_way(watch: RequestWatch | None, *, clock=time.monotonic, sleep=time.sleep, interval: float = 0.01) -> None:
    """Until the browser that is loading the page has its scripts: no HTTP request in flight for
    ``QUIET_S``. Returns at once without a watch, after ``FIRST_REQUEST_S`` when no request comes,
    and after ``MOST_S`` at most."""
    if watch is None:
        return
    start = clock()
    while watch.last is None:
        if clock() - start >= FIRST_REQUEST_S:
            return
        sleep(interval)
    while watch.in_flight or clock() - watch.last < QUIET_S:
        if clock() - start >= MOST_S:
            return
        sleep(interval)


def watch_requests() -> None:
    """Put a ``RequestWatch`` around the app Streamlit's server builds (if this Streamlit builds it
    where expected; else the thread simply loads as soon as the server is ready)."""
    try:
        from streamlit.web.server.starlette import starlette_server
    except ImportError:
        return
    build = getattr(starlette_server, "create_starlette_app", None)
    if build is None:
        return

    def watched(runtime):
        global WATCH
        WATCH = RequestWatch(build(runtime))
        return WATCH

    starlette_server.create_starlette_app = watched


def wait_until_served(*, timeout: float = WAIT_S, interval: float = 0.05) -> bool:
    """Until Streamlit's runtime is ready for browsers (what its health check answers), or ``timeout``."""
    from streamlit import runtime
    from streamlit.runtime.runtime import RuntimeState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runtime.exists() and runtime.get_instance().state in (
            RuntimeState.NO_SESSIONS_CONNECTED,
            RuntimeState.ONE_OR_MORE_SESSIONS_CONNECTED,
        ):
            return True
        time.sleep(interval)
    return False


def load_app() -> None:
    """What the first page would otherwise do on its first run: the app's modules, and the database."""
    from lib.process import loaded_for_good

    with loaded_for_good():
        from lib import ui  # noqa: F401
        from lib.store import Store

        Store().close()  # creates or migrates the database once; the app's own store then opens it as it is


def head_start() -> None:
    try:
        if wait_until_served():
            give_way(WATCH)
            load_app()
    except Exception:  # a head start only: the first page does the same work and shows what fails
        logging.getLogger("imagelab.serve").debug("loading the app ahead failed", exc_info=True)


def main(argv: list[str]) -> None:
    from streamlit.web import cli

    watch_requests()
    threading.Thread(target=head_start, name="imagelab-head-start", daemon=True).start()
    sys.argv = ["streamlit", "run", "streamlit_app.py", *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
