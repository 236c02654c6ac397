"""`make run`: Streamlit's server for the app, which loads the app while the first browser is on its way.

The first page a new server process draws imports the app's modules and opens (on a first start,
creates) the database: a quarter of a second or more that a browser connecting then waits for. Here a
thread does that work as soon as the server answers, while the browser is still loading Streamlit's
own scripts; a person who opens the address a moment later finds it done. Everything else is
Streamlit's command line, unchanged: ``python serve.py --server.port 8600`` is
``streamlit run streamlit_app.py --server.port 8600``, and that command still works, without the head start.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
import urllib.request

WAIT_S = 60.0  # how long the thread waits for the server to answer before giving up (nothing is lost)


def health_url() -> str:
    """Where this server answers its health check, from the options Streamlit has read."""
    from streamlit import config

    address = str(config.get_option("server.address") or "127.0.0.1")
    if address in ("0.0.0.0", "::", ""):
        address = "127.0.0.1"
    elif ":" in address:
        address = f"[{address}]"
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{address}:{config.get_option('server.port')}/{base + '/' if base else ''}_stcore/health"


def wait_until_served(*, timeout: float = WAIT_S, interval: float = 0.05) -> bool:
    from streamlit import runtime

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runtime.exists():  # the options are read by now
            try:
                with urllib.request.urlopen(health_url(), timeout=1) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                pass
        time.sleep(interval)
    return False


def load_app() -> None:
    """What the first page would otherwise do on its first run: the app's modules, and the database."""
    gc.freeze()  # as streamlit_app.py does on a first run: what is loaded now lives as long as the process
    gc.disable()
    try:
        from lib import ui  # noqa: F401
        from lib.store import Store

        Store().close()  # creates or migrates the database once; the app's own store then opens it as it is
    finally:
        gc.freeze()
        gc.enable()


def head_start() -> None:
    try:
        if wait_until_served():
            load_app()
    except Exception:  # a head start only: the first page does the same work and shows what fails
        logging.getLogger("imagelab.serve").debug("loading the app ahead failed", exc_info=True)


def main(argv: list[str]) -> None:
    from streamlit.web import cli

    threading.Thread(target=head_start, name="imagelab-head-start", daemon=True).start()
    sys.argv = ["streamlit", "run", "streamlit_app.py", *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
