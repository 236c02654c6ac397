"""`make run`: Streamlit's server for the app, which loads the app while the first browser is on its way.

The first page a new server process draws imports the app's modules and opens (on a first start,
creates) the database: a quarter of a second or more that a browser connecting then waits for. Here a
thread does that work as soon as the server is ready for browsers, while the browser is still loading Streamlit's
own scripts; a person who opens the address a moment later finds it done. Everything else is
Streamlit's command line, unchanged: ``python serve.py --server.port 8600`` is
``streamlit run streamlit_app.py --server.port 8600``, and that command still works, without the head start.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

WAIT_S = 60.0  # how long the thread waits for the server to be ready before giving up (nothing is lost)


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
