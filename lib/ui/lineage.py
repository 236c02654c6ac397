"""History's "how this image came to be": the chain of runs a result came from, each step's
prompt as a diff against the one before, its parameters and its image; and the reuse buttons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from lib import history as H
from lib.text import literal
from lib.text import markdown as plain
from lib.ui.media import session_image


def result_actions(run_id: str | None, image_count: int, *, key: str, where: Any = None, compact: bool = False) -> None:
    """'Reuse prompt and settings' and, per image, 'Edit this image': both open Generate."""
    from lib.ui.generate import send_to_generate

    if not run_id:
        return
    row = (where or st).container(horizontal=True, gap="small")
    kind = "tertiary" if compact else "secondary"
    if row.button("Reuse prompt and settings", key=f"{key}-reuse", icon=":material/replay:", type=kind):
        send_to_generate(run_id)
    for i in range(image_count):
        label = "Edit this image" if image_count == 1 else f"Edit this image ({i + 1})"
        if row.button(label, key=f"{key}-edit-{i}", icon=":material/edit:", type=kind):
            send_to_generate(run_id, edit_image=i)


def lineage_section(store: Any, run_id: str | None, open_attempt: Callable[[int], None]) -> None:
    """The chain that led to ``run_id``'s result, when it has a parent or a child; nothing otherwise."""
    chain = H.lineage_detail(store, run_id)
    if chain is None:
        return
    st.markdown("**How this image came to be**")
    if chain["missing_parent"]:
        st.caption(f"It was made from run {plain(chain['missing_parent'][:12])}, which is no longer recorded: the chain starts after it.")
    if chain["truncated"]:
        st.caption("Only the latest steps are shown.")
    if chain["cycle"]:
        st.caption("The recorded parents loop back on themselves; the chain stops where the loop begins.")
    for n, step in enumerate(chain["steps"], start=1):
        with st.container(border=True, key=f"lineage-{n}"):
            cols = st.columns([1, 4])
            if step["images"]:
                session_image(cols[0], step["images"][0], width="stretch")
            what = "edit of the step before" if step["edit"] and n > 1 else "generation"
            cols[1].markdown(f"**Step {n}**: {what}" + (" (this attempt)" if step["current"] else ""))
            if step["diff"] is None:
                cols[1].text(literal(step["prompt"] or "(empty prompt)", limit=2000))
            else:
                added, removed = step["counts"]
                cols[1].caption(f"Prompt against step {n - 1}: {added} word(s) added, {removed} removed")
                cols[1].markdown(step["diff"] or "(empty prompt)")
            cols[1].caption(plain(" · ".join(f"{k} {v}" for k, v in step["params"].items())))
            nxt = step["next_attempt_id"]
            if nxt is not None and cols[1].button(f"Next step: attempt #{nxt}", key=f"lineage-next-{n}", icon=":material/arrow_forward:"):
                open_attempt(int(nxt))
    for child in chain["children"]:
        if child.get("attempt_id") is not None and st.button(
            f"Made from this result: attempt #{child['attempt_id']}", key=f"lineage-child-{child['id']}", icon=":material/arrow_forward:"
        ):
            open_attempt(int(child["attempt_id"]))
