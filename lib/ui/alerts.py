"""The monitoring banner: one line per alert rule that holds, each linking to the History view
that shows why."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from lib import constants as C
from lib.text import markdown as plain
from lib.ui.resources import get_store

_alerts_cache: dict[tuple[str, float], tuple[float, list[Any]]] = {}


def alerts_banner(read_timeout_s: float | None = None, *, open_here: Callable[[dict[str, Any]], None] | None = None) -> None:
    """A banner per alert rule that holds (lib/monitoring.py), each linking to the History view showing why.
    On History itself, ``open_here`` opens that view in place (the address bar follows)."""
    from lib import monitoring

    if read_timeout_s is None:
        read_timeout_s = float(st.session_state.get("read_timeout", C.DEFAULT_READ_TIMEOUT_S))
    try:
        store = get_store()
        key = (str(store.path), float(read_timeout_s))
        cached = _alerts_cache.get(key)
        now = time.time()
        if cached and now - cached[0] < C.MONITOR_CACHE_S:
            alerts = cached[1]
        else:
            alerts = monitoring.check(store, read_timeout_s=read_timeout_s, now=now)
            _alerts_cache[key] = (now, alerts)
    except Exception:  # the banner must never take a page down
        logging.getLogger("imagelab.app").exception("monitoring check failed")
        return
    for i, alert in enumerate(alerts):
        box = st.container(key=f"alert-{alert.rule}-{i}")
        (box.error if alert.severity == "error" else box.warning)(
            f"**{plain(alert.title)}**  \n{plain(alert.message)}", icon=":material/notifications_active:"
        )
        if open_here is not None:
            if box.button("Show these attempts", key=f"alert-open-{alert.rule}-{i}", icon=":material/manage_search:", type="tertiary"):
                open_here(dict(alert.params))
        else:
            box.page_link(
                "pages/history.py", label="Show these attempts in History", icon=":material/manage_search:", query_params=alert.params
            )
