"""Spend guardrails: a daily budget per provider, the estimated cost of what a button sends,
and the decisions that follow (refuse a generation, ask for one confirmation, stop starting
grid cells).

- **Today** is a UTC day, 00:00 to 24:00 UTC, the same for every user of the app.
- **Spent** today on a provider is the recorded estimated cost (``attempts.cost_usd``, priced
  by ``lib.pricing``) of its attempts started today, in the whole database (every session, the
  CLI too), plus the estimate of its runs still queued or running (``Store.spend_window``, the
  one query of it).
- **A limit** comes from the operator (``[budget]`` in secrets.toml or the environment,
  ``lib.config.read_budget``) and from the session (the sidebar). Both may be set: the lower
  one applies, so a session can only tighten the operator's limit, never lift it.
- **What a send costs** is ``lib.pricing.estimate_request`` of each request: n images at its
  size and quality; a fallback is not counted unless it happens (it is then recorded).

Checks and the send that follows them hold one process-wide lock (``sending``), so two
sessions cannot both fit into the same remaining dollars. Nothing here imports Streamlit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lib import constants as C
from lib.config import BudgetConfig
from lib.pricing import Cost, estimate_request, format_usd
from lib.providers import provider_name

DAY_S = 86400
EPSILON_USD = 1e-9  # sums of estimates: a cell that fits exactly still fits
SESSION_SOURCE = "this session's setting (sidebar: Budget)"


def provider_label(provider_id: str) -> str:
    """'OpenAI', 'Sandbox': the name every page gives a provider."""
    return provider_name(provider_id)


# --------------------------------------------------------------------------
# The UTC day


def utc_day(now: float | None = None) -> tuple[float, float]:
    """(start, end) of the UTC day holding ``now``, in Unix seconds."""
    now = time.time() if now is None else now
    start = (int(now) // DAY_S) * DAY_S
    return float(start), float(start + DAY_S)


def day_label(now: float | None = None) -> str:
    """'2026-12-02 (UTC)'."""
    return datetime.fromtimestamp(utc_day(now)[0], UTC).strftime("%Y-%m-%d") + " (UTC)"


def until_next_day(now: float | None = None) -> str:
    """How long until the next UTC day starts: '3 h 12 min'."""
    now = time.time() if now is None else now
    left = max(int(utc_day(now)[1] - now), 0)
    hours, minutes = left // 3600, (left % 3600) // 60
    return f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"


# --------------------------------------------------------------------------
# Limits


@dataclass(frozen=True)
class Limit:
    """The daily limit that applies to a provider, and where it comes from."""

    provider: str
    usd: float | None  # None: no limit
    source: str  # where the applying figure was set ("" when none)
    operator_usd: float | None = None
    operator_source: str = ""
    session_usd: float | None = None

    def where_to_change(self) -> str:
        """Where to raise it, in words: a session cannot lift the operator's limit."""
        if self.operator_usd is not None and (self.session_usd is None or self.operator_usd <= self.session_usd):
            return f"This limit is the operator's ({self.operator_source}): it can be raised there, not from a session."
        return "Raise it in the sidebar (Budget), for this session" + (
            f", up to the operator's {format_usd(self.operator_usd)} ({self.operator_source})." if self.operator_usd is not None else "."
        )


def limit_for(provider_id: str, operator: BudgetConfig | None, session_usd: float | None = None) -> Limit:
    """The limit of a provider: the operator's and the session's, the lower one applying."""
    op_usd, op_source = operator.daily_for(provider_id) if operator is not None else (None, "")
    choices = [(v, s) for v, s in ((op_usd, op_source), (session_usd, SESSION_SOURCE)) if v is not None]
    usd, source = min(choices, key=lambda c: c[0]) if choices else (None, "")
    return Limit(provider_id, usd, source, op_usd, op_source, session_usd)


def confirm_threshold(operator: BudgetConfig | None, session_usd: float | None = None) -> float:
    """Above this estimated cost a send asks for one confirmation: the session's setting, else the
    operator's, else ``DEFAULT_CONFIRM_ABOVE_USD``."""
    if session_usd is not None:
        return session_usd
    if operator is not None and operator.confirm_above_usd is not None:
        return operator.confirm_above_usd
    return C.DEFAULT_CONFIRM_ABOVE_USD


def needs_confirmation(cost_usd: float | None, threshold: float | None) -> bool:
    return cost_usd is not None and threshold is not None and cost_usd > threshold + EPSILON_USD


# --------------------------------------------------------------------------
# Spent today


