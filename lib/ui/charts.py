"""History's charts (Altair): attempts over time, latency per model against the read
timeout, error types per provider, estimated spend per UTC day and provider. They draw the
rows ``lib.history`` and ``lib.budget`` compute."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lib import constants as C
from lib.errors import ERROR_TYPES

STATUS_COLORS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "interrupted": "#ef6c00",
    "cancelled": "#757575",
    "pending": "#1565c0",
    "refused": "#b0a06b",  # refused before sending (never reached the provider)
}
STATUS_LABELS = {"refused": "refused before sending"}

# One fixed colour per error type, so a type keeps its colour across charts; every chart
# by error type draws the whole legend (all types, in the vocabulary's order).
_ERROR_PALETTE = (
    "#9e9e9e",  # invalid_input
    "#6a1b9a",  # auth
    "#ab47bc",  # permission
    "#283593",  # endpoint_not_found
    "#1e88e5",  # model_not_found
    "#00897b",  # bad_request
    "#d81b60",  # content_policy
    "#fb8c00",  # rate_limited
    "#e53935",  # quota_exceeded
    "#8d1c1c",  # server_error
    "#fdd835",  # timeout
    "#5d4037",  # network
    "#43a047",  # task_failed
    "#00acc1",  # bad_response
    "#c0ca33",  # invalid_image
    "#f48fb1",  # image_fetch_failed
    "#212121",  # interrupted
    "#80cbc4",  # app_error
)
ERROR_COLORS = dict(zip(ERROR_TYPES, _ERROR_PALETTE, strict=True))


def error_color(title: str = "error type", field: str = "key"):
    """The colour encoding of an error-type field: fixed colours, the whole legend."""
    import altair as alt

    return alt.Color(
        f"{field}:N",
        title=title,
        scale=alt.Scale(domain=list(ERROR_COLORS), range=list(ERROR_COLORS.values())),
        legend=alt.Legend(values=list(ERROR_COLORS), symbolLimit=len(ERROR_COLORS), labelLimit=200, orient="bottom", columns=6),
    )


def timeline_chart(rows: list[dict[str, Any]], *, by: str, bucket_s: int, start: float | None = None, end: float | None = None):
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(rows)
    df["end"] = df["time"] + pd.Timedelta(seconds=bucket_s * 0.9)
    df["when"] = [t.strftime("%Y-%m-%d %H:%M") + " UTC" for t in df["time"]]
    # drawn in UTC, as labelled (not the browser's time zone); the whole time range asked for
    scale = (
        alt.Scale(type="utc", domain=[datetime.fromtimestamp(start, UTC).isoformat(), datetime.fromtimestamp(end, UTC).isoformat()])
        if start and end
        else alt.Scale(type="utc")
    )
    title = "Attempts over time" + (" by status" if by == "status" else " by error type")
    if by == "status":
        df["key"] = [STATUS_LABELS.get(k, k) for k in df["key"]]
        keys = [k for k in STATUS_COLORS if STATUS_LABELS.get(k, k) in set(df["key"])]
        color = alt.Color(
            "key:N",
            title="status",
            scale=alt.Scale(domain=[STATUS_LABELS.get(k, k) for k in keys], range=[STATUS_COLORS[k] for k in keys]),
        )
    else:
        color = error_color()
    return (
        alt.Chart(df, title=title)
        .mark_bar()
        .encode(
            x=alt.X("time:T", title=f"time (UTC, {_span_label(bucket_s)} buckets)", scale=scale),
            x2="end:T",
            y=alt.Y("sum(n):Q", title="attempts", stack=True),
            color=color,
            tooltip=[
                alt.Tooltip("when:N", title="from"),
                alt.Tooltip("key:N", title=by),
                alt.Tooltip("sum(n):Q", title="attempts"),
            ],
        )
    )


def latency_chart(rows: list[dict[str, Any]], *, width_s: float, read_timeout_s: float):
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(rows)
    df["latency_end"] = df["latency_s"] + width_s
    bars = (
        alt.Chart(df)
        .mark_bar(opacity=0.8)
        .encode(
            x=alt.X("latency_s:Q", title="provider latency (s; time waiting in the app left out)", bin=alt.Bin(binned=True, step=width_s)),
            x2="latency_end:Q",
            y=alt.Y("sum(n):Q", title="attempts"),
            color=alt.Color(
                "outcome:N", scale=alt.Scale(domain=["succeeded", "failed"], range=[STATUS_COLORS["succeeded"], STATUS_COLORS["failed"]])
            ),
            tooltip=["model:N", "outcome:N", alt.Tooltip("latency_s:Q", title="from (s)"), alt.Tooltip("sum(n):Q", title="attempts")],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"timeout": [read_timeout_s]}))
        .mark_rule(color="#c62828", strokeDash=[6, 3], size=2)
        .encode(x="timeout:Q", tooltip=[alt.Tooltip("timeout:Q", title="read timeout (s)")])
    )
    models = sorted(df["model"].unique())[: C.HISTORY_LATENCY_MAX_MODELS]
    panels = [alt.layer(bars.transform_filter(alt.datum.model == m), rule).properties(title=str(m), height=110) for m in models]
    return alt.vconcat(*panels).properties(title=f"Latency per model (dashed line: the read timeout, {read_timeout_s:.0f} s)")


def errors_chart(rows: list[dict[str, Any]]):
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(rows)
    return (
        alt.Chart(df, title="Error types per provider")
        .mark_bar()
        .encode(
            y=alt.Y("provider:N", title=None),
            x=alt.X("sum(n):Q", title="attempts that reached the provider"),
            color=error_color(field="error_type"),
            tooltip=["provider:N", "error_type:N", alt.Tooltip("sum(n):Q", title="attempts")],
        )
    )


def spend_chart(rows: list[dict[str, Any]]):
    """Estimated cost per UTC day, stacked by provider (``lib.budget.spend_per_day``)."""
    import altair as alt
    import pandas as pd

    df = pd.DataFrame(rows)
    df["date"] = [d.strftime("%Y-%m-%d") for d in df["day"]]
    return (
        alt.Chart(df, title="Estimated spend per day (UTC days)")
        .mark_bar()
        .encode(
            x=alt.X("date:O", title="day (UTC)", sort="ascending"),
            y=alt.Y("sum(usd):Q", title="estimated cost (USD)", stack=True, axis=alt.Axis(format="$,.2f")),
            color=alt.Color("provider:N", title="provider"),
            tooltip=[
                alt.Tooltip("date:O", title="day (UTC)"),
                "provider:N",
                alt.Tooltip("sum(usd):Q", title="estimated cost (USD)", format="$,.4f"),
                alt.Tooltip("sum(attempts):Q", title="attempts"),
            ],
        )
    )


def _span_label(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"
