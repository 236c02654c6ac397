"""History: every attempt, filtered, counted, charted, exported; one attempt in full.

The page (``pages/history.py``) is thin: its filters live in the URL, and this
module turns query parameters into a ``HistoryView`` and back (so the address
bar is always a permalink), runs the stats and chart queries for a view, and
gathers everything about one attempt. Nothing here imports Streamlit.

URL parameters (all optional; repeated keys or commas give several values)::

    since     1h | 24h | 7d | 30d | all | custom      (default 7d)
    from, to  YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)    with since=custom; a date-only "to" includes that day
    provider, model, status, error_type, kind         filters (kind: generate, compare, rerun, probe)
    q         text found in the prompt (case-insensitive)
    checks    failed: only attempts with a failed check (lib/checks)
    page      1, 2, ... of the table
    by        status | error_type                     how the timeline is stacked
    attempt   an attempt id: show that attempt in full

Odd URLs never fail: an unknown value, a bad number or an unknown key is
ignored and reported in plain words (``ParsedView.problems``).

Probe runs (Diagnostics) are left out of the list, the count, the stats, the
charts and the exports unless the run-kind filter asks for them. The list, the
count and the exports hold every attempt; the stats and the charts are figures of
image requests, and spend counts every attempt that costs money, moderation
checks and judge calls included (``lib.store.filters``, ``ATTEMPT_KINDS``).

Rates: ``finished`` attempts are succeeded + failed + interrupted among the attempts
whose request went out (``lib.store.filters.SENT``): an attempt refused before
sending (``invalid_input``) is counted apart as ``refused`` and in no rate.
Attempt success and each error type's rate are shares of ``finished``;
``cancelled`` (the user stopped it) and ``pending`` count in no rate. Run success
is the share of runs that ended with a success, of the runs that ended and were
not stopped by the user (``Store.run_outcomes``). Latency is the provider's time
(``latency_ms``); time waiting inside the app (``wait_ms``) is shown beside it and
left out of percentiles and charts. Percentiles are of succeeded attempts
(nearest rank, to 0.1 s).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from lib import constants as C
from lib import redact
from lib.checks.present import export_entry, export_text
from lib.errors import ERROR_TYPES
from lib.generation import GenerationRequest
from lib.providers import route
from lib.store import ATTEMPT_STATUSES, RUN_KINDS, AttemptFilter, Store
from lib.store.records import AttemptRecord

SINCE_SECONDS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
SINCE_LABELS = {
    "1h": "Last hour",
    "24h": "Last day",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "all": "All time",
    "custom": "Custom range",
}
CHART_BY = ("status", "error_type")
HIDDEN_KINDS = ("probe",)  # run kinds History leaves out until the run-kind filter names them
LIST_KEYS = {"provider": "providers", "model": "models", "status": "statuses", "error_type": "error_types", "kind": "kinds"}
SINGLE_KEYS = ("since", "from", "to", "q", "page", "by", "attempt", "checks")
IGNORED_KEYS = ("embed", "embed_options")  # Streamlit's own
ALLOWED = {"status": ATTEMPT_STATUSES, "error_type": ERROR_TYPES, "kind": RUN_KINDS}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --------------------------------------------------------------------------
# The view: what the URL says


@dataclass
class HistoryView:
    since: str = C.HISTORY_DEFAULT_SINCE
    date_from: str | None = None  # ISO, UTC, with since=custom
    date_to: str | None = None
    providers: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    error_types: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    text: str = ""
    page: int = 1
    chart_by: str = "status"
    attempt: int | None = None
    failed_checks: bool = False  # ?checks=failed

    def time_range(self, now: float) -> tuple[float | None, float | None]:
        if self.since in SINCE_SECONDS:
            return now - SINCE_SECONDS[self.since], None
        if self.since == "custom":
            start = _parse_when(self.date_from, end=False) if self.date_from else None
            end = _parse_when(self.date_to, end=True) if self.date_to else None
            return start, end
        return None, None

    def to_filter(self, now: float | None = None) -> AttemptFilter:
        """The store filter for the list, its count, the stats, the charts and the exports:
        probe runs are left out unless the run-kind filter names kinds."""
        since, until = self.time_range(time.time() if now is None else now)
        return AttemptFilter(
            models=list(self.models),
            providers=list(self.providers),
            statuses=list(self.statuses),
            error_types=list(self.error_types),
            since=since,
            until=until,
            text=self.text,
            kinds=list(self.kinds),
            exclude_kinds=[] if self.kinds else list(HIDDEN_KINDS),
            failed_checks=self.failed_checks,
        )

    def stats_filter(self, now: float | None = None) -> AttemptFilter:
        """The filter for stats and charts: the list's own, image requests only (a moderation check
        or a judge call is no image attempt; their cost is in ``totals``' spend)."""
        return replace(self.to_filter(now), images_only=True)

    def without_attempt(self) -> HistoryView:
        return replace(self, attempt=None)