@dataclass(frozen=True)
class Spend:
    provider: str
    day_start: float
    spent_usd: float  # recorded on finished attempts started today
    running_usd: float  # the estimate of runs still queued or running
    running: int  # how many such runs

    @property
    def total_usd(self) -> float:
        return self.spent_usd + self.running_usd

    def describe(self) -> str:
        """'~$0.95 spent on OpenAI today, 2026-12-02 (UTC), ~$0.21 of it still running'."""
        text = f"{format_usd(self.total_usd)} spent on {provider_label(self.provider)} today, {day_label(self.day_start)}"
        if self.running:
            text += f", {format_usd(self.running_usd)} of it in {self.running} generation(s) still running"
        return text


def _running_cost(entry: dict[str, Any]) -> float:
    request = entry.get("request") or {}
    model = str(request.get("model") or entry.get("model") or "")
    n = request.get("n")
    n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    return estimate_request(model, request, n).usd or 0.0


def spent_today(store: Any, provider_id: str, *, now: float | None = None) -> Spend:
    """What ``provider_id`` has spent today (UTC), every session and process, running runs included."""
    now = time.time() if now is None else now
    start, end = utc_day(now)
    spent, running = store.spend_window(provider_id, start, end, now - C.BUDGET_RUNNING_MAX_AGE_S)
    return Spend(provider_id, start, spent, sum(_running_cost(r) for r in running), len(running))


# --------------------------------------------------------------------------
# The cost of what a button sends


def request_cost(request: Any) -> Cost:
    """The estimate of one generation: n images at its size and quality (``lib.pricing``)."""
    return estimate_request(request.model, request.params(), request.n)


@dataclass(frozen=True)
class SendCost:
    """The estimate of a send (one generation, or every cell of a grid), per provider."""

    usd: float | None  # None when nothing could be priced
    by_provider: dict[str, float]
    requests: int
    unpriced: list[str] = field(default_factory=list)  # models with no estimate

    def label(self) -> str:
        if self.usd is None:
            return "no estimate"
        text = f"{format_usd(self.usd)} (estimate)"
        if self.unpriced:
            text += f", not counting {', '.join(sorted(set(self.unpriced)))} (no price known)"
        return text


def send_cost(items: Iterable[tuple[str, Any]]) -> SendCost:
    """The estimate of sending each (provider id, request)."""
    by: dict[str, float] = {}
    unpriced: list[str] = []
    count = 0
    for provider_id, request in items:
        count += 1
        usd = request_cost(request).usd
        if usd is None:
            unpriced.append(request.model)
            by.setdefault(provider_id, 0.0)
            continue
        by[provider_id] = by.get(provider_id, 0.0) + usd
    priced = count - len(unpriced)
    return SendCost(sum(by.values()) if priced else None, by, count, unpriced)


# --------------------------------------------------------------------------
# Decisions


@dataclass(frozen=True)
class Check:
    """Whether a send fits today's remaining budget of its provider."""

    ok: bool
    provider: str
    cost_usd: float | None
    limit: Limit
    spend: Spend | None
    message: str = ""  # why not (empty when ok)

    @property
    def remaining_usd(self) -> float | None:
        if self.limit.usd is None or self.spend is None:
            return None
        return max(self.limit.usd - self.spend.total_usd, 0.0)

    def status_line(self) -> str:
        """One line for the page: the day, spent, the limit and where it comes from."""
        if self.spend is None:
            return ""
        line = self.spend.describe()
        if self.limit.usd is None:
            return line + "; no daily budget is set."
        return line + f", of a daily budget of {format_usd(self.limit.usd)} ({self.limit.source})."


def refusal(
    provider_id: str, cost_usd: float | None, limit: Limit, spend: Spend, *, what: str = "this generation", now: float | None = None
) -> str:
    left = max((limit.usd or 0.0) - spend.total_usd, 0.0)
    reached = "is used up" if left <= EPSILON_USD else f"has {format_usd(left)} left"
    return (
        f"Not sent: {what} is estimated at {format_usd(cost_usd)}, "
        f"and today's budget for {provider_label(provider_id)} {reached}. {spend.describe()}, of a daily budget of "
        f"{format_usd(limit.usd)}. {limit.where_to_change()} The next day starts at midnight UTC, in {until_next_day(now)}."
    )


def check_send(store: Any, provider_id: str, cost_usd: float | None, limit: Limit, *, now: float | None = None) -> Check:
    """Whether sending ``cost_usd`` more to ``provider_id`` stays within today's limit. Without a
    limit, or without an estimate, it is allowed (the message of an unpriced send says so elsewhere)."""
    spend = spent_today(store, provider_id, now=now)
    if limit.usd is None or cost_usd is None:
        return Check(True, provider_id, cost_usd, limit, spend)
    if spend.total_usd + cost_usd <= limit.usd + EPSILON_USD:
        return Check(True, provider_id, cost_usd, limit, spend)
    return Check(False, provider_id, cost_usd, limit, spend, refusal(provider_id, cost_usd, limit, spend, now=now))


