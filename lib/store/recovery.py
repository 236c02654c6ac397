"""Recovery: rows left pending (attempts) or unfinished (runs) by a process that is gone\nbecome interrupted. Each row names the process that wrote it by a token (pid, start\ntime, a random part), so a new process that got an old PID still recovers the old rows,\nand a second live process never steals the first one's rows in flight."""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger("imagelab.store")


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start_time(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (/proc/<pid>/stat
    field 22), or None where /proc cannot tell. A PID reused by a new process
    has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    rest = stat.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else None  # field 22 = index 19 after pid and comm


def _make_owner_token() -> str:
    pid = os.getpid()
    return f"{pid}:{process_start_time(pid) or '-'}:{uuid.uuid4().hex[:12]}"


_OWNER: dict[int, str] = {}


def owner_token() -> str:
    """This process's token: pid, start time, a random part (recomputed after a fork)."""
    pid = os.getpid()
    token = _OWNER.get(pid)
    if token is None:
        token = _OWNER.setdefault(pid, _make_owner_token())
    return token


def owner_alive(token: str | None, pid: int | None) -> bool:
    """Whether the process that wrote a row (``owner_token``, else ``owner_pid``) is still running,
    and is the same process: the rule recovery, the app and the CLI all judge owners by."""
    if token:
        if token == owner_token():
            return True
        parts = token.split(":")
        try:
            owner_pid = int(parts[0])
        except (ValueError, IndexError):
            return False
        started = parts[1] if len(parts) > 1 else "-"
        if owner_pid == os.getpid():
            return False  # our PID, but not our token: an earlier process that had this PID
        if not _pid_alive(owner_pid):
            return False
        if started != "-":
            now = process_start_time(owner_pid)
            if now is not None and now != started:
                return False  # the PID now belongs to another process
        return True
    return _pid_alive(pid)


class RecoveryWrites:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._write`` and
    ``self._transaction`` the one write path."""

    db: Any
    _write: Any
    _transaction: Any

    def mark_interrupted(self) -> int:
        """Rows left pending (attempts) or unfinished (runs) by a process that is
        gone become 'interrupted'. The owner is known by its token (pid, start
        time, random part), so a new process that got an old PID still recovers
        the old rows, and a second live process never steals the first one's."""
        attempts = [
            row[0]
            for row in self.db.execute("SELECT id, owner_token, owner_pid FROM attempts WHERE status = 'pending'").fetchall()
            if not owner_alive(row[1], row[2])
        ]
        runs = [
            row[0]
            for row in self.db.execute(
                "SELECT id, owner_token, owner_pid FROM runs WHERE status IS NULL OR status IN ('queued', 'running')"
            ).fetchall()
            if not owner_alive(row[1], row[2])
        ]
        if not attempts and not runs:
            return 0
        now = time.time()
        statements: list[tuple[str, list[Any]]] = []
        for attempt_id in attempts:
            statements.append(
                (
                    "UPDATE attempts SET status = 'interrupted', error_type = 'interrupted', finished_at = ?, "
                    "error_message = 'The app stopped while this request was in flight.' WHERE id = ? AND status = 'pending'",
                    [now, attempt_id],
                )
            )
        for run_id in runs:
            statements.append(
                (
                    "UPDATE runs SET status = 'interrupted', error_type = 'interrupted', finished_at = coalesce(finished_at, ?), "
                    "attempts = (SELECT count(*) FROM attempts WHERE run_id = ?) WHERE id = ? AND (status IS NULL OR status IN ('queued', 'running'))",
                    [now, run_id, run_id],
                )
            )
        self._transaction(statements)
        log.warning("marked %d attempt(s) and %d run(s) left by a stopped process as interrupted", len(attempts), len(runs))
        return len(attempts)

    def request_cancel(self, run_ids: list[str]) -> int:
        """Ask the processes that own these runs to stop them (``runs.cancel_requested_at``): the
        owner reads it between steps (``cancel_requested``) and ends the run 'cancelled'.
        Finished runs are left as they are. Returns how many runs were asked."""
        ids = list(run_ids)
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        cursor = self._write(
            f"UPDATE runs SET cancel_requested_at = ? WHERE id IN ({marks}) AND cancel_requested_at IS NULL "
            "AND (status IS NULL OR status IN ('queued', 'running'))",
            [time.time(), *ids],
        )
        return cursor.rowcount

    def cancel_requested(self, run_ids: list[str]) -> list[str]:
        """Of these runs, the ones another process asked to stop."""
        ids = list(run_ids)
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = self.db.execute(f"SELECT id FROM runs WHERE id IN ({marks}) AND cancel_requested_at IS NOT NULL", ids).fetchall()
        return [row[0] for row in rows]
