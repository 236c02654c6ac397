"""Places: the inputs a browser left on each page, kept so that a reload finds them again.
Keyed by a random per-browser token; dropped after ``constants.PLACE_KEEP_DAYS``."""

from __future__ import annotations

import json
import time
from typing import Any

from lib import constants as C


class PlaceQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._transaction`` the one
    write path (every value scrubbed)."""

    db: Any
    _transaction: Any

    def keep_place(self, token: str, page: str, data: dict[str, Any], *, now: float | None = None) -> None:
        """Keep ``data`` (JSON values only) as this browser's place on ``page``, replacing the last
        one; places past their keeping time are dropped on the way."""
        at = time.time() if now is None else now
        blob = json.dumps(data, sort_keys=True, default=str)
        self._transaction(
            [
                (
                    "INSERT INTO places (token, page, data, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (token, page) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    [token, page, blob, at],
                ),
                ("DELETE FROM places WHERE updated_at < ?", [at - C.PLACE_KEEP_DAYS * 86400]),
            ]
        )

    def place(self, token: str, page: str, *, now: float | None = None) -> dict[str, Any]:
        """This browser's kept place on ``page``: {} when none was kept, it is past its keeping time,
        or it cannot be read."""
        at = time.time() if now is None else now
        row = self.db.execute(
            "SELECT data FROM places WHERE token = ? AND page = ? AND updated_at >= ?", [token, page, at - C.PLACE_KEEP_DAYS * 86400]
        ).fetchone()
        if row is None:
            return {}
        try:
            data = json.loads(row[0])
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def forget_place(self, token: str, page: str | None = None) -> None:
        """Drop this browser's place on ``page`` (every page when None)."""
        if page is None:
            self._transaction([("DELETE FROM places WHERE token = ?", [token])])
        else:
            self._transaction([("DELETE FROM places WHERE token = ? AND page = ?", [token, page])])
