"""Uploads: the links a file host answered for reference files, by the files' sha256, while they are valid."""

from __future__ import annotations

import time
from typing import Any


class UploadQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._transaction`` the one
    write path (every value scrubbed)."""

    db: Any
    _transaction: Any

    def upload_kept(self, sha256: str, files_root: str, url: str, expires_at: float, *, now: float | None = None) -> None:
        """Keep the link ``files_root`` answered for the file with this sha256; links past their end are dropped."""
        at = time.time() if now is None else now
        self._transaction(
            [
                (
                    "INSERT INTO uploads (sha256, files_root, url, expires_at, created_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (sha256, files_root) DO UPDATE SET url = excluded.url, expires_at = excluded.expires_at, "
                    "created_at = excluded.created_at",
                    [sha256, files_root, url, float(expires_at), at],
                ),
                ("DELETE FROM uploads WHERE expires_at < ?", [at]),
            ]
        )

    def upload_link(self, sha256: str, files_root: str, *, valid_until: float) -> tuple[str, float] | None:
        """(link, its end) of this file at ``files_root`` when it lasts past ``valid_until``, else None."""
        row = self.db.execute(
            "SELECT url, expires_at FROM uploads WHERE sha256 = ? AND files_root = ? AND expires_at > ?",
            [sha256, files_root, valid_until],
        ).fetchone()
        return (row[0], row[1]) if row else None
