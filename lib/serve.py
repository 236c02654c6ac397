"""``make run``: the app's server, started as ``streamlit run streamlit_app.py`` starts it, plus a warm-up.

On a cold start the browser spends a while fetching and starting Streamlit's frontend after the
server first answers, and the server is idle meanwhile. The first page then waits for its own
code to load and the database to open. Here a background thread does that work in the idle
while: once the server listens, it imports the modules the first page needs and opens (and, on
a new data folder, creates) the database. The page finds them ready and is drawn sooner.

Warming is only ahead of time, never instead: a page imports what it needs as always, so a
failed or slow warm-up changes nothing but the time. Python's import lock keeps the thread and
a page from loading the same module twice.

    python -m lib.serve [streamlit run options]   # e.g. --server.port 8501 --server.address 127.0.0.1
"""

from __future__ import annotations

import importlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "streamlit_app.py"

# What the first page (Generate, with its sidebar) imports beyond Streamlit; tests/test_startup.py
# checks the list covers it, so a new import on that page cannot quietly fall out of the warm-up.
FIRST_PAGE_MODULES = (
    "lib.ui",
    "lib.ui.sidebar",
    "lib.ui.generate",
    "lib.ui.budget",
    "lib.ui.library",
    "lib.ui.place",
    "lib.sandbox",
    "lib.preflight",
    "lib.monitoring",
    "lib.ui.checks",
    "lib.checks.background",
    "lib.client._moderation",
)
LISTEN_WAIT_S = 60.0  # give up warming when the server has not listened by then
LISTEN_POLL_S = 0.02

log = logging.getLogger("imagelab.serve")


def _option(argv: Sequence[str], name: str, default: str) -> str:
    """``--name value`` or ``--name=value`` from the command line, else ``default``."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=LISTEN_POLL_S * 5):
            return True
    except OSError:
        return False


def warm(host: str, port: int, *, wait_s: float = LISTEN_WAIT_S) -> bool:
    """Once the server at host:port listens, load the first page's modules and open the database.
    True when it did; False when the server never listened in time or loading failed (logged)."""
    deadline = time.monotonic() + wait_s
    while not _listening(host, port):
        if time.monotonic() > deadline:
            return False
        time.sleep(LISTEN_POLL_S)
    try:
        for name in FIRST_PAGE_MODULES:
            importlib.import_module(name)
        from lib.store import Store

        Store().close()  # migrations applied now, not on the first page
    except Exception:  # the page will meet the same problem and show it; here it is only noted
        log.debug("warming up the first page failed", exc_info=True)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    host = _option(argv, "--server.address", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: loopback reaches it too
        host = "127.0.0.1"
    port = int(_option(argv, "--server.port", "8501"))
    threading.Thread(target=warm, args=(host, port), name="imagelab-warm", daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(SCRIPT), *argv]
    cli.main()


if __name__ == "__main__":
    main()
