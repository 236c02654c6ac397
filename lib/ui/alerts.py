"""The monitoring banner: the alert rules that hold, folded into one line that opens them; each links
to the History view that shows why, and can be dismissed for the browser session."""

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
    """The alert rules that hold (lib/monitoring.py), folded into one line ("3 alerts: ...") that opens
    them, so the page's own form stays on the first screen; each links to the History view showing why
    and has a Dismiss (for this browser session). On History itself, ``open_here`` opens that view in
    place (the address bar follows)."""
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
    shown = [(i, alert) for i, alert in enumerate(alerts) if alert_id(alert) not in st.session_state.get(DISMISSED, set())]
    if not shown:
        return
    with st.expander(summary_line([a for _, a in shown]), icon=":material/notifications_active:", expanded=False, key="alerts"):
        for i, alert in shown:
            box = st.container(key=f"alert-{alert.rule}-{i}")
            (box.error if alert.severity == "error" else box.warning)(
                f"**{plain(alert.title)}**  \n{plain(alert.message)}", icon=":material/notifications_active:"
            )
            row = box.container(horizontal=True)
            if open_here is not None:
                if row.button("Show these attempts", key=f"alert-open-{alert.rule}-{i}", icon=":material/manage_search:", type="tertiary"):
                    open_here(dict(alert.params))
            else:
                row.page_link(
                    "pages/history.py", label="Show these attempts in History", icon=":material/manage_search:", query_params=alert.params
                )
            if row.button("Dismiss", key=f"alert-dismiss-{alert.rule}-{i}", icon=":material/close:", type="tertiary"):
                dismiss(alert)
                st.rerun()


DISMISSED = "_imagelab_dismissed_alerts"  # session state: the alerts dismissed in this browser session


def alert_id(alert: Any) -> str:
    """Which alert this is, whatever its figures say now: its rule and the History view it points at."""
    return alert.rule + "?" + "&".join(f"{k}={v}" for k, v in sorted(dict(alert.params).items()))


def dismiss(alert: Any) -> None:
    """Hide an alert for the rest of this browser session (another session, or a reload, shows it again)."""
    st.session_state.setdefault(DISMISSED, set()).add(alert_id(alert))


def summary_line(alerts: list[Any]) -> str:
    """The one line the alerts fold into: how many, and the first one's title (errors first)."""
    ordered = sorted(alerts, key=lambda a: a.severity != "error")
    count = f"{len(alerts)} alert" + ("s" if len(alerts) != 1 else "")
    first = plain(ordered[0].title)
    more = f", and {len(alerts) - 1} more" if len(alerts) > 1 else ""
    return f"{count}: {first}{more}"
