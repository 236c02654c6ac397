"""Running a comparison: its row, one run per cell through the engine's JobRunner (its
provider's shared limits), retries of failed cells, a re-run as a new comparison, cancel.

With daily budgets (``limits``, ``lib.budget``), cells start in grid order while their estimates
fit what is left of their provider's budget today; the others are not started: each is a run
ended ``cancelled`` at once with the reason as its event, and the comparison keeps the reason
and the cells in ``settings.budget``. Retrying the failed cells tries those again."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from lib.compare.grid import TERMINAL, CellPlan, GridPlan
from lib.compare.record import cell_states, comparison_row
from lib.generation import ClientSettings

# --------------------------------------------------------------------------
# Running: one comparison row, one run per cell


def cell_settings(settings: ClientSettings, plan: GridPlan) -> ClientSettings:
    """A provider's settings as a grid uses them: fallback as the grid says (off by default), and a
    token bucket at least as deep as the parallel requests allowed, so N cells may start together.
    A sandbox told to be 'healthy' gets no scenario header, so a #tag in a row's prompt still
    chooses that row's fault."""
    headers = dict(settings.extra_headers)
    if settings.provider == "sandbox" and headers.get("X-Sandbox-Scenario") == "healthy":
        del headers["X-Sandbox-Scenario"]
    return replace(
        settings, use_fallback=plan.use_fallback, burst=max(int(settings.burst), int(settings.max_concurrency)), extra_headers=headers
    )


def create_comparison(store: Any, plan: GridPlan, settings: dict[str, ClientSettings] | None = None) -> str:
    comparison_id = uuid.uuid4().hex[:16]
    summary = {"targets": {pid: s.describe() for pid, s in (settings or {}).items()}, "use_fallback": plan.use_fallback}
    store.insert_comparison(comparison_id, title=plan.title or plan.default_title(), axes=plan.axes(), settings=summary)
    return comparison_id


SettingsFor = Callable[[str], ClientSettings]
LimitFor = Callable[[str], Any]  # provider id -> lib.budget.Limit


def _specs(comparison_id: str, cells: list[CellPlan], plan: GridPlan, settings_for: SettingsFor) -> list[Any]:
    from lib.jobs import JobSpec  # the engine's batch API

    cache: dict[str, ClientSettings] = {}
    specs = []
    for cell in cells:
        pid = cell.target.provider
        if pid not in cache:
            cache[pid] = cell_settings(settings_for(pid), plan)
        specs.append(
            JobSpec(
                settings=cache[pid],
                request=cell.request,
                kind="compare",
                comparison_id=comparison_id,
                cell=cell.cell(),
                label=f"{cell.target.label}: {cell.prompt[:100]}",
            )
        )
    return specs


def _skip_cells(store: Any, comparison_id: str, specs: list[Any], reasons: dict[str, str]) -> None:
    """Cells the budget did not start: each a run ended ``cancelled`` now, its reason its one event."""
    import time

    from lib.generation import Event
    from lib.jobs import start_run

    for spec in specs:
        reason = reasons.get(spec.settings.provider, "Not started: the daily budget was reached.")
        run_id = start_run(store, spec, status="cancelled")
        store.run_event(run_id, 0, Event(kind="skipped", message=reason, elapsed_s=0.0))
        store.run_finished(
            run_id, {"status": "cancelled", "finished_at": time.time(), "attempts": 0, "model": spec.request.model, "error_type": None}
        )