@dataclass
class ParsedView:
    view: HistoryView
    problems: list[str]


def _parse_when(text: str, *, end: bool) -> float:
    """ISO date or date-time (UTC) -> Unix seconds. A date-only end includes that whole day."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return (day + timedelta(days=1) if end else day).timestamp()
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(value)


def _values(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [str(v) for v in raw]
    return [str(raw)]


def _shown(value: str) -> str:
    """A value from a URL, safe to repeat in a message (cut, control characters visible)."""
    return repr(_CONTROL.sub("?", value)[: C.HISTORY_MAX_PARAM_CHARS])


def parse_view(params: Mapping[str, Any]) -> ParsedView:
    """Query parameters (``{key: value or [values]}``) -> a view, plus what was ignored and why."""
    view = HistoryView()
    problems: list[str] = []
    for key in params:
        if key in IGNORED_KEYS:
            continue
        if key not in LIST_KEYS and key not in SINGLE_KEYS:
            problems.append(f"Unknown filter {_shown(str(key))} ignored.")
    for key, attr in LIST_KEYS.items():
        seen: list[str] = []
        for raw in _values(params.get(key)):
            for part in raw.split(","):
                value = part.strip()
                if not value:
                    continue
                if _CONTROL.search(value) or len(value) > C.HISTORY_MAX_PARAM_CHARS:
                    problems.append(f"{key} {_shown(value)} is not a usable value; ignored.")
                    continue
                if key in ALLOWED and value not in ALLOWED[key]:
                    problems.append(f"{key} {_shown(value)} is not one of: {', '.join(ALLOWED[key])}; ignored.")
                    continue
                if value not in seen:
                    seen.append(value)
        if len(seen) > C.HISTORY_MAX_PARAM_VALUES:
            problems.append(f"Only the first {C.HISTORY_MAX_PARAM_VALUES} values of {key} are used.")
            seen = seen[: C.HISTORY_MAX_PARAM_VALUES]
        setattr(view, attr, seen)

    def single(key: str) -> str | None:
        values = [v for v in _values(params.get(key)) if v.strip() != ""]
        if len(values) > 1:
            problems.append(f"{key} was given {len(values)} times; the last one is used.")
        return values[-1].strip() if values else None

    since = single("since")
    if since is not None:
        if since in SINCE_LABELS:
            view.since = since
        else:
            problems.append(f"since {_shown(since)} is not one of: {', '.join(SINCE_LABELS)}; showing {SINCE_LABELS[view.since].lower()}.")
    for key, attr in (("from", "date_from"), ("to", "date_to")):
        value = single(key)
        if value is None:
            continue
        try:
            _parse_when(value, end=key == "to")
        except ValueError:
            problems.append(f"{key} {_shown(value)} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC); ignored.")
            continue
        setattr(view, attr, value)
        if "since" not in params:
            view.since = "custom"
    if view.since == "custom" and view.date_from and view.date_to:
        if _parse_when(view.date_from, end=False) >= _parse_when(view.date_to, end=True):
            problems.append("The custom range ends before it starts; the end is ignored.")
            view.date_to = None
    text = single("q")
    if text is not None:
        cleaned = _CONTROL.sub(" ", text)[: C.HISTORY_MAX_PARAM_CHARS]
        if cleaned != text:
            problems.append("The search text was cut or cleaned of control characters.")
        view.text = cleaned.strip()
    page = single("page")
    if page is not None:
        if re.fullmatch(r"\d{1,7}", page) and int(page) >= 1:
            view.page = int(page)
        else:
            problems.append(f"page {_shown(page)} is not a page number; showing page 1.")
    by = single("by")
    if by is not None:
        if by in CHART_BY:
            view.chart_by = by
        else:
            problems.append(f"by {_shown(by)} is not one of: {', '.join(CHART_BY)}; ignored.")
    checks = single("checks")
    if checks is not None:
        if checks == "failed":
            view.failed_checks = True
        else:
            problems.append(f"checks {_shown(checks)} is not 'failed'; ignored.")
    attempt = single("attempt")
    if attempt is not None:
        if re.fullmatch(r"\d{1,12}", attempt) and int(attempt) >= 1:
            view.attempt = int(attempt)
        else:
            problems.append(f"attempt {_shown(attempt)} is not an attempt number; showing the list.")
    return ParsedView(view, problems)


def params_from_view(view: HistoryView) -> dict[str, str | list[str]]:
    """The query parameters of a view (defaults left out, so links stay short)."""
    out: dict[str, str | list[str]] = {}
    if view.attempt is not None:
        out["attempt"] = str(view.attempt)
    if view.since != C.HISTORY_DEFAULT_SINCE:
        out["since"] = view.since
    if view.since == "custom":
        if view.date_from:
            out["from"] = view.date_from
        if view.date_to:
            out["to"] = view.date_to
    for key, attr in LIST_KEYS.items():
        values = getattr(view, attr)
        if values:
            out[key] = values[0] if len(values) == 1 else list(values)
    if view.text:
        out["q"] = view.text
    if view.page != 1:
        out["page"] = str(view.page)
    if view.chart_by != "status":
        out["by"] = view.chart_by
    if view.failed_checks:
        out["checks"] = "failed"
    return out


def filter_from_params(params: Mapping[str, Any], now: float | None = None) -> AttemptFilter:
    """Query parameters -> the store filter (problems dropped; see ``parse_view``)."""
    return parse_view(params).view.to_filter(now)


def params_from_filter(flt: AttemptFilter) -> dict[str, str | list[str]]:
    """A store filter -> query parameters (absolute times become a custom range)."""
    view = HistoryView(
        providers=list(flt.providers),
        models=list(flt.models),
        statuses=list(flt.statuses),
        error_types=list(flt.error_types),
        kinds=list(flt.kinds),
        text=flt.text,
        failed_checks=flt.failed_checks,
    )
    if flt.since is not None or flt.until is not None:
        view.since = "custom"
        fmt = "%Y-%m-%dT%H:%M:%S"
        if flt.since is not None:
            view.date_from = datetime.fromtimestamp(flt.since, UTC).strftime(fmt)
        if flt.until is not None:
            view.date_to = datetime.fromtimestamp(flt.until, UTC).strftime(fmt)
    else:
        view.since = "all"
    return params_from_view(view)


def query_string(params: Mapping[str, str | list[str]]) -> str:
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, vals in params.items() for v in ([vals] if isinstance(vals, str) else vals)])


# --------------------------------------------------------------------------
# Stats
#
# Query shape: the unary + on status, model, provider and error_type terms keeps SQLite from
# walking the per-model indexes to avoid a sort; it reads idx_attempts_history (covering,
# by time) instead, which is what a time-range filter wants (benchmarks/history.py).


def group_stats(store: Store, flt: AttemptFilter, by: str) -> list[dict[str, Any]]:
    """Per model or per provider: attempts, refused before sending, success rate,
    p50/p95 latency, error rate per error type, images, total and per-image cost.

    One pass over the rows: counts are grouped by latency bins of
    HISTORY_LATENCY_RESOLUTION_MS as well, and each percentile is the largest
    latency in the bin holding its nearest rank (exact to that resolution)."""
    if by not in ("model", "provider"):
        raise ValueError(f"no stats by {by!r}")
    groups: dict[str, dict[str, Any]] = {}
    bins: dict[str, list[tuple[int, int, int]]] = {}
    for key, status, error_type, b, n, images, cost, slowest, sent in store.attempt_groups(flt, by, C.HISTORY_LATENCY_RESOLUTION_MS):
        name = key or "(none)"
        g = groups.setdefault(
            name,
            {
                by: name,
                "attempts": 0,
                "succeeded": 0,
                "failed": 0,
                "interrupted": 0,
                "cancelled": 0,
                "pending": 0,
                "refused": 0,
                "errors": {},
                "images": 0,
                "cost_usd": 0.0,
            },
        )
        g["attempts"] += n
        g["images"] += int(images)
        g["cost_usd"] += cost
        if not sent:  # refused before sending: never reached the provider, in no rate
            g["refused"] += n
            continue
        g[status if status in ATTEMPT_STATUSES else "failed"] += n
        if error_type and status != "cancelled":
            g["errors"][error_type] = g["errors"].get(error_type, 0) + n
        if status == "succeeded" and b is not None:
            bins.setdefault(name, []).append((b, n, slowest))
    out = []
    for key, g in groups.items():
        finished = g["succeeded"] + g["failed"] + g["interrupted"]
        g["finished"] = finished
        g["success_rate"] = g["succeeded"] / finished if finished else None
        g["error_rates"] = {t: n / finished for t, n in sorted(g["errors"].items(), key=lambda kv: -kv[1])} if finished else {}
        g["p50_ms"], g["p95_ms"] = _binned_ranks(sorted(bins.get(key, [])), (50, 95))
        g["cost_per_image"] = g["cost_usd"] / g["images"] if g["images"] else None
        out.append(g)
    return sorted(out, key=lambda g: -g["attempts"])


def _binned_ranks(bins: list[tuple[int, int, int]], percentiles: tuple[float, ...]) -> tuple[int | None, ...]:
    """Nearest-rank percentiles from ascending (bin, count, largest value) triples."""
    total = sum(n for _, n, _ in bins)
    if not total:
        return tuple(None for _ in percentiles)
    out = []
    for p in percentiles:
        rank, seen = max(1, math.ceil(p / 100 * total)), 0
        for _, n, slowest in bins:
            seen += n
            if seen >= rank:
                out.append(slowest)
                break
    return tuple(out)


def stats_table(stats: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Rows for a dataframe: one per model or provider, costs labelled as estimates."""
    rows = []
    for g in stats:
        top = ", ".join(f"{t} {r:.0%}" for t, r in list(g["error_rates"].items())[:4])
        rows.append(
            {
                by: g[by],
                "attempts": g["attempts"],
                "refused before sending": g["refused"],
                "attempt success": g["success_rate"],
                "p50 (s)": g["p50_ms"] / 1000 if g["p50_ms"] is not None else None,
                "p95 (s)": g["p95_ms"] / 1000 if g["p95_ms"] is not None else None,
                "errors (of finished)": top,
                "images": g["images"],
                "cost (est.)": round(g["cost_usd"], 4),
                "per image (est.)": round(g["cost_per_image"], 4) if g["cost_per_image"] is not None else None,
            }
        )
    return rows


