"""Comparisons (``lib.compare``): the grid's row, its cells' runs and attempts, and the judging."""

from __future__ import annotations

import json
import time
from typing import Any


class ComparisonQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._write`` the one write path."""

    db: Any
    _write: Any
    _insert: Any
    _update: Any
    _transaction: Any

    def insert_comparison(self, comparison_id: str, *, title: str, axes: dict[str, Any], settings: dict[str, Any]) -> None:
        self._insert(
            "comparisons",
            {
                "id": comparison_id,
                "title": title,
                "axes": json.dumps(axes, ensure_ascii=False),
                "created_at": time.time(),
                "status": "running",
                "settings": json.dumps(settings, ensure_ascii=False),
            },
        )

    def comparison_running(self, comparison_id: str) -> None:
        """Running again (cells retried): not finished any more."""
        self._write("UPDATE comparisons SET status = 'running', finished_at = NULL WHERE id = ?", [comparison_id])

    def comparison_cancelled(self, comparison_id: str) -> None:
        self._write("UPDATE comparisons SET status = 'cancelled' WHERE id = ? AND status = 'running'", [comparison_id])

    def comparison_finished(self, comparison_id: str, status: str, finished_at: float) -> None:
        self._update("comparisons", comparison_id, {"status": status, "finished_at": finished_at})

    def comparison(self, comparison_id: str) -> dict[str, Any] | None:
        """The comparison's row, its ``axes`` and ``settings`` read as JSON ({} when unreadable)."""
        rows = list(self.db.query("SELECT * FROM comparisons WHERE id = ?", [comparison_id]))
        if not rows:
            return None
        row = rows[0]
        for key in ("axes", "settings"):
            try:
                row[key] = json.loads(row[key] or "{}")
            except ValueError:
                row[key] = {}
        return row

    def recent_comparisons(self, limit: int) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                "SELECT id, title, axes, created_at, finished_at, status FROM comparisons ORDER BY created_at DESC LIMIT ?", [limit]
            )
        )

    def comparison_runs(self, comparison_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The runs of a comparison's cells (oldest first: a retry comes after the run it replaces),
        and their attempts, in order."""
        runs = list(
            self.db.query(
                "SELECT id, status, cell, model, error_type, latency_ms, created_at, finished_at FROM runs "
                "WHERE comparison_id = ? ORDER BY created_at, rowid",
                [comparison_id],
            )
        )
        if not runs:
            return [], []
        marks = ", ".join("?" for _ in runs)
        attempts = list(
            self.db.query(
                f"SELECT id, run_id, attempt_no, model, status, error_type, http_status, error_code, error_param, error_message, "
                f"latency_ms, cost_usd, fallback_from, retry_after_s, request_id FROM attempts WHERE run_id IN ({marks}) ORDER BY id",
                [r["id"] for r in runs],
            )
        )
        return runs, attempts

    # -- judging ------------------------------------------------------------------

    def ratings(self, comparison_id: str) -> dict[str, dict[str, Any]]:
        return {r["cell_key"]: r for r in self.db.query("SELECT * FROM cell_ratings WHERE comparison_id = ?", [comparison_id])}

    def ensure_rating(self, comparison_id: str, key: str, row: int, variant: int) -> None:
        self._insert(
            "cell_ratings",
            {"comparison_id": comparison_id, "cell_key": key, "row": row, "variant": variant, "updated_at": time.time()},
            ignore=True,
        )

    def set_rating(self, comparison_id: str, key: str, *, thumb: Any = ..., note: Any = ...) -> None:
        """Set the thumb and/or the note of a judged cell (``ensure_rating`` first)."""
        values = {name: value for name, value in (("thumb", thumb), ("note", note)) if value is not ...}
        self._update("cell_ratings", (comparison_id, key), {**values, "updated_at": time.time()})

    def set_winner(self, comparison_id: str, key: str, winner: bool) -> None:
        """The star of a row (within its variant): starring one cell unstars the others of that row, in one transaction."""
        found = list(self.db.query("SELECT row, variant FROM cell_ratings WHERE comparison_id = ? AND cell_key = ?", [comparison_id, key]))
        if not found:
            raise KeyError(key)
        now = time.time()
        statements: list[tuple[str, list[Any]]] = []
        if winner:
            statements.append(
                (
                    "UPDATE cell_ratings SET winner = 0, updated_at = ? WHERE comparison_id = ? AND row = ? AND variant = ? AND winner = 1",
                    [now, comparison_id, found[0]["row"], found[0]["variant"]],
                )
            )
        statements.append(
            (
                "UPDATE cell_ratings SET winner = ?, updated_at = ? WHERE comparison_id = ? AND cell_key = ?",
                [1 if winner else 0, now, comparison_id, key],
            )
        )
        self._transaction(statements)
