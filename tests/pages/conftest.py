"""One set-up for every AppTest test: new sessions of the app on a fresh data directory, with no provider key
or app password from the environment and nothing cached from another test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib import constants as C
from lib import ui
from lib.providers import PRESETS
from lib.ui.sections import CHECKS_OPEN, SECTION_KEYS
from tests.support.apptest import APP

OPEN_SECTIONS = (*SECTION_KEYS, *(CHECKS_OPEN.format(prefix=p) for p in ("gen", "compare")))
KEY_ENVS = sorted({p.key_env for p in PRESETS.values() if p.key_env})


@pytest.fixture
def app_env(tmp_path, monkeypatch) -> Path:
    """This test's data directory (not created: a test may put a damaged database there first)."""
    data = tmp_path / "data"
    monkeypatch.setenv("IMAGELAB_DATA_DIR", str(data))
    for name in (*KEY_ENVS, C.PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)
    ui.get_store.clear()  # the store of this test's data directory, not the last test's
    ui._alerts_cache.clear()
    yield data
    ui.get_store.clear()


@pytest.fixture
def new_app(app_env) -> Callable[..., AppTest]:
    """Opens a new session of the app, as a new browser tab does.

    ``new_app()`` opens the app's address, ``new_app(query={"run": id})`` a link to the Generate page,
    ``new_app("pages/history.py", {"since": "7d"})`` a link to another page: the app runs once, then that
    page with the query. The page must not raise. The sections drawn on demand (lib/ui/sections.py) are
    open, unless ``sections_open=False``: a first visit, with all of them closed.
    """

    def open_app(page: str | None = None, query: dict[str, str] | None = None, *, sections_open: bool = True) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        if sections_open:  # as a user who has opened them: their widgets are drawn (closed, they are not)
            for key in OPEN_SECTIONS:
                at.session_state[key] = True
        if page is not None:
            at.run()
            at.switch_page(page)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_app


@pytest.fixture
def app(new_app) -> AppTest:
    """The Generate page on the sandbox, with no latency: where most page tests start."""
    at = new_app()
    at.sidebar.selectbox(key="sandbox_latency").set_value("none").run()
    return at