def totals(stats: list[dict[str, Any]], runs: tuple[int, int] | None = None, spend: dict[str, float] | None = None) -> dict[str, Any]:
    """The whole view: attempt figures summed over ``stats``; run success from
    ``runs`` (``Store.run_outcomes``: runs that succeeded, runs that ended); the cost from
    ``spend`` (``Store.spend_by_kind``: every attempt that costs money, checks included) when
    given, else the cost of ``stats``. ``checks_cost_usd`` is the part that was no image request."""
    attempts = sum(g["attempts"] for g in stats)
    finished = sum(g["finished"] for g in stats)
    succeeded = sum(g["succeeded"] for g in stats)
    images = sum(g["images"] for g in stats)
    image_cost = sum(g["cost_usd"] for g in stats)
    cost = sum(spend.values()) if spend is not None else image_cost
    runs_ok, runs_ended = runs or (0, 0)
    return {
        "attempts": attempts,
        "refused": sum(g["refused"] for g in stats),
        "finished": finished,
        "succeeded": succeeded,
        "success_rate": succeeded / finished if finished else None,
        "runs_succeeded": runs_ok,
        "runs_ended": runs_ended,
        "run_success_rate": runs_ok / runs_ended if runs_ended else None,
        "images": images,
        "cost_usd": cost,
        "checks_cost_usd": sum(usd for kind, usd in (spend or {}).items() if kind != "image"),
        "cost_per_image": image_cost / images if images else None,
    }


