"""Sections drawn on demand: a collapsed expander whose contents a page draws only while it is open.

Every widget costs the browser time to draw, even inside a closed expander, and a page's first view
shows none of what is folded away. So a section that is mostly left closed (the sidebar's Reliability,
Budget and Sandbox behaviour, Generate's reference images and checks) draws its contents once it is opened, which
reruns the page; while closed, the page reads the values its widgets left in session state.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

RELIABILITY_OPEN = "section_reliability"
BUDGET_OPEN = "section_budget"
REFERENCES_OPEN = "section_references"
SANDBOX_OPEN = "section_sandbox"
CHECKS_OPEN = "section_checks__{prefix}"
SECTION_KEYS = (RELIABILITY_OPEN, BUDGET_OPEN, REFERENCES_OPEN, SANDBOX_OPEN)  # and one CHECKS_OPEN per checks prefix


def section(container: Any, label: str, key: str, *, keep_open: bool = False, icon: str | None = None) -> Any:
    """The open section to draw into, or None while it is closed. ``keep_open``: it holds what must
    stay in sight (a value to fix, files its uploader holds, a check that is ticked), so it is open."""
    if keep_open:
        st.session_state[key] = True
    box = container.expander(label, key=key, on_change="rerun", icon=icon)
    return box if box.open else None
