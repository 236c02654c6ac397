"""The reads behind the spend guardrails (``lib.budget``): what a provider has spent in a
time window plus what is still running for it, spend per UTC day, and the budget note a
comparison keeps when it stopped starting cells."""

from __future__ import annotations

import json
from typing import Any

from lib.store.filters import AttemptFilter
from lib.store.recovery import owner_alive

DAY_S = 86400


class SpendQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._write`` the one write path."""

    db: Any
    _write: Any

    def spend_window(self, provider: str, since: float, until: float, running_since: float) -> tuple[float, list[dict[str, Any]]]:
        """What ``provider`` has spent from ``since`` to ``until``, in one query over the whole database
        (every session and process): the recorded estimated cost of its finished attempts started in the
        window, and the runs still queued or running for it (created after ``running_since``) in a process
        that is still alive, each with its model and stored request, for the caller to price (a run left by
        a stopped process will spend nothing more). A running run's finished attempts count in the first
        figure too (their cost is already recorded)."""
        rows = self.db.execute(
            "SELECT 'spent', NULL, NULL, NULL, total(cost_usd), NULL, NULL FROM attempts "
            "WHERE provider = ? AND started_at >= ? AND started_at < ? AND status <> 'pending' "
            "UNION ALL "
            "SELECT 'running', id, model, request, NULL, owner_token, owner_pid FROM runs "
            "WHERE provider = ? AND status IN ('queued', 'running') AND created_at >= ?",
            [provider, since, until, provider, running_since],
        ).fetchall()
        spent = 0.0
        running: list[dict[str, Any]] = []
        for part, run_id, model, request, usd, token, pid in rows:
            if part == "spent":
                spent = float(usd or 0.0)
                continue
            if not owner_alive(token, pid):
                continue
            try:
                decoded = json.loads(request) if request else {}
            except ValueError:
                decoded = {}
            running.append({"run_id": run_id, "model": model, "request": decoded if isinstance(decoded, dict) else {}})
        return spent, running

    def spend_per_day(self, flt: AttemptFilter) -> list[tuple[int, str, float, int]]:
        """(UTC day number, provider, estimated cost, attempts) of the finished attempts ``flt`` covers."""
        where, params = flt.where()
        return self.db.execute(
            f"SELECT CAST(started_at / {DAY_S} AS INTEGER) AS d, provider, total(cost_usd), count(*) FROM attempts "
            f"WHERE {where} AND status <> 'pending' GROUP BY d, provider ORDER BY d",
            params,
        ).fetchall()

    def note_comparison_budget(self, comparison_id: str, note: dict[str, Any] | None) -> None:
        """Keep (or with None, drop) the budget note in a comparison's settings: which cells were not
        started and why."""
        if note is None:
            self._write("UPDATE comparisons SET settings = json_remove(coalesce(settings, '{}'), '$.budget') WHERE id = ?", [comparison_id])
            return
        self._write(
            "UPDATE comparisons SET settings = json_set(coalesce(settings, '{}'), '$.budget', json(?)) WHERE id = ?",
            [json.dumps(note, ensure_ascii=False), comparison_id],
        )