# --------------------------------------------------------------------------
# Charts


def bucket_seconds(span_s: float) -> int:
    for limit, bucket in C.HISTORY_TIMELINE_BUCKETS:
        if span_s <= limit:
            return bucket
    return C.HISTORY_TIMELINE_BUCKETS[-1][1]


def timeline(store: Store, flt: AttemptFilter, *, by: str = "status", now: float | None = None) -> tuple[list[dict[str, Any]], int]:
    """Attempts per time bucket, by status or error type; and the bucket size in seconds."""
    if by not in CHART_BY:
        raise ValueError(f"cannot stack by {by!r}")
    now = time.time() if now is None else now
    start = flt.since
    if start is None:
        first = store.first_started(flt)
        start = first if first is not None else now
    span = max((flt.until or now) - start, 60)
    bucket = bucket_seconds(span)
    rows = [
        {"time": datetime.fromtimestamp(b * bucket, UTC), "key": key, "n": n} for b, key, n in store.attempts_per_bucket(flt, bucket, by)
    ]
    return rows, bucket


def latency_bins(store: Store, flt: AttemptFilter, *, read_timeout_s: float) -> tuple[list[dict[str, Any]], float]:
    """Counts of finished attempts per latency bin and model (failures included:
    timeouts pile up at the read timeout); and the bin width in seconds."""
    width_s = max(1.0, math.ceil(read_timeout_s / C.HISTORY_LATENCY_BINS))
    rows = [
        {"model": model or "(none)", "latency_s": b * width_s, "n": n, "outcome": outcome}
        for model, b, outcome, n in store.latency_counts(flt, width_s * 1000)
    ]
    return rows, width_s


