"""Bad local state: a data directory whose database file is not a database."""

from __future__ import annotations

from pathlib import Path

from lib import constants as C

GARBAGE = b"this is not an sqlite database, it is a shopping list: eggs, flour\n" * 40


def damaged(data: Path, content: bytes = GARBAGE) -> Path:
    """Make ``data`` a data directory whose database file holds ``content``; return it."""
    data.mkdir()
    (data / C.DB_FILENAME).write_bytes(content)
    return data
