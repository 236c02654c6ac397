"""A comparison read back from the store: each cell's latest run, its status, images and
error; the judging (a winner per row, thumbs and a note per cell); summaries per target."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib import redact
from lib.checks.gate import CellChecks, stored_cell
from lib.compare.grid import TERMINAL, GridPlan, Target, VaryAxis, cell_key, provider_name
from lib.errors import ERROR_INFO
from lib.store.records import AttemptRecord, run_error

# --------------------------------------------------------------------------
# Reading a comparison back


def comparison_row(store: Any, comparison_id: str) -> dict[str, Any] | None:
    return store.comparison(comparison_id)


@dataclass
class CellState:
    key: str
    row: int
    col: int
    variant: int | None
    target: str
    provider: str
    model: str  # requested
    run_id: str
    status: str  # queued | running | succeeded | failed | cancelled | interrupted
    created_at: float
    finished_at: float | None = None
    latency_ms: int | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    tries: int = 1  # runs of this cell (retries of the grid add one each)
    cost_usd: float | None = None  # every attempt of every try
    run_error_type: str | None = None
    repeat: int = 0  # which sample of its cell
    checks: list[dict[str, Any]] = field(default_factory=list)  # the kept checks of its images (Store.checks_for)

    @property
    def verdict(self) -> CellChecks | None:
        """The cell's checks under the gate's rule (passed: every check of every image); None before any is kept."""
        return stored_cell(self.key, self.target, self.checks, ok=self.ok)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def model_used(self) -> str:
        """The model of the image attempt that succeeded, else of the last image attempt (never a check's)."""
        images = [a for a in self.attempts if a.is_image]
        for a in reversed(images):
            if a.status == "succeeded":
                return a.model
        return images[-1].model if images else self.model

    @property
    def fell_back(self) -> bool:
        return self.ok and self.model_used != self.model

    @property
    def last_error(self) -> AttemptRecord | None:
        for a in reversed(self.attempts):
            if a.error_type:
                return a
        return None

    @property
    def error_type(self) -> str | None:
        if self.status in ("succeeded", "cancelled", "queued", "running"):
            return None
        err = self.last_error
        return err.error_type if err else (self.run_error_type or ("interrupted" if self.status == "interrupted" else None))

    @property
    def error_title(self) -> str:
        et = self.error_type
        if not et:
            return ""
        return ERROR_INFO[et].title if et in ERROR_INFO else et  # app_error has its own title now

    def error(self):
        """The error as an ImageLabError, for the full error card."""
        return run_error(self.error_type, self.attempts)


def _status_of(run_status: str | None) -> str:
    if run_status in (*TERMINAL, "queued", "running"):
        return run_status
    return "running"  # written before the engine's statuses existed, and not finished


def cell_states(store: Any, comparison_id: str) -> dict[str, CellState]:
    """The current state of each cell: its latest run (retries replace it), with attempts and images."""
    runs, rows = store.comparison_runs(comparison_id)
    if not runs:
        return {}
    attempts: dict[str, list[AttemptRecord]] = {}
    costs: dict[str, float] = {}
    kinds = store.attempt_kinds([a["id"] for a in rows])  # a moderation check is no image attempt; what it flagged
    for a in rows:
        run_id = a.pop("run_id")
        attempts.setdefault(run_id, []).append(AttemptRecord.from_row({**kinds.get(a["id"], {}), **a}))
        if a["cost_usd"] is not None:
            costs[run_id] = costs.get(run_id, 0.0) + a["cost_usd"]
    out: dict[str, CellState] = {}
    tries: dict[str, int] = {}
    spent: dict[str, float | None] = {}
    for r in runs:
        try:
            cell = json.loads(r["cell"] or "{}")
        except ValueError:
            continue
        key = cell.get("key")
        if not key:
            continue
        tries[key] = tries.get(key, 0) + 1
        if r["id"] in costs:
            spent[key] = (spent.get(key) or 0.0) + costs[r["id"]]
        out[key] = CellState(
            key=key,
            row=int(cell.get("row", 0)),
            col=int(cell.get("col", 0)),
            variant=cell.get("variant"),
            target=cell.get("target", ""),
            provider=cell.get("provider", ""),
            model=cell.get("model", r["model"] or ""),
            run_id=r["id"],
            status=_status_of(r["status"]),
            created_at=r["created_at"] or 0.0,
            finished_at=r["finished_at"],
            latency_ms=r["latency_ms"],
            attempts=attempts.get(r["id"], []),
            run_error_type=r["error_type"],
            repeat=int(cell.get("repeat") or 0),
        )
    succeeded = [a.id for c in out.values() for a in c.attempts if a.status == "succeeded"]
    images = store.images_for(succeeded)
    checks = store.checks_for(succeeded)
    for key, c in out.items():
        c.checks = [row for a in c.attempts for row in checks.get(a.id, [])]
        c.tries = tries[key]
        c.cost_usd = spent.get(key)
        c.images = [img for a in c.attempts for img in images.get(a.id, [])]
        if c.latency_ms is None and c.done and c.attempts:
            c.latency_ms = sum(a.latency_ms or 0 for a in c.attempts if a.is_image)
    return out


def status_counts(cells: Iterable[CellState]) -> dict[str, int]:
    out = {s: 0 for s in ("queued", "running", *TERMINAL)}
    for c in cells:
        out[c.status] = out.get(c.status, 0) + 1
    return out


def refresh_status(store: Any, comparison_id: str, cells: dict[str, CellState] | None = None) -> str | None:
    """Mark a comparison done (with its finish time) once every cell has ended; returns its status."""
    row = comparison_row(store, comparison_id)
    if row is None:
        return None
    cells = cell_states(store, comparison_id) if cells is None else cells
    if cells and all(c.done for c in cells.values()) and row["finished_at"] is None:
        finished = max((c.finished_at or 0.0) for c in cells.values()) or time.time()
        status = "cancelled" if row["status"] == "cancelled" else "done"
        store.comparison_finished(comparison_id, status, finished)
        return status
    return row["status"]


def list_comparisons(store: Any, limit: int = C.COMPARE_LIST_SIZE) -> list[dict[str, Any]]:
    """The newest comparisons: title, date, grid size, status counts of their cells."""
    rows = store.recent_comparisons(limit)
    out = []
    for row in rows:
        try:
            plan = GridPlan.from_axes(json.loads(row["axes"] or "{}"))
            shape, n_cells = plan.shape(), plan.n_cells
        except (ValueError, KeyError, TypeError):
            shape, n_cells = "?", 0
        counts = status_counts(cell_states(store, row["id"]).values())
        out.append(
            {
                "id": row["id"],
                "title": row["title"],
                "created_at": row["created_at"],
                "finished_at": row["finished_at"],
                "status": row["status"],
                "shape": shape,
                "cells": n_cells,
                "counts": counts,
            }
        )
    return out


# --------------------------------------------------------------------------
# Judging: a winner per row, thumbs and a note per cell


def ratings(store: Any, comparison_id: str) -> dict[str, dict[str, Any]]:
    return store.ratings(comparison_id)


def _ensure_rating(store: Any, comparison_id: str, key: str) -> None:
    m = re.fullmatch(r"r(\d+)c(\d+)(?:v(\d+))?", key)  # judged per cell: its samples together
    if not m:
        raise ValueError(f"not a cell key: {key!r}")
    store.ensure_rating(comparison_id, key, int(m.group(1)), int(m.group(3)) if m.group(3) else -1)


def set_thumb(store: Any, comparison_id: str, key: str, thumb: int | None) -> None:
    """+1 thumbs up, -1 thumbs down, None neither."""
    if thumb not in (None, 1, -1):
        raise ValueError("thumb is +1, -1 or None")
    _ensure_rating(store, comparison_id, key)
    store.set_rating(comparison_id, key, thumb=thumb)


def set_note(store: Any, comparison_id: str, key: str, note: str) -> None:
    _ensure_rating(store, comparison_id, key)
    store.set_rating(comparison_id, key, note=redact.scrub(note or "", limit=C.COMPARE_NOTE_MAX_CHARS).strip() or None)


def set_winner(store: Any, comparison_id: str, key: str, winner: bool = True) -> None:
    """The star of a row (within its variant): starring one cell unstars the others of that row."""
    _ensure_rating(store, comparison_id, key)
    store.set_winner(comparison_id, key, winner)


# --------------------------------------------------------------------------
# The whole comparison, summaries


@dataclass
class Column:
    col: int
    variant: int | None
    target: Target
    value: str | None

    @property
    def label(self) -> str:
        return self.target.label

    def sub_label(self, vary: VaryAxis | None) -> str:
        return vary.label(self.value) if vary and self.value is not None else ""


@dataclass
class ComparisonView:
    id: str
    title: str
    created_at: float
    finished_at: float | None
    status: str
    plan: GridPlan
    cells: dict[str, CellState]
    ratings: dict[str, dict[str, Any]]
    settings: dict[str, Any]

    @property
    def running(self) -> bool:
        return any(not c.done for c in self.cells.values())

    def unfinished(self) -> list[str]:
        """The keys of the planned cells that have not ended (not started yet, queued or running), in grid order."""
        return [cp.key for cp in self.plan.cells() if cp.key not in self.cells or not self.cells[cp.key].done]

    def columns(self, variant: int | None = None) -> list[Column]:
        """Columns of one variant's grid (or of the grid without a third axis)."""
        value = self.plan.vary.values[variant] if self.plan.vary and variant is not None else None
        return [Column(i, variant, t, value) for i, t in enumerate(self.plan.targets)]

    def all_columns(self) -> list[Column]:
        if not self.plan.vary:
            return self.columns(None)
        return [c for v in range(len(self.plan.vary.values)) for c in self.columns(v)]

    def cell(self, row: int, col: int, variant: int | None) -> CellState | None:
        return self.cells.get(cell_key(row, col, variant))

    def samples(self, key: str) -> list[CellState]:
        """A cell's samples that have started, first to last (one, without repeats)."""
        out = []
        for repeat in range(self.plan.repeats):
            c = self.cells.get(key + (f"s{repeat}" if repeat else ""))
            if c is not None:
                out.append(c)
        return out

    def counts(self) -> dict[str, int]:
        out = status_counts(self.cells.values())
        out["planned"] = self.plan.n_cells
        return out

    def winners(self) -> dict[tuple[int, int], str]:
        """(row, variant or -1) -> the starred cell's key."""
        return {(r["row"], r["variant"]): key for key, r in self.ratings.items() if r.get("winner")}


def load(store: Any, comparison_id: str) -> ComparisonView | None:
    row = comparison_row(store, comparison_id)
    if row is None:
        return None
    cells = cell_states(store, comparison_id)
    status = refresh_status(store, comparison_id, cells) or row["status"]
    if status != row["status"] or row["finished_at"] is None:
        row = comparison_row(store, comparison_id) or row
    return ComparisonView(
        id=row["id"],
        title=row["title"] or "",
        created_at=row["created_at"] or 0.0,
        finished_at=row["finished_at"],
        status=status,
        plan=GridPlan.from_axes(row["axes"], title=row["title"] or ""),
        cells=cells,
        ratings=ratings(store, comparison_id),
        settings=row["settings"] or {},
    )


@dataclass
class ColumnSummary:
    label: str
    sub_label: str
    cells: int
    succeeded: int
    failed: int
    unfinished: int
    median_latency_ms: float | None
    cost_usd: float | None
    winners: int
    error_types: dict[str, int]
    checked: int = 0  # cells with kept checks
    checks_passing: int = 0  # of those, the cells passing every check
    mean_score: float | None = None  # the mean of the checked cells' scores (each its lowest check score)

    @property
    def pass_rate(self) -> float | None:
        return self.checks_passing / self.checked if self.checked else None

    def line(self) -> str:
        from lib.pricing import format_usd

        head = self.label + (f" ({self.sub_label})" if self.sub_label else "")
        latency = f"median {self.median_latency_ms / 1000:.1f} s" if self.median_latency_ms is not None else "no latency yet"
        checks = (
            f", checks {self.checks_passing}/{self.checked} pass ({self.pass_rate:.0%}), mean score {self.mean_score:.2f}"
            if self.checked and self.mean_score is not None
            else ""
        )
        return (
            f"{head}: {self.succeeded}/{self.cells} succeeded, {latency}, {format_usd(self.cost_usd)} estimated, "
            f"{self.winners} win{'s' if self.winners != 1 else ''}{checks}"
        )


def summary(view: ComparisonView) -> list[ColumnSummary]:
    """Per target (and value of the third axis): successes out of cells, median latency, total cost, winners."""
    winners = set(view.winners().values())
    out = []
    for column in view.all_columns():
        cells = [view.cell(r.index, column.col, column.variant) for r in view.plan.rows]
        present = [c for c in cells if c is not None]
        ok = [c for c in present if c.ok]
        latencies = [c.latency_ms for c in ok if c.latency_ms is not None]
        costs = [c.cost_usd for c in present if c.cost_usd is not None]
        errors: dict[str, int] = {}
        for c in present:
            if c.error_type:
                errors[c.error_type] = errors.get(c.error_type, 0) + 1
        verdicts = [v for v in (c.verdict for c in present) if v is not None]
        out.append(
            ColumnSummary(
                label=column.label,
                sub_label=column.sub_label(view.plan.vary),
                cells=len(cells),
                succeeded=len(ok),
                failed=sum(1 for c in present if c.status in ("failed", "interrupted")),
                unfinished=sum(1 for c in cells if c is None or not c.done),
                median_latency_ms=statistics.median(latencies) if latencies else None,
                cost_usd=sum(costs) if costs else None,
                winners=sum(1 for c in present if c.key in winners),
                error_types=errors,
                checked=len(verdicts),
                checks_passing=sum(v.passed for v in verdicts),
                mean_score=statistics.fmean(v.score for v in verdicts) if verdicts else None,
            )
        )
    return out


ROW_ORDERS = {
    "grid": "Grid order",
    "rating": "Best rated first",
    "cost": "Cheapest first",
    "latency": "Fastest first",
    "score": "Best check score first",
}
DESCENDING = ("rating", "score")  # the other orders put the lowest figure first
ROW_FILTERS = {
    "all": "All rows",
    "rated": "Rows with a winner or a thumbs up",
    "failed": "Rows with a failed cell",
    "checks_failed": "Rows with a failed check",
    "unfinished": "Rows still running",
}


@dataclass
class Spread:
    """How a cell's samples differ: how many ended and succeeded, latency and cost (mean and
    standard deviation over the samples that have the figure)."""

    samples: int
    done: int
    succeeded: int
    latency_mean_ms: float | None
    latency_stdev_ms: float | None
    cost_mean_usd: float | None
    cost_stdev_usd: float | None
    checked: int = 0  # samples with kept checks
    checks_passing: int = 0

    def line(self) -> str:
        from lib.pricing import format_usd

        parts = [
            f"{self.succeeded}/{self.samples} samples succeeded"
            + (f", {self.samples - self.done} running" if self.done < self.samples else "")
        ]
        if self.checked:
            parts.append(f"{self.checks_passing}/{self.checked} pass their checks ({self.checks_passing / self.checked:.0%})")
        if self.latency_mean_ms is not None:
            parts.append(f"latency {self.latency_mean_ms / 1000:.1f} s ± {(self.latency_stdev_ms or 0) / 1000:.1f}")
        if self.cost_mean_usd is not None:
            parts.append(f"cost {format_usd(self.cost_mean_usd)} ± {format_usd(self.cost_stdev_usd or 0)}")
        return " · ".join(parts)


def spread(samples: list[CellState]) -> Spread:
    """The spread of a cell's samples: the latency of those that succeeded, the cost of those that ended."""
    done = [c for c in samples if c.done]
    latencies = [float(c.latency_ms) for c in done if c.ok and c.latency_ms is not None]
    costs = [float(c.cost_usd) for c in done if c.cost_usd is not None]

    def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0

    lat, lat_sd = mean_sd(latencies)
    cost, cost_sd = mean_sd(costs)
    verdicts = [v for v in (c.verdict for c in done) if v is not None]
    return Spread(
        len(samples), len(done), sum(1 for c in done if c.ok), lat, lat_sd, cost, cost_sd, len(verdicts), sum(v.passed for v in verdicts)
    )


def row_figures(view: ComparisonView, row: int, columns: Iterable[Column]) -> dict[str, Any]:
    """One row's figures over ``columns``: rating (+2 a winner, +1/-1 a thumb), cost (every
    attempt of its cells, None when none is known), latency (the median of its succeeded
    cells, None when none succeeded), score (the mean of its checked cells' scores, None when
    none is checked), and whether it has a failed or unfinished cell, or a failed check."""
    rating, costs, latencies, failed, unfinished = 0, [], [], False, False
    scores, checks_failed = [], False
    for column in columns:
        key = cell_key(row, column.col, column.variant)
        judged = view.ratings.get(key, {})
        rating += (2 if judged.get("winner") else 0) + int(judged.get("thumb") or 0)
        c = view.cells.get(key)
        if c is None or not c.done:
            unfinished = True
            continue
        if c.cost_usd is not None:
            costs.append(c.cost_usd)
        if c.ok and c.latency_ms is not None:
            latencies.append(c.latency_ms)
        failed = failed or c.status in ("failed", "interrupted")
        verdict = c.verdict
        if verdict is not None:
            scores.append(verdict.score)
            checks_failed = checks_failed or not verdict.passed
    return {
        "rating": rating,
        "cost": sum(costs) if costs else None,
        "latency": statistics.median(latencies) if latencies else None,
        "score": statistics.fmean(scores) if scores else None,
        "checks_failed": checks_failed,
        "failed": failed,
        "unfinished": unfinished,
        "rated": any(
            view.ratings.get(cell_key(row, c.col, c.variant), {}).get("winner")
            or (view.ratings.get(cell_key(row, c.col, c.variant), {}).get("thumb") or 0) > 0
            for c in columns
        ),
    }


def arrange_rows(view: ComparisonView, columns: list[Column], *, order: str = "grid", show: str = "all") -> list[Any]:
    """The rows to draw over ``columns``: kept by ``show`` (ROW_FILTERS), sorted by ``order``
    (ROW_ORDERS; rows without the figure come last, ties keep grid order)."""
    if order not in ROW_ORDERS or show not in ROW_FILTERS:
        raise ValueError(f"unknown row order or filter: {order!r}, {show!r}")
    figures = {r.index: row_figures(view, r.index, columns) for r in view.plan.rows}
    rows = [r for r in view.plan.rows if show == "all" or figures[r.index][show]]
    if order == "grid":
        return rows
    sign = -1 if order in DESCENDING else 1
    return sorted(rows, key=lambda r: (figures[r.index][order] is None, sign * (figures[r.index][order] or 0)))


def live_note(job: Any) -> str:
    """What a cell still in the runner is doing: 'queued: 4 ahead on WisGate', 'running 12 s'."""
    if job is None:
        return ""
    status = getattr(job, "status", "running")
    provider = provider_name(job.spec.settings.provider) if getattr(job, "spec", None) is not None else ""
    ahead = getattr(job, "queue_position", None)
    if status == "queued" or ahead is not None:
        return f"queued: {int(ahead)} ahead on {provider}" if ahead else f"queued: next on {provider}"
    if status == "running":
        return f"running {job.elapsed_s:.0f} s"
    return status