def errors_by_provider(store: Store, flt: AttemptFilter) -> list[dict[str, Any]]:
    return [
        {"provider": provider or "(none)", "error_type": error_type, "n": n} for provider, error_type, n in store.errors_per_provider(flt)
    ]


# --------------------------------------------------------------------------
# The table


def seconds(ms: int | float | None) -> str:
    """Milliseconds as seconds to 0.1 s; an unknown time (NULL, e.g. a wait recorded before waits were) is "—"."""
    return "—" if ms is None else f"{ms / 1000:.1f}"


def percent(part: int, whole: int) -> str:
    """A share as a whole percentage; "—" when there is nothing to take a share of."""
    return f"{part / whole:.0%}" if whole else "—"


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def table_page(store: Store, flt: AttemptFilter, *, page: int, page_size: int = C.DEFAULT_PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
    """One page (1-based) of the table, newest first, and the number of matching attempts."""
    total = store.count_attempts(flt)
    last = max(1, math.ceil(total / page_size))
    page = min(max(page, 1), last)
    rows = store.recent_attempts(flt, page=page - 1, page_size=page_size)
    images = store.images_for(r["id"] for r in rows)
    counts = store.check_counts(r["id"] for r in rows)
    out = []
    for r in rows:
        first = (images.get(r["id"]) or [None])[0]
        kept = counts.get(r["id"])
        out.append(
            {
                # no image: an empty cell (a column of nulls is drawn as the text "None")
                "image": (store.keeper.thumbnail_data_url(first["path"], size=C.HISTORY_THUMB_PX) if first else None) or "",
                "id": r["id"],
                "time (UTC)": when(r["started_at"]),
                "provider": r["provider"] or "",
                "model": r["model"] or "",
                "fell back from": r["fallback_from"] or "",
                "status": r["status"],
                "checks": (f"{kept['checks'] - kept['failed']}/{kept['checks']} passed" if kept else ""),
                "error type": r["error_type"] or "",
                "HTTP": r["http_status"],
                "latency (s)": r["latency_ms"] / 1000 if r["latency_ms"] is not None else None,
                "wait (s)": seconds(r.get("wait_ms")),
                "attempt": r["attempt_no"],
                "cost (est.)": r.get("cost_usd"),
                "prompt": redact.scrub(r["prompt"] or "", limit=C.HISTORY_PROMPT_PREVIEW_CHARS),
            }
        )
    return out, total


# --------------------------------------------------------------------------
# Export

EXPORT_COLUMNS = (
    "id",
    "run_id",
    "started_at",
    "finished_at",
    "latency_ms",
    "wait_ms",
    "provider",
    "url",
    "model",
    "prompt",
    "params",
    "attempt_no",
    "fallback_from",
    "status",
    "error_type",
    "http_status",
    "error_code",
    "error_message",
    "retry_after_s",
    "task_id",
    "request_id",
    "image_count",
    "usage",
    "cost_usd",
    "cost_basis",
    "kind",
)


@dataclass
class Export:
    """The rows of a download and whether the row cap stopped it (``cut``: more attempts match)."""

    rows: list[dict[str, Any]]
    cut: bool
    limit: int


def cut_note(limit: int) -> str:
    """What an export stopped at its row cap says, in the file and on the page."""
    return (
        f"Cut at {limit:,} rows: more attempts match these filters. Only the newest {limit:,} are in this file; "
        "narrow the time range or the filters to export the rest."
    )


def export(store: Store, flt: AttemptFilter, *, limit: int = C.HISTORY_EXPORT_MAX_ROWS) -> Export:
    """The filtered attempts for download, newest first, up to ``limit``; ``cut`` when more match."""
    rows = export_rows(store, flt, limit=limit + 1)
    return Export(rows[:limit], len(rows) > limit, limit)


def export_rows(store: Store, flt: AttemptFilter, *, limit: int = C.HISTORY_EXPORT_MAX_ROWS) -> list[dict[str, Any]]:
    """The filtered attempts for download: never the key (no key hint either), provider text scrubbed."""
    out = []
    found = store.export_attempts(flt, limit)
    checks = store.checks_for([r["id"] for r in found])
    for r in found:
        row = {k: r.get(k) for k in EXPORT_COLUMNS}
        row["checks"] = redact.scrub_obj([export_entry(c) for c in checks.get(r["id"], [])])
        for key in ("params", "usage"):
            if isinstance(row[key], str):
                try:
                    row[key] = json.loads(row[key])
                except ValueError:
                    pass
        row["url"] = redact.strip_query(row["url"]) if row["url"] else row["url"]
        for key in ("prompt", "error_message", "error_code", "request_id", "task_id"):
            if row[key] is not None:
                row[key] = redact.scrub(str(row[key]))
        row["params"] = redact.scrub_obj(row["params"])
        row["started_at_utc"] = when(row["started_at"])
        out.append(row)
    return out


def _parts(data: Export | list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Export | None]:
    return (data.rows, data) if isinstance(data, Export) else (data, None)


def to_json(data: Export | list[dict[str, Any]]) -> str:
    """The JSON download; an export cut at its cap says so (``complete``, ``note``)."""
    rows, exp = _parts(data)
    doc: dict[str, Any] = {"format": "imagelab-attempts/1", "count": len(rows), "cost_note": "cost_usd is an estimate"}
    if exp is not None:
        doc["complete"] = not exp.cut
        if exp.cut:
            doc["row_cap"] = exp.limit
            doc["note"] = cut_note(exp.limit)
    doc["attempts"] = rows
    return json.dumps(doc, indent=1, ensure_ascii=False)


def to_csv(data: Export | list[dict[str, Any]]) -> str:
    """The CSV download; an export cut at its cap ends with a line that says so."""
    rows, exp = _parts(data)
    buf = io.StringIO()
    columns = ["started_at_utc", *EXPORT_COLUMNS, "checks"]
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in row.items()}
        flat["checks"] = export_text(row.get("checks") or [])
        # a cell starting with = + - @ is a formula to a spreadsheet: quote it as text
        for k, v in flat.items():
            if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
                flat[k] = "'" + v
        writer.writerow(flat)
    if exp is not None and exp.cut:
        csv.writer(buf).writerow([cut_note(exp.limit)])
    return buf.getvalue()


