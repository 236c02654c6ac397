"""Saved diagnostics snapshots: the list the Diagnostics page shows, and deleting one.
(Saving and reading one is ``recorder``'s.)"""

from __future__ import annotations

from typing import Any


class ReportQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._write`` the one write path."""

    db: Any
    _write: Any

    def reports(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """Saved reports, newest first: id, created_at (epoch seconds), title, note, status, provider, model."""
        return list(
            self.db.query(
                "SELECT id, created_at, title, coalesce(json_extract(body, '$.note'), '') AS note, status, provider, model "
                "FROM reports ORDER BY created_at DESC, id DESC LIMIT ?",
                [int(limit)],
            )
        )

    def delete_report(self, report_id: str) -> bool:
        """Delete one saved report; False when there was none."""
        return self._write("DELETE FROM reports WHERE id = ?", [report_id]).rowcount > 0
