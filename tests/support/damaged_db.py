"""Bad local state: a data directory whose database file is not a database."""

from __future__ import annotations

from pathlib import Path

from lib import constants as C

GARBAGE = b"this is not an sqlite database, it is a shopping list: eggs, flour\n" * 40


def damaged(tmp_path: Path, content: bytes = GARBAGE) -> Path:
    """``tmp_path``/data, holding a database file with ``content`` in it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / C.DB_FILENAME).write_bytes(content)
    return data