def _submit(
    store: Any, runner: Any, comparison_id: str, cells: list[CellPlan], plan: GridPlan, settings_for: SettingsFor, limits: LimitFor | None
) -> Any:
    """Submit the cells as one batch; with ``limits``, only those within today's budgets."""
    if limits is None:
        return runner.submit_batch(_specs(comparison_id, cells, plan, settings_for))
    from lib import budget

    with budget.sending():  # the check and the run rows it allows, before any other send is checked
        fit = budget.plan_cells(store, cells, limits)
        skipped = _specs(comparison_id, fit.skip, plan, settings_for)
        _skip_cells(store, comparison_id, skipped, fit.reasons)
        batch = runner.submit_batch(_specs(comparison_id, fit.start, plan, settings_for))
    row = store.comparison(comparison_id) or {}
    old = (row.get("settings") or {}).get("budget") or {}
    started = {c.key for c in fit.start}
    keys = [k for k in old.get("skipped") or [] if k not in started] + [c.key for c in fit.skip if c.key not in (old.get("skipped") or [])]
    note = fit.note()
    if keys:
        note = {**old, **(note or {}), "skipped": keys, "reasons": {**(old.get("reasons") or {}), **fit.reasons}}
    store.note_comparison_budget(comparison_id, note if keys else None)
    return batch


def start(store: Any, runner: Any, plan: GridPlan, settings_for: SettingsFor, *, limits: LimitFor | None = None) -> tuple[str, Any]:
    """Record the comparison and submit its cells as one batch (with ``limits``, those within today's
    budgets; the rest end at once as not started). Returns (comparison id, Batch)."""
    settings = {t.provider: settings_for(t.provider) for t in plan.targets}
    comparison_id = create_comparison(store, plan, settings)
    batch = _submit(store, runner, comparison_id, plan.cells(), plan, lambda pid: settings[pid], limits)
    return comparison_id, batch


def load_plan(store: Any, comparison_id: str) -> GridPlan | None:
    row = comparison_row(store, comparison_id)
    if row is None:
        return None
    return GridPlan.from_axes(row["axes"], title=row["title"] or "", load=getattr(store, "input_bytes", None))  # media: files back


def retry_cells(
    store: Any,
    runner: Any,
    comparison_id: str,
    settings_for: SettingsFor,
    *,
    keys: Iterable[str] | None = None,
    limits: LimitFor | None = None,
) -> Any | None:
    """Run again the cells that failed, were cancelled or interrupted (or exactly ``keys``); finished images stay.
    Returns the Batch, or None when nothing needed a retry."""
    plan = load_plan(store, comparison_id)
    if plan is None:
        return None
    state = cell_states(store, comparison_id)
    wanted = set(keys) if keys is not None else {k for k, c in state.items() if c.status in ("failed", "cancelled", "interrupted")}
    cells = [c for c in plan.cells() if c.key in wanted and (c.key not in state or state[c.key].status in TERMINAL)]
    if not cells:
        return None
    store.comparison_running(comparison_id)
    return _submit(store, runner, comparison_id, cells, plan, settings_for, limits)


def rerun(
    store: Any, runner: Any, comparison_id: str, settings_for: SettingsFor, *, limits: LimitFor | None = None
) -> tuple[str, Any] | None:
    """The whole grid again, as a new comparison (the old one and its judging stay as they were)."""
    plan = load_plan(store, comparison_id)
    if plan is None:
        return None
    plan.title = (plan.title or plan.default_title()) + " (again)"
    return start(store, runner, plan, settings_for, limits=limits)


def cancel(store: Any, runner: Any, comparison_id: str, *, keys: Iterable[str] | None = None) -> int:
    """Cancel the unfinished cells (all, or ``keys``) wherever they run (``JobRunner.cancel_run``): in this
    process at once, in another live one (the CLI) through the database, and the cells of a process
    that is gone end interrupted. Returns how many were stopped or asked to stop."""
    wanted = set(keys) if keys is not None else None
    n = 0
    for key, c in cell_states(store, comparison_id).items():
        if c.status in TERMINAL or (wanted is not None and key not in wanted):
            continue
        if runner is not None and runner.cancel_run(c.run_id) in ("cancelled", "requested", "interrupted"):
            n += 1
    if wanted is None:
        store.comparison_cancelled(comparison_id)
    return n
