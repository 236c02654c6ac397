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


def refuse_run_writes(db_path: Path, message: str = "database or disk is full", *, after: int = 0) -> None:
    """From now on (or once the database holds ``after`` runs), every connection's attempt to write
    a new run fails with SQLite's ``message``, as a disk that filled up would answer: a trigger in
    the database itself, so it holds for the app's threads and processes alike. ``allow_run_writes``
    undoes it."""
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.execute(
            f"CREATE TRIGGER refuse_runs BEFORE INSERT ON runs WHEN (SELECT count(*) FROM runs) >= {int(after)} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )


def allow_run_writes(db_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TRIGGER IF EXISTS refuse_runs")
