"""Live progress: a run's events as lines in a status box, and the label of a running job."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from lib.generation import Event
from lib.text import markdown as plain

if TYPE_CHECKING:
    from lib.jobs import Job


def live_label(job: Job) -> str:
    ahead = job.queue_position
    if job.status == "queued" or ahead is not None:
        where = f"{ahead} ahead" if ahead else "next in line"
        return f"Queued ({where}) for {job.model_now}... {job.elapsed_s:.0f} s"
    return f"Generating with {job.model_now}... {job.elapsed_s:.0f} s"


def event_line(event: Event) -> str:
    icon = {
        "started": ":material/send:",
        "submitted": ":material/upload:",
        "waiting": ":material/hourglass_top:",
        "queued": ":material/schedule:",
        "polling": ":material/sync:",
        "downloading": ":material/download:",
        "saved": ":material/check:",
        "retry": ":material/replay:",
        "fallback": ":material/alt_route:",
        "skipped": ":material/skip_next:",
        "failed": ":material/error:",
        "succeeded": ":material/task_alt:",
        "accepted": ":material/schedule:",
        "cancelled": ":material/cancel:",
        "interrupted": ":material/power_settings_new:",
        "partial": ":material/blur_on:",
        "streamed": ":material/image:",
        "note": ":material/info:",
    }.get(event.kind, ":material/info:")
    return f"{icon} `{event.elapsed_s:6.1f} s` {plain(event.message)}"


def render_events(events: list[Event], *, label: str, state: str, expanded: bool) -> None:
    # Not a `with` block: leaving one would mark the status complete while the job still runs.
    box = st.status(plain(label), state=state, expanded=expanded)
    for event in list(events):
        box.markdown(event_line(event))
