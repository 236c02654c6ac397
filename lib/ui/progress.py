"""Live progress: a run's events as lines in a status box, and the label of a running job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from lib import constants as C
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
        "streaming": ":material/stream:",
        "note": ":material/info:",
    }.get(event.kind, ":material/info:")
    return f"{icon} `{event.elapsed_s:6.1f} s` {plain(event.message)}"


def bounded(events: list[Any], limit: int = C.MAX_EVENTS_SHOWN) -> tuple[list[Any], list[Any], int]:
    """(first, latest, hidden): a long log shown as its first and its latest events and
    how many lie between, so a run with any number of events renders a bounded number
    of elements (live, on a card, or reopened from History)."""
    events = list(events)
    if len(events) <= limit:
        return events, [], 0
    head = limit // 4
    tail = limit - head
    # A stored run read in part (Store.run_events) carries a marker for the events it left out.
    hidden = sum(_left_out(e) or 1 for e in events[head : len(events) - tail])
    return events[:head], events[-tail:], hidden


def _left_out(event: Any) -> int:
    data = event.get("data") if isinstance(event, dict) else getattr(event, "data", None)
    value = data.get("left_out") if isinstance(data, dict) else None
    return value if isinstance(value, int) and value > 0 else 0


def render_events(events: list[Event], *, label: str, state: str, expanded: bool) -> None:
    # Not a `with` block: leaving one would mark the status complete while the job still runs.
    box = st.status(plain(label), state=state, expanded=expanded)
    first, latest, hidden = bounded(events)
    for event in first:
        box.markdown(event_line(event))
    if hidden:
        box.caption(f"... {hidden:,} more event(s) not shown here ...")
    for event in latest:
        box.markdown(event_line(event))


def event_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored run's events as table rows, bounded like the live log (one row says how many are left out)."""
    first, latest, hidden = bounded(events)

    def row(e: dict[str, Any]) -> dict[str, Any]:
        return {
            "s": e.get("elapsed_s"),
            "event": e.get("kind"),
            "message": e.get("message"),
            "model": e.get("model"),
            "attempt": e.get("attempt_no"),
        }

    gap = [{"s": None, "event": "...", "message": f"{hidden:,} more event(s) not shown", "model": None, "attempt": None}] if hidden else []
    return [row(e) for e in first] + gap + [row(e) for e in latest]