# --------------------------------------------------------------------------
# One attempt


def run_events(store: Store, run_id: str | None) -> list[dict[str, Any]]:
    """A run's progress events in order (the run_events table)."""
    return store.run_events(run_id) if run_id else []


def request_of(row: dict[str, Any]) -> GenerationRequest:
    """The GenerationRequest an attempt was made from (prompt, model and stored params)."""
    params = dict(row.get("params") or {}) if isinstance(row.get("params"), dict) else {}
    known = {
        k: params.pop(k) for k in ("size", "n", "quality", "background", "output_format", "output_compression", "moderation") if k in params
    }
    try:
        known["n"] = int(known.get("n", 1))
    except (TypeError, ValueError):
        known["n"] = 1
    # Media: streaming settings are request fields; the reference images are
    # in attempt_inputs (Store.reference_images), not parameters to send.
    for key in ("stream", "partial_images", "input_fidelity"):
        if key in params:
            known[key] = params.pop(key)
    params.pop("reference_images", None)
    params.pop("mask", None)
    return GenerationRequest(prompt=row.get("prompt") or "", model=row.get("model") or "gpt-image-2", extra=params, **known)


def request_as_sent(row: dict[str, Any], links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The request of an attempt, rebuilt from what was stored: the final URL, the
    headers with the key masked (only its last four characters, if stored), the body.
    ``links`` (``Store.sent_links``) are the reference images of a route that sends them as
    links: the body's ``image_urls``, each the link sent (signed query cut) or, when it is no
    longer kept, the file it was made from."""
    hint = row.get("key_hint") or ""
    body, note = _body_as_sent(row)
    if links:
        body["image_urls"] = [
            redact.strip_query(link["url"]) if link.get("url") else f"(link no longer kept: {link.get('filename') or 'image'})"
            for link in links
        ]
    return {
        "method": "POST",
        "url": redact.scrub(redact.strip_query(row.get("url") or "")),
        "headers": {
            "Authorization": f"Bearer {redact.MASK}{hint}" if hint else f"Bearer {redact.MASK} (or no key)",
            "Content-Type": "application/json",
        },
        "body": redact.scrub_obj(body),
        "note": note,
    }


def _body_as_sent(row: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The JSON body an attempt sent, by its kind (``attempt_kind``), and what to say about it."""
    from lib.client._moderation import described_inputs

    kind = row.get("attempt_kind") or "image"
    params = row.get("params") if isinstance(row.get("params"), dict) else {}
    if kind == "moderation":
        images = params.get("images") if isinstance(params.get("images"), int) else 0
        requests = described_inputs(row.get("prompt") or "", max(0, min(images, C.MAX_REFERENCE_IMAGES)))
        more = len(requests) - 1
        note = f"The first of {len(requests)} requests: each further reference image went in a request of its own." if more else ""
        return {"model": row.get("model"), "input": requests[0]}, note
    if kind == "judge":
        return None, "A judge call sends the rubric and the judged image as a chat completion; its body is not kept with the attempt."
    return request_of(row).body(row.get("model")), ""


def sends_links(row: dict[str, Any]) -> bool:
    """Whether an attempt's reference images went as links in ``image_urls`` (its route's way, e.g. EvoLink's)."""
    params = row.get("params") if isinstance(row.get("params"), dict) else {}
    return bool(params.get("reference_images")) and route(row.get("provider"), row.get("model") or "").references == "image_urls"


def attempt_detail(store: Store, attempt_id: int) -> dict[str, Any] | None:
    row = store.attempt(attempt_id)
    if row is None:
        return None
    run = None
    siblings: list[dict[str, Any]] = []
    if row.get("run_id"):
        run = store.run_row(row["run_id"])
        siblings = store.run_attempt_lines(row["run_id"])
    for image in row.get("images", []):
        try:
            image["abs_path"] = str(store.keeper.resolve(image["path"])) if image.get("path") else None
        except ValueError:
            image["abs_path"] = None
    return {
        "attempt": row,
        "run": run,
        "siblings": siblings,
        "events": run_events(store, row.get("run_id")),
        "request": request_as_sent(row, store.sent_links(attempt_id) if sends_links(row) else None),
        "raw_response": row.get("raw_response"),
        "error": AttemptRecord.from_row(row).error(),
        "checks": store.checks_for([attempt_id]).get(attempt_id, []),
    }


def rerun_source(store: Store, row: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The attempt a re-run of ``row`` sends again, and what to say when that is not ``row``'s own request:
    an image request is sent again as it was; a moderation check is no request to send again, its run's
    image request is (the first image attempt, or, when the check stopped the run, the run itself:
    ``row`` is given back with a note); a judge call sends again the image request it judged. (None, why)
    when there is nothing to send again."""
    kind = row.get("attempt_kind") or "image"
    if kind == "moderation":
        image = next((a for a in store.run_attempt_lines(row.get("run_id") or "") if a.get("attempt_kind") == "image"), None)
        if image is not None:
            return store.attempt(image["id"]), (
                f"Attempt #{row['id']} is the moderation check of its run: a re-run sends the run's image request "
                f"(attempt #{image['id']}) again, not the check."
            )
        return row, (
            f"Attempt #{row['id']} is the moderation check that stopped its run: a re-run fills in the image request it "
            "stopped (the check runs again first when it is on)."
        )
    if kind == "judge":
        params = row.get("params") if isinstance(row.get("params"), dict) else {}
        judged = params.get("judged_attempt")
        target = store.attempt(judged) if isinstance(judged, int) and not isinstance(judged, bool) else None
        if target is None or (target.get("attempt_kind") or "image") != "image":
            return None, (
                f"Attempt #{row['id']} is a judge call (a check of an image), and the image request it judged is not "
                "recorded: there is no image request to run again."
            )
        return (
            target,
            f"Attempt #{row['id']} is a judge call on an image of attempt #{target['id']}: a re-run sends that image request again.",
        )
    return row, ""


def rerun_request(store: Store, attempt_id: int) -> dict[str, Any] | None:
    """What Generate needs to send an attempt again: prompt, params, provider, model, and the
    attempt they come from (``rerun_source``: an image request, never a check's); None when there
    is no such attempt or nothing to send again."""
    row = store.attempt(attempt_id)
    if row is None:
        return None
    source, note = rerun_source(store, row)
    if source is None:
        return None
    if (source.get("attempt_kind") or "image") == "moderation":  # the run the check stopped: its own request
        run = store.run_row(source.get("run_id") or "") or {}
        stored = run.get("request") if isinstance(run.get("request"), dict) else {"prompt": source.get("prompt") or ""}
        try:
            request = GenerationRequest.from_dict({**stored, "images": [], "mask": None})
        except (ValueError, TypeError):
            request = GenerationRequest(prompt=source.get("prompt") or "")  # the default image model
        if stored.get("images") or stored.get("mask"):
            note += " The check stopped the run before its reference images were kept: add them again."
    else:
        request = request_of(source)
    return {"attempt_id": source["id"], "provider": source.get("provider") or "", "model": request.model, "request": request, "note": note}


def mark_rerun(store: Store, run_id: str, attempt_id: int) -> None:
    """A run started from History's re-run button: kind 'rerun', pointing at its attempt."""
    store.mark_rerun(run_id, attempt_id)


def replace_view(view: HistoryView, **changes: Any) -> HistoryView:
    return replace(view, **changes)


def without_page(view: HistoryView) -> HistoryView:
    return replace(view, page=1)


def date_of(value: str | None):
    """The date part of a URL's from/to value (for a date widget), or None."""
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").date()
    except ValueError:
        return None


def keep_when(original: str | None, chosen) -> str | None:
    """A date picked in a widget, keeping the URL's time of day when the day is unchanged."""
    if chosen is None:
        return None
    day = chosen.isoformat()
    return original if original and original[:10] == day else day


def as_lists(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Query parameters with every value as a list (how the address bar gives them back)."""
    return {k: ([v] if isinstance(v, str) else [str(x) for x in v]) for k, v in params.items()}


LINEAGE_PARAMS = ("model", "provider", "size", "quality", "n", "background", "output_format")


def diff_markdown(segments: list[Any]) -> str:
    """A word diff (``library.word_diff``) as Markdown: added words on green, removed ones struck
    through on red, every piece of text escaped so a prompt shows literally."""
    from lib.text import markdown

    parts = []
    for seg in segments:
        text = seg.text
        core = text.strip()
        if seg.op == "same" or not core:
            parts.append(markdown(text))
            continue
        lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
        body = markdown(core)
        styled = f":green-background[{body}]" if seg.op == "added" else f":red-background[~~{body}~~]"
        parts.append(f"{lead}{styled}{trail}")
    return "".join(parts)


def lineage_detail(store: Store, run_id: str | None) -> dict[str, Any] | None:
    """History's "how this image came to be": the chain of runs that led to ``run_id``, oldest
    first, each step with its prompt as a word diff against the step before, its parameters, its
    images and the attempt of the step after it; and the runs made from this one. None when the
    run stands alone (no parent, no child)."""
    from lib.library import diff_counts, word_diff

    if not run_id:
        return None
    chain = store.lineage(run_id)
    children = store.children(run_id)
    if len(chain["steps"]) < 2 and not children and not chain["missing_parent"]:
        return None
    steps, before = [], None
    for run in chain["steps"]:
        request = run.get("request") if isinstance(run.get("request"), dict) else {}
        prompt = run.get("prompt") or request.get("prompt") or ""
        params = {k: (run.get(k) if k in ("model", "provider") and run.get(k) else request.get(k)) for k in LINEAGE_PARAMS}
        images = []
        for image in run.get("images", []):
            try:
                images.append(str(store.keeper.resolve(image["path"])))
            except ValueError:
                continue
        diff = word_diff(before, prompt) if before is not None else None
        steps.append(
            {
                "run_id": run["id"],
                "attempt_id": run.get("attempt_id"),
                "status": run.get("status"),
                "created_at": run.get("created_at"),
                "prompt": prompt,
                "params": {k: v for k, v in params.items() if v not in (None, "")},
                "images": images,
                "edit": bool(request.get("images")),
                "diff": diff_markdown(diff) if diff is not None else None,
                "counts": diff_counts(diff) if diff is not None else None,
                "current": run["id"] == run_id,
            }
        )
        before = prompt
    for i, step in enumerate(steps):
        step["next_attempt_id"] = steps[i + 1]["attempt_id"] if i + 1 < len(steps) else None
    return {**chain, "steps": steps, "children": children}