_sending = threading.RLock()  # a grid's send re-enters it when its runner submits the cells


@contextmanager
def sending() -> Iterator[None]:
    """Hold this around a check and the send it allows: in this process, no other send can be
    checked against the same remaining budget before this one's run rows exist."""
    with _sending:
        yield


# --------------------------------------------------------------------------
# Grids: which cells fit


@dataclass
class GridBudget:
    """A grid's cells split into those that fit today's budgets and those not started."""

    start: list[Any]
    skip: list[Any]
    reasons: dict[str, str]  # provider id -> why its remaining cells were not started
    limits: dict[str, Limit]
    spends: dict[str, Spend]

    def note(self, *, now: float | None = None) -> dict[str, Any] | None:
        """What the comparison keeps (``settings.budget``): the skipped cells and why; None when none was."""
        if not self.skip:
            return None
        return {
            "skipped": [c.key for c in self.skip],
            "reasons": dict(self.reasons),
            "day": day_label(now),
            "at": time.time() if now is None else now,
            "limits": {pid: {"usd": lim.usd, "source": lim.source} for pid, lim in self.limits.items() if lim.usd is not None},
        }


def plan_cells(store: Any, cells: list[Any], limits: Callable[[str], Limit], *, now: float | None = None) -> GridBudget:
    """Walk the cells in grid order; each provider's cells start while their estimates fit what is
    left of its budget today. From the first cell that does not fit, that provider's budget counts
    as reached: its later cells are not started (cheaper ones neither), with the reason kept."""
    now = time.time() if now is None else now
    start: list[Any] = []
    skip: list[Any] = []
    reasons: dict[str, str] = {}
    found: dict[str, Limit] = {}
    spends: dict[str, Spend] = {}
    reserved: dict[str, float] = {}
    for cell in cells:
        pid = cell.target.provider
        if pid not in found:
            found[pid] = limits(pid)
            if found[pid].usd is not None:
                spends[pid] = spent_today(store, pid, now=now)
        limit = found[pid]
        if pid in reasons:
            skip.append(cell)
            continue
        cost = request_cost(cell.request).usd
        if limit.usd is None or cost is None:
            start.append(cell)
            continue
        spent = spends[pid].total_usd + reserved.get(pid, 0.0)
        if spent + cost <= limit.usd + EPSILON_USD:
            reserved[pid] = reserved.get(pid, 0.0) + cost
            start.append(cell)
            continue
        reasons[pid] = (
            f"Not started: the daily budget for {provider_label(pid)} ({format_usd(limit.usd)}, {limit.source}) was reached. "
            f"{format_usd(spent)} was spent or running today, {day_label(now)}, when this cell (estimated {format_usd(cost)}) "
            f"was due. {limit.where_to_change()} Then retry the cells that were not started."
        )
        skip.append(cell)
    return GridBudget(start, skip, reasons, found, spends)


def skipped_reason(settings: dict[str, Any] | None, key: str, provider_id: str) -> str:
    """Why a comparison did not start a cell, from its stored note ("" when it was not skipped)."""
    note = (settings or {}).get("budget") if isinstance(settings, dict) else None
    if not isinstance(note, dict) or key not in (note.get("skipped") or []):
        return ""
    reasons = note.get("reasons") or {}
    return str(reasons.get(provider_id) or next(iter(reasons.values()), "Not started: the daily budget was reached."))


# --------------------------------------------------------------------------
# History: spend per UTC day


def spend_per_day(store: Any, flt: Any) -> list[dict[str, Any]]:
    """The estimated cost per UTC day and provider of the attempts ``flt`` covers, for the chart."""
    return [
        {
            "day": datetime.fromtimestamp(day * DAY_S, UTC),
            "provider": provider_label(provider or ""),
            "usd": float(usd or 0.0),
            "attempts": n,
        }
        for day, provider, usd, n in store.spend_per_day(flt)
    ]


__all__ = [
    "Check",
    "DAY_S",
    "GridBudget",
    "Limit",
    "SendCost",
    "Spend",
    "check_send",
    "confirm_threshold",
    "day_label",
    "limit_for",
    "needs_confirmation",
    "plan_cells",
    "provider_label",
    "refusal",
    "request_cost",
    "send_cost",
    "sending",
    "skipped_reason",
    "spend_per_day",
    "spent_today",
    "until_next_day",
    "utc_day",
]
