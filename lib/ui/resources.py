"""Process-wide resources: the store, the sandbox, the job runner, the operator's configuration,
thumbnails, the app's own address."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from lib.config import Config, configure_logging
from lib.store import Store

if TYPE_CHECKING:  # imported on first use: the HTTP client and the sandbox's server are not needed to draw a page
    from lib.jobs import JobRunner
    from lib.sandbox import SandboxServer


@st.cache_resource(show_spinner=False)
def get_store() -> Store:
    store = Store()
    configure_logging(store.root)
    return store


@st.cache_resource(show_spinner=False)
def get_sandbox() -> SandboxServer:
    """The sandbox, once per server process: its address is reserved at once, its server
    loads when the first request comes."""
    from lib.sandbox import SandboxServer

    return SandboxServer().start(lazy=True)


def get_runner() -> JobRunner:
    """One runner (and one set of provider limiters) per server process and database."""
    return _runner_for(str(get_store().path))


@st.cache_resource(show_spinner=False)
def _runner_for(db_path: str) -> JobRunner:
    from lib.jobs import JobRunner, install_shutdown

    store = get_store()
    runner = JobRunner(recorder=store, keeper=store.keeper)
    install_shutdown(runner)
    return runner


def _secrets() -> dict[str, Any]:
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets.toml, or an unreadable one
        return {}


def config() -> Config:
    """The operator's configuration: Streamlit's secrets and the environment (lib.config)."""
    return Config.load(secrets=_secrets())


def leave_pages_folder_mode() -> None:
    """A permalink to a page other than the default one, opened first after the server
    starts, is run by Streamlit as an old-style ``pages/`` folder app: streamlit_app.py
    (page config, st.navigation) never runs and the sidebar lists file names. Streamlit
    decides this before any script of ours runs, so the page switches it off and reruns:
    the rerun goes through st.navigation and lands on the same page."""
    global _left_pages_folder_mode
    if _left_pages_folder_mode:  # once per process is enough: st.navigation keeps it off from then on
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no such mode
        return
    _left_pages_folder_mode = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_left_pages_folder_mode = False


def thumbnail_path(rel_path: str | None) -> str | None:
    if not rel_path:
        return None
    try:
        return str(get_store().keeper.thumbnail(rel_path))
    except (OSError, ValueError):
        return None


def app_base_url() -> str:
    """The address this app is reached at (for absolute links in exports), or ''."""
    try:
        url = getattr(st.context, "url", None) or ""
    except Exception:
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
