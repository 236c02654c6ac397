"""SQLite through sqlite-utils: every attempt recorded, every image kept.

Threads: a sqlite3 connection belongs to the thread that opened it, so the
store keeps one connection (and one sqlite-utils ``Database``) per thread.
Writes from this process are serialised by one lock, so worker threads never
meet "database is locked"; other processes (the CLI beside the app) are
handled by WAL and a busy timeout.

Write order: an attempt row is inserted as ``pending`` before its request is
sent and updated when it ends. Each row names the process that wrote it; at
start-up, rows still ``pending`` whose process is gone become ``interrupted``
(a second process starting never steals the first one's rows in flight).

Timestamps are Unix seconds (UTC, REAL). ``params``, ``settings`` and
``usage`` are JSON text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import logging.handlers
import math
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlite_utils

from lib import constants as C
from lib import redact
from lib.config import data_dir as resolve_data_dir
from lib.errors import ERROR_TYPES, checklist_step
from lib.images import ImageKeeper
from lib.store.comparisons import ComparisonQueries
from lib.store.filters import AttemptFilter
from lib.store.history import HistoryQueries
from lib.store.monitoring import MonitoringQueries
from lib.store.schema import migrations

log = logging.getLogger("imagelab.store")

ATTEMPT_STATUSES = ("pending", "succeeded", "failed", "interrupted", "cancelled")
RUN_KINDS = ("generate", "compare", "rerun", "probe")


def percentile_rank(count: int, p: float) -> int:
    """The 1-based nearest rank of percentile ``p`` among ``count`` sorted values."""
    return max(1, math.ceil(p / 100 * count))


def _percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = percentile_rank(len(sorted_values), p)
    return sorted_values[rank - 1]


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


def _owner_alive(token: str | None, pid: int | None) -> bool:
    """Whether the process that wrote a row is still running (and is the same process)."""
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


class _ConnectionHolder:
    """Holds a thread's Database in its thread-local; when the thread ends the
    holder is collected and a finalizer closes the connection."""

    __slots__ = ("db", "__weakref__")

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db: sqlite_utils.Database | None = db


def _close_connection(conn: sqlite3.Connection, registry: dict[int, sqlite3.Connection], lock: threading.Lock, key: int) -> None:
    with lock:
        registry.pop(key, None)
    try:
        conn.close()
    except Exception:  # closing at interpreter exit or twice: nothing to do
        pass


# --------------------------------------------------------------------------
# A damaged database file: a clear message, and nothing written over it

_DAMAGE_WORDS = ("file is not a database", "malformed", "disk image", "file is encrypted", "not a database")


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    return any(word in str(err).lower() for word in _DAMAGE_WORDS)


class DamagedDatabase(Exception):
    """The database file exists but SQLite cannot read it. Nothing was written to it."""

    def __init__(self, path: Path, err: BaseException) -> None:
        self.path = Path(path)
        self.detail = str(err)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return (
            f"The database file {self.path} cannot be read ({self.detail}). Nothing was written to it. "
            f"To start afresh, move it aside (for example rename it to {self.path.name}.damaged) and start again: "
            f"a new, empty database is created. To keep your history, restore a backup of it, or try "
            f"'sqlite3 {self.path} .recover' into a new file."
        )


# --------------------------------------------------------------------------
# Redaction: nothing a provider echoes of a key reaches the database


def _scrub_row(values: Any) -> Any:
    """Every text value of a row (a dict of column -> value, or a list of SQL
    parameters) through ``redact.scrub``: registered keys and their fragments in
    any case, secret-shaped tokens and signed query strings are masked. JSON
    texts are scrubbed as text (masking keeps them valid JSON). Call it on the
    values of every write, before the SQL is built."""
    if isinstance(values, dict):
        return {k: redact.scrub(v) if isinstance(v, str) else v for k, v in values.items()}
    return [redact.scrub(v) if isinstance(v, str) else v for v in values]


def _image_insert(attempt_id: int, saved: Any, now: float) -> tuple[str, list[Any]]:
    """The statement that records one kept image (a ``ResultImage``) of an attempt."""
    info = saved.info
    return (
        "INSERT INTO images (attempt_id, sha256, path, width, height, format, byte_size, source, source_url, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            attempt_id,
            info.sha256,
            saved.rel_path,
            info.width,
            info.height,
            info.format,
            info.byte_size,
            saved.source,
            saved.source_url,
            now,
        ],
    )


# --------------------------------------------------------------------------
# The store


class Store(HistoryQueries, ComparisonQueries, MonitoringQueries):
    """The SQLite record of runs, attempts, images and reports. Thread-safe."""

    def __init__(self, path: str | os.PathLike | None = None, *, data_dir: str | os.PathLike | None = None) -> None:
        if path is None:
            root = resolve_data_dir(data_dir)
            path = root / C.DB_FILENAME
        else:
            root = Path(path).resolve().parent
            root.mkdir(parents=True, exist_ok=True)
        self.path = Path(path).resolve()
        self.root = root
        self.keeper = ImageKeeper(root)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._connections: dict[int, sqlite3.Connection] = {}  # open connections, closed with their thread
        self._connections_lock = threading.Lock()
        self._deferred: list[list[tuple[str, list[Any]]]] = []  # writes that failed, replayed before the next one
        try:
            self._migrate()
            self.recovered = self.mark_interrupted()
        except sqlite3.DatabaseError as err:
            if not _is_damage(err):
                raise
            self.close()
            raise DamagedDatabase(self.path, err) from err

    # -- connections --------------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils Database (opened on first use, closed when the thread ends)."""
        holder = getattr(self._local, "holder", None)
        if holder is None or holder.db is None:
            conn = sqlite3.connect(str(self.path), timeout=C.SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {C.SQLITE_BUSY_TIMEOUT_MS}")
            self._enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            db = sqlite_utils.Database(conn)
            db._imagelab_store = self  # type: ignore[attr-defined]  # a Database handed out keeps its store (and connection) alive
            holder = _ConnectionHolder(db)
            key = id(holder)
            with self._connections_lock:
                self._connections[key] = conn
            # Streamlit runs every rerun on a new thread: when the thread ends, its
            # thread-local holder goes away and this closes the connection.
            weakref.finalize(holder, _close_connection, conn, self._connections, self._connections_lock, key)
            self._local.holder = holder
        return holder.db

    @property
    def open_connections(self) -> int:
        with self._connections_lock:
            return len(self._connections)

    def _migrate(self) -> None:
        """Apply pending migrations under SQLite's write lock, so that two
        processes opening a fresh database at once (the app and the CLI) do
        not both create the same tables."""
        with self._write_lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")  # waits for another migrating process (busy timeout)
            try:
                migrations.apply(db)  # inside our transaction, sqlite-utils uses savepoints
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection) -> None:
        """Switch to WAL. On a brand-new file another connection may be doing the
        same, and SQLite does not wait on its busy timeout for this: retry."""
        deadline = time.monotonic() + C.SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(C.SQLITE_LOCK_RETRY_S)

    def _write(self, sql: str, params: Iterable[Any] = (), *, defer: bool = False) -> sqlite3.Cursor:
        return self._transaction([(sql, list(params))], defer=defer)

    def _transaction(self, statements: list[tuple[str, list[Any]]], *, defer: bool = False) -> sqlite3.Cursor:
        """Run statements in one transaction. A failure (e.g. a lock held past
        the busy timeout) is retried; if it still fails, the statements are kept
        and replayed before the next write (``flush``), and the error is raised
        to the caller, who logs it."""
        # The one redaction step of every write.
        statements = [(sql, _scrub_row(list(params))) for sql, params in statements]
        with self._write_lock:
            self._replay_deferred()
            delay = C.STORE_WRITE_RETRY_DELAY_S
            for attempt in range(C.STORE_WRITE_RETRIES + 1):
                try:
                    return self._run_statements(statements)
                except sqlite3.OperationalError as err:
                    if attempt == C.STORE_WRITE_RETRIES:
                        if defer:
                            log.error("a database write failed %d times (%s); kept to replay later", attempt + 1, err)
                            self._deferred.append(statements)
                        else:
                            log.error("a database write failed %d times (%s)", attempt + 1, err)
                        raise
                    log.warning("a database write failed (%s); trying again in %.1f s", err, delay)
                    time.sleep(delay)
                    delay *= 2
        raise AssertionError("unreachable")

    def _run_statements(self, statements: list[tuple[str, list[Any]]]) -> sqlite3.Cursor:
        db = self.db
        if len(statements) == 1:
            return db.execute(*statements[0])
        cursor = None
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                cursor = db.execute(sql, params)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        assert cursor is not None
        return cursor

    def _replay_deferred(self) -> None:
        while self._deferred:
            statements = self._deferred[0]
            try:
                self._run_statements(statements)  # type: ignore[arg-type]
            except sqlite3.OperationalError:
                return  # still failing: keep it for the next write
            self._deferred.pop(0)
            log.info("a database write that had failed was written")

    def flush(self) -> int:
        """Replay writes that failed earlier; returns how many are still waiting."""
        with self._write_lock:
            self._replay_deferred()
            return len(self._deferred)

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        holder = getattr(self._local, "holder", None)
        if holder is not None and holder.db is not None:
            holder.db.close()
            holder.db = None
            self._local.holder = None

    # -- recovery -----------------------------------------------------------------

    def mark_interrupted(self) -> int:
        """Rows left pending (attempts) or unfinished (runs) by a process that is
        gone become 'interrupted'. The owner is known by its token (pid, start
        time, random part), so a new process that got an old PID still recovers
        the old rows, and a second live process never steals the first one's."""
        attempts = [
            row[0]
            for row in self.db.execute("SELECT id, owner_token, owner_pid FROM attempts WHERE status = 'pending'").fetchall()
            if not _owner_alive(row[1], row[2])
        ]
        runs = [
            row[0]
            for row in self.db.execute(
                "SELECT id, owner_token, owner_pid FROM runs WHERE status IS NULL OR status IN ('queued', 'running')"
            ).fetchall()
            if not _owner_alive(row[1], row[2])
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

    # -- the Recorder interface (see lib.client.Recorder) ---------------------------

    def start_run(
        self,
        *,
        kind: str,
        label: str,
        settings: dict[str, Any],
        comparison_id: str | None = None,
        cell: dict[str, Any] | None = None,
        rerun_of: int | None = None,
        provider: str | None = None,
        prompt: str | None = None,
        request: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> str:
        if kind not in RUN_KINDS:
            raise ValueError(f"unknown run kind {kind!r}")
        run_id = uuid.uuid4().hex
        self._write(
            "INSERT INTO runs (id, kind, label, created_at, settings, comparison_id, cell, rerun_of, provider, prompt, "
            "request, status, owner_pid, owner_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                kind,
                label,
                time.time(),
                json.dumps(settings, ensure_ascii=False),
                comparison_id,
                json.dumps(cell, ensure_ascii=False) if cell is not None else None,
                rerun_of,
                provider,
                prompt,
                json.dumps(request, ensure_ascii=False) if request is not None else None,
                status or "running",
                os.getpid(),
                owner_token(),
            ],
        )
        return run_id

    def run_started(self, run_id: str) -> None:
        """A queued run got its worker."""
        self._write(
            "UPDATE runs SET status = 'running', owner_pid = ?, owner_token = ? WHERE id = ? AND status = 'queued'",
            [os.getpid(), owner_token(), run_id],
            defer=True,
        )

    def attempt_started(self, row: dict[str, Any]) -> int:
        hint = (row.get("key_hint") or "")[-C.KEY_HINT_CHARS :]
        cursor = self._write(
            "INSERT INTO attempts (run_id, started_at, provider, url, model, prompt, params, attempt_no, "
            "fallback_from, status, key_hint, owner_pid, owner_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            [
                row.get("run_id"),
                row.get("started_at", time.time()),
                row.get("provider"),
                row.get("url"),
                row.get("model"),
                row.get("prompt"),
                json.dumps(row.get("params") or {}, ensure_ascii=False),
                row.get("attempt_no", 1),
                row.get("fallback_from"),
                hint,
                os.getpid(),
                owner_token(),
            ],
        )
        return int(cursor.lastrowid)

    _FINISH_COLUMNS = (
        "finished_at",
        "latency_ms",
        "status",
        "error_type",
        "http_status",
        "error_code",
        "error_message",
        "error_param",
        "retry_after_s",
        "task_id",
        "request_id",
        "image_count",
        "usage",
        "cost_usd",
        "cost_basis",
        "first_partial_ms",
        "note",
        "raw_response",
    )

    def attempt_finished(self, attempt_id: int, fields: dict[str, Any], images: Iterable[Any] = ()) -> None:
        """The end of an attempt and its image rows, in one transaction:
        ``image_count`` is the number of image rows written with it."""
        images = list(images)
        fields = dict(fields)
        if images:
            fields["image_count"] = len(images)
        values = {k: fields.get(k) for k in self._FINISH_COLUMNS if k in fields}
        if "usage" in values and values["usage"] is not None:
            values["usage"] = json.dumps(values["usage"])
        if values.get("raw_response") is not None:  # History: the answer as it came back, base64 already elided
            values["raw_response"] = redact.scrub(str(values["raw_response"]), limit=C.MAX_RAW_PREVIEW_CHARS + 200)
        if values.get("status") not in (None, *ATTEMPT_STATUSES):
            raise ValueError(f"unknown attempt status {values.get('status')!r}")
        if values.get("error_type") not in (None, *ERROR_TYPES):
            raise ValueError(f"unknown error_type {values.get('error_type')!r}")
        sets = ", ".join(f"{k} = ?" for k in values)
        statements: list[tuple[str, list[Any]]] = [(f"UPDATE attempts SET {sets} WHERE id = ?", [*values.values(), attempt_id])]
        now = time.time()
        statements.extend(_image_insert(attempt_id, saved, now) for saved in images)
        self._transaction(statements, defer=True)

    def image_saved(self, attempt_id: int, saved: Any) -> None:
        """One image row on its own (imports and tools); the client writes images with ``attempt_finished``."""
        self._transaction(
            [
                _image_insert(attempt_id, saved, time.time()),
                (
                    "UPDATE attempts SET image_count = (SELECT count(*) FROM images WHERE attempt_id = ?) WHERE id = ?",
                    [attempt_id, attempt_id],
                ),
            ]
        )

    def run_event(self, run_id: str, seq: int, event: Any) -> None:
        data = getattr(event, "data", None) or {}
        self._write(
            "INSERT INTO run_events (run_id, seq, at, elapsed_s, kind, message, model, attempt_no, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                seq,
                time.time(),
                event.elapsed_s,
                event.kind,
                event.message,
                event.model or None,
                event.attempt_no or None,
                json.dumps(data, ensure_ascii=False, default=str) if data else None,
            ],
            defer=True,
        )

    # -- media: reference images and masks of edits -------------------------

    def inputs_saved(self, attempt_id: int, inputs: list[Any]) -> list[dict[str, Any]]:
        """Keep each reference image / mask (``lib.generation.ReferenceImage``) content-addressed
        and link it to the attempt, in order; the same file is stored once however often it is sent."""
        rows = []
        positions: dict[str, int] = {}
        for ref in inputs:
            saved = self.keeper.save(ref.data, source="input")
            info = saved.info
            position = positions.get(ref.role, 0)
            positions[ref.role] = position + 1
            filename = str(ref.filename or "")[:200]
            rows.append(
                {
                    "attempt_id": attempt_id,
                    "role": ref.role,
                    "position": position,
                    "sha256": info.sha256,
                    "path": saved.rel_path,
                    "filename": filename,
                    "byte_size": info.byte_size,
                    "width": info.width,
                    "height": info.height,
                    "format": info.format,
                    "created_at": time.time(),
                }
            )
        with self._write_lock, self.db.atomic():
            for row in rows:
                self.db.execute(f"INSERT INTO attempt_inputs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
        return rows

    def attempt_inputs(self, attempt_id: int) -> list[dict[str, Any]]:
        """The reference images (role 'image') then the mask (role 'mask') of an attempt, in the order sent."""
        return list(self.db.query("SELECT * FROM attempt_inputs WHERE attempt_id = ? ORDER BY role = 'mask', position, id", [attempt_id]))

    def input_bytes(self, sha256: str) -> bytes | None:
        """The bytes of a kept reference image or mask by its sha256 (None when unknown or deleted)."""
        for row in self.db.query("SELECT path FROM attempt_inputs WHERE sha256 = ? ORDER BY id DESC LIMIT 1", [sha256]):
            try:
                path = self.keeper.resolve(row["path"])
                return path.read_bytes() if path.is_file() else None
            except (OSError, ValueError):
                return None
        return None

    def reference_images(self, attempt_id: int) -> tuple[list[Any], Any]:
        """(images, mask) of an attempt as ``ReferenceImage``s read back from disk, so a re-run sends them again.

        Raises FileNotFoundError naming the file when a kept image has been deleted."""
        from lib.edits import sniff
        from lib.generation import ReferenceImage

        images, mask = [], None
        for row in self.attempt_inputs(attempt_id):
            path = self.keeper.resolve(row["path"])
            if not path.is_file():
                raise FileNotFoundError(f"The reference image '{row['filename']}' ({row['path']}) is no longer in the data directory.")
            data = path.read_bytes()
            ref = ReferenceImage(row["filename"] or path.name, data, row["role"], sniff(data) or "")
            if row["role"] == "mask":
                mask = ref
            else:
                images.append(ref)
        return images, mask

    def run_finished(self, run_id: str, fields: dict[str, Any]) -> None:
        allowed = {k: fields[k] for k in ("finished_at", "status", "model", "error_type", "attempts", "latency_ms") if k in fields}
        sets = ", ".join(f"{k} = ?" for k in allowed)
        self._write(f"UPDATE runs SET {sets} WHERE id = ?", [*allowed.values(), run_id], defer=True)

    # -- reports ----------------------------------------------------------------------

    def save_report(self, *, title: str, provider: str, model: str, status: str, body: dict[str, Any], markdown: str) -> str:
        report_id = uuid.uuid4().hex[:16]
        self._write(
            "INSERT INTO reports (id, created_at, title, provider, model, status, body, markdown) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [report_id, time.time(), title, provider, model, status, json.dumps(body, ensure_ascii=False), markdown],
        )
        return report_id

    def report(self, report_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM reports WHERE id = ?", [report_id]))
        if not rows:
            return None
        row = rows[0]
        row["body"] = json.loads(row["body"] or "{}")
        return row

    # -- reading ------------------------------------------------------------------------

    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        for key in ("params", "usage", "settings", "cell", "request"):
            if key in row and isinstance(row[key], str):
                try:
                    row[key] = json.loads(row[key])
                except ValueError:
                    pass
        return row

    def recent_attempts(
        self, flt: AttemptFilter | None = None, *, page: int = 0, page_size: int = C.DEFAULT_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        """One page of attempts, newest first."""
        where, params = (flt or AttemptFilter()).where()
        sql = f"SELECT * FROM attempts WHERE {where} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        return [self._decode(r) for r in self.db.query(sql, [*params, page_size, page * page_size])]

    def count_attempts(self, flt: AttemptFilter | None = None) -> int:
        where, params = (flt or AttemptFilter()).where()
        return self.db.execute(f"SELECT count(*) FROM attempts WHERE {where}", params).fetchone()[0]

    def attempt(self, attempt_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM attempts WHERE id = ?", [attempt_id]))
        if not rows:
            return None
        row = self._decode(rows[0])
        row["images"] = self.images_for([attempt_id]).get(attempt_id, [])
        row["inputs"] = self.attempt_inputs(attempt_id)  # reference images and mask of an edit
        return row

    def run(self, run_id: str) -> dict[str, Any] | None:
        """A run row, its attempts in order (each with its images), its events, and all its images."""
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        if not rows:
            return None
        run = self._decode(rows[0])
        attempts = [self._decode(r) for r in self.db.query("SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt_no, id", [run_id])]
        images = self.images_for([a["id"] for a in attempts])
        for attempt in attempts:
            attempt["images"] = images.get(attempt["id"], [])
        run["attempts"] = attempts
        run["images"] = [img for a in attempts for img in a["images"]]
        run["events"] = self.run_events(run_id)
        return run

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        """The events of a run, in the order they happened."""
        out = []
        for row in self.db.query("SELECT * FROM run_events WHERE run_id = ? ORDER BY seq, id", [run_id]):
            row["data"] = json.loads(row["data"]) if row.get("data") else {}
            out.append(row)
        return out

    def recent_runs(self, kind: str | None = None, limit: int = C.RECENT_RUNS) -> list[dict[str, Any]]:
        """The newest runs (optionally of one kind), each with its first image's path and its attempt count."""
        where, params = ("WHERE r.kind = ?", [kind]) if kind else ("", [])
        sql = (
            "SELECT r.*, (SELECT i.path FROM images i JOIN attempts a ON a.id = i.attempt_id WHERE a.run_id = r.id ORDER BY i.id LIMIT 1) AS thumb, "
            "(SELECT count(*) FROM images i JOIN attempts a ON a.id = i.attempt_id WHERE a.run_id = r.id) AS image_count "
            f"FROM runs r {where} ORDER BY r.created_at DESC LIMIT ?"
        )
        return [self._decode(r) for r in self.db.query(sql, [*params, limit])]

    def images_for(self, attempt_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        ids = list(attempt_ids)
        out: dict[int, list[dict[str, Any]]] = {}
        if not ids:
            return out
        marks = ", ".join("?" for _ in ids)
        for row in self.db.query(f"SELECT * FROM images WHERE attempt_id IN ({marks}) ORDER BY id", ids):
            out.setdefault(row["attempt_id"], []).append(row)
        return out

    def distinct(self, column: str) -> list[str]:
        if column not in ("model", "provider", "status", "error_type"):
            raise ValueError(f"no distinct values for {column!r}")
        return [r[0] for r in self.db.execute(f"SELECT DISTINCT {column} FROM attempts WHERE {column} IS NOT NULL ORDER BY 1")]

    def model_stats(self, flt: AttemptFilter | None = None) -> list[dict[str, Any]]:
        """Per model: attempts, successes, success rate, p50/p95 latency of
        successful attempts (nearest rank), and the count of each error type."""
        where, params = (flt or AttemptFilter()).where()
        stats: dict[str, dict[str, Any]] = {}
        timed: dict[str, int] = {}
        for model, status, error_type, n, n_latency in self.db.execute(
            f"SELECT model, status, error_type, count(*), count(latency_ms) FROM attempts WHERE {where} GROUP BY model, status, error_type",
            params,
        ):
            s = stats.setdefault(
                model, {"model": model, "attempts": 0, "succeeded": 0, "failed": 0, "interrupted": 0, "pending": 0, "errors": {}}
            )
            s["attempts"] += n
            s[status] = s.get(status, 0) + n
            if error_type:
                s["errors"][error_type] = s["errors"].get(error_type, 0) + n
            if status == "succeeded":
                timed[model] = timed.get(model, 0) + n_latency

        def nth_latency(model: str, rank: int) -> int | None:
            row = self.db.execute(
                f"SELECT latency_ms FROM attempts WHERE {where} AND status = 'succeeded' AND model IS ? "
                f"AND latency_ms IS NOT NULL ORDER BY latency_ms LIMIT 1 OFFSET ?",
                [*params, model, rank - 1],
            ).fetchone()
            return row[0] if row else None

        out = []
        for model, s in stats.items():
            finished = s["succeeded"] + s["failed"]
            n = timed.get(model, 0)
            s["success_rate"] = (s["succeeded"] / finished) if finished else None
            s["p50_ms"] = nth_latency(model, percentile_rank(n, 50)) if n else None
            s["p95_ms"] = nth_latency(model, percentile_rank(n, 95)) if n else None
            out.append(s)
        return sorted(out, key=lambda s: -s["attempts"])

    def time_buckets(self, *, bucket_s: int = 3600, by: str = "status", flt: AttemptFilter | None = None) -> list[dict[str, Any]]:
        """Counts per time bucket and ``by`` (status, error_type, model or provider), for charts."""
        if by not in ("status", "error_type", "model", "provider"):
            raise ValueError(f"cannot bucket by {by!r}")
        where, params = (flt or AttemptFilter()).where()
        sql = (
            f"SELECT CAST(started_at / ? AS INTEGER) * ? AS bucket, coalesce({by}, 'none') AS key, count(*) AS n, "
            f"avg(CASE WHEN status = 'succeeded' THEN latency_ms END) AS avg_latency_ms "
            f"FROM attempts WHERE {where} GROUP BY bucket, key ORDER BY bucket"
        )
        return list(self.db.query(sql, [bucket_s, bucket_s, *params]))

    def evidence(
        self,
        flt: AttemptFilter | None = None,
        *,
        examples: int = C.DIAG_EXAMPLES,
        include_probes: bool = False,
    ) -> dict[int, dict[str, Any]]:
        """Recent evidence per checklist step (1-9; 0 holds errors of no step, such
        as server_error): error counts, example attempts (newest first), and for
        step 4 tasks seen, step 5 whether Retry-After was honoured and how runs
        ended, step 7 where images came from and whether their files exist, step 9
        latency percentiles. Attempts of diagnostics probe runs are left out unless
        ``include_probes``.

        Which step an error belongs to is ``errors.checklist_step``."""
        flt = flt or AttemptFilter()
        if not include_probes and "probe" not in flt.exclude_kinds:
            flt = dataclasses.replace(flt, exclude_kinds=[*flt.exclude_kinds, "probe"])
        where, params = flt.where()
        total = self.db.execute(f"SELECT count(*) FROM attempts WHERE {where}", params).fetchone()[0]
        last_ok = self.db.execute(f"SELECT max(started_at) FROM attempts WHERE {where} AND status = 'succeeded'", params).fetchone()[0]
        out: dict[int, dict[str, Any]] = {
            step: {"total": total, "last_success_at": last_ok, "errors": {}, "examples": []} for step in range(0, 10)
        }
        for error_type, code, param, n in self.db.execute(
            f"SELECT error_type, error_code, CASE WHEN error_type = 'invalid_input' THEN error_param END, count(*) "
            f"FROM attempts WHERE {where} AND error_type IS NOT NULL GROUP BY 1, 2, 3",
            params,
        ):
            step = checklist_step(error_type, code=code, param=param) or 0
            out[step]["errors"][error_type] = out[step]["errors"].get(error_type, 0) + n
        if any(bucket["errors"] for bucket in out.values()):
            # Newest failures first, each to its step, until every step has its examples.
            for row in self.db.query(
                f"SELECT id, run_id, started_at, model, prompt, status, error_type, error_code, error_param, http_status, error_message, "
                f"retry_after_s, latency_ms FROM attempts WHERE {where} AND error_type IS NOT NULL "
                f"ORDER BY started_at DESC, id DESC LIMIT ?",
                [*params, max(200, examples * 40)],
            ):
                bucket = out[checklist_step(row["error_type"], code=row["error_code"], param=row["error_param"]) or 0]
                if len(bucket["examples"]) < examples:
                    bucket["examples"].append(row)
        # Step 4: attempts that went through an async task.
        out[4]["tasks"] = self.db.execute(f"SELECT count(*) FROM attempts WHERE {where} AND task_id IS NOT NULL", params).fetchone()[0]
        # Step 5: after each 429 with a Retry-After, did the retry (the run's next attempt of the
        # same model; a fallback hop is another request) wait long enough?
        honoured = early = 0
        for row in self.db.execute(
            f"SELECT a.finished_at, a.retry_after_s, (SELECT min(b.started_at) FROM attempts b WHERE b.run_id = a.run_id "
            f"AND b.attempt_no > a.attempt_no AND b.model IS a.model) "
            f"FROM attempts a WHERE {where} AND a.error_type = 'rate_limited' AND a.retry_after_s IS NOT NULL",
            params,
        ):
            finished, wait, next_start = row
            if next_start is None or finished is None:
                continue
            if next_start + 0.05 >= finished + wait:
                honoured += 1
            else:
                early += 1
        out[5]["retry_after"] = {"honoured": honoured, "early": early}
        out[5]["runs_ended"] = {
            (status or "running"): n
            for status, n in self.db.execute(
                f"SELECT status, count(*) FROM runs WHERE id IN (SELECT run_id FROM attempts WHERE {where} AND error_type = 'rate_limited') GROUP BY status",
                params,
            )
        }
        # Step 7: where recent images came from, and whether their files are still there.
        images = list(
            self.db.query(
                f"SELECT source, path FROM images WHERE attempt_id IN (SELECT id FROM attempts WHERE {where}) ORDER BY id DESC LIMIT 500",
                params,
            )
        )
        sources: dict[str, int] = {}
        for image in images:
            sources[image["source"] or "?"] = sources.get(image["source"] or "?", 0) + 1
        missing = sum(1 for image in images if not image["path"] or not (self.root / image["path"]).is_file())
        out[7]["images"] = {"count": len(images), "sources": sources, "missing_files": missing}
        lat = [
            r[0]
            for r in self.db.execute(
                f"SELECT latency_ms FROM attempts WHERE {where} AND status = 'succeeded' AND latency_ms IS NOT NULL ORDER BY latency_ms",
                params,
            )
        ]
        out[9]["latency"] = {
            "count": len(lat),
            "p50_ms": _percentile(lat, 50),
            "p95_ms": _percentile(lat, 95),
            "max_ms": lat[-1] if lat else None,
        }
        return out


# --------------------------------------------------------------------------
# Logging


def configure_logging(root: str | os.PathLike, level: int = logging.INFO) -> Path:
    """Log Image Prompt Lab's own messages to ``<data>/logs/imagelab.log`` (rotated)."""
    folder = Path(root) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "imagelab.log"
    logger = logging.getLogger("imagelab")
    if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=C.LOG_MAX_BYTES, backupCount=C.LOG_BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(redact.ScrubFilter())  # keys and signed URLs never reach the log file
        logger.addHandler(handler)
    logger.setLevel(level)
    return path
