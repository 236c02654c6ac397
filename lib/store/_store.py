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

import json
import logging
import logging.handlers
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.db import NotFoundError

from lib import constants as C
from lib import redact
from lib.classify import is_contention
from lib.config import data_dir as resolve_data_dir
from lib.images import ImageKeeper
from lib.store.checks import CheckQueries
from lib.store.comparisons import ComparisonQueries
from lib.store.evidence import EvidenceQueries, percentile_rank
from lib.store.filters import AttemptFilter
from lib.store.history import HistoryQueries
from lib.store.lineage import LineageQueries
from lib.store.monitoring import MonitoringQueries
from lib.store.places import PlaceQueries
from lib.store.prompts import PromptQueries
from lib.store.recorder import RecorderWrites
from lib.store.recovery import RecoveryWrites
from lib.store.reports import ReportQueries
from lib.store.schema import migrations
from lib.store.spend import SpendQueries
from lib.store.uploads import UploadQueries

log = logging.getLogger("imagelab.store")


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


# --------------------------------------------------------------------------
# The store


class Store(
    RecorderWrites,
    RecoveryWrites,
    EvidenceQueries,
    HistoryQueries,
    ComparisonQueries,
    MonitoringQueries,
    ReportQueries,
    PromptQueries,
    SpendQueries,
    CheckQueries,
    PlaceQueries,
    LineageQueries,
    UploadQueries,
):
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
        self._deferred: list[Callable[[sqlite_utils.Database], Any]] = []  # writes that failed, replayed before the next one
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
            db = sqlite_utils.Database(conn, execute_plugins=False)  # no sqlite-utils plugin of the environment hooks the app's connections
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

    def _insert(self, table: str, row: dict[str, Any], *, defer: bool = False, **options: Any) -> Any:
        """One row into ``table`` (sqlite-utils ``insert``; ``options`` as it takes them); its pk."""
        row = _scrub_row(row)
        return self._write_op(lambda db: db.table(table).insert(row, **options).last_pk, defer=defer)

    def _insert_all(self, table: str, rows: list[dict[str, Any]], **options: Any) -> None:
        """Several rows into ``table`` in one transaction (sqlite-utils ``insert_all``)."""
        scrubbed = [_scrub_row(row) for row in rows]
        self._write_op(lambda db: db.table(table).insert_all(scrubbed, **options))

    def _update(self, table: str, pk: Any, values: dict[str, Any], *, defer: bool = False) -> None:
        """Set ``values`` on the row ``pk`` of ``table`` (sqlite-utils ``update``); no such row: nothing."""
        values = _scrub_row(values)

        def update(db: sqlite_utils.Database) -> None:
            try:
                db.table(table).update(pk, values)
            except NotFoundError:
                log.debug("no row %r in %s to update", pk, table)

        self._write_op(update, defer=defer)

    def _transaction(self, statements: list[tuple[str, list[Any]]], *, defer: bool = False) -> sqlite3.Cursor:
        """Run statements in one transaction (see ``_write_op``)."""
        statements = [(sql, _scrub_row(list(params))) for sql, params in statements]
        return self._write_op(lambda db: self._run_statements(statements), defer=defer)

    def _write_op(self, op: Callable[[sqlite_utils.Database], Any], *, defer: bool = False) -> Any:
        """The one write path: ``op`` (its values already scrubbed, the one redaction step of
        every write) under this process's write lock. A failure (e.g. a lock held past the
        busy timeout) is retried; if it still fails and ``defer``, the write is kept and
        replayed before the next one (``flush``); the error is raised to the caller, who logs it."""
        with self._write_lock:
            self._replay_deferred()
            delay = C.STORE_WRITE_RETRY_DELAY_S
            for attempt in range(C.STORE_WRITE_RETRIES + 1):
                try:
                    return op(self.db)
                except sqlite3.OperationalError as err:
                    if attempt == C.STORE_WRITE_RETRIES or not is_contention(err):
                        # A full disk or a read-only file does not get better in a second: no waiting for it.
                        if defer:
                            log.error("a database write failed %d times (%s); kept to replay later", attempt + 1, err)
                            self._deferred.append(op)
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
            if db.conn.in_transaction:  # SQLite already rolled back on its own after a full disk or an I/O error
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        assert cursor is not None
        return cursor

    def _replay_deferred(self) -> None:
        while self._deferred:
            op = self._deferred[0]
            try:
                op(self.db)
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

    # -- the Recorder interface (see lib.client.Recorder) ---------------------------

    # -- media: reference images and masks of edits -------------------------

    # -- reports ----------------------------------------------------------------------

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

    def run_events(self, run_id: str, *, head: int = C.MAX_RUN_EVENTS, tail: int = C.MAX_RUN_EVENTS) -> list[dict[str, Any]]:
        """The events of a run, in the order they happened: all of them, or for a run that
        stored more than ``head + tail`` (one recorded before events were coalesced may hold
        hundreds of thousands), the first ``head``, a ``note`` event counting those between,
        and the last ``tail``: read from the index, never the whole run."""
        total = self.db.execute("SELECT count(*) FROM run_events WHERE run_id = ?", [run_id]).fetchone()[0]
        if total <= head + tail:
            rows = list(self.db.query("SELECT * FROM run_events WHERE run_id = ? ORDER BY seq, id", [run_id]))
        else:
            first = list(self.db.query("SELECT * FROM run_events WHERE run_id = ? ORDER BY seq, id LIMIT ?", [run_id, head]))
            last = list(self.db.query("SELECT * FROM run_events WHERE run_id = ? ORDER BY seq DESC, id DESC LIMIT ?", [run_id, tail]))
            left_out = total - head - tail
            gap = {
                "id": None,
                "run_id": run_id,
                "seq": first[-1]["seq"] if first else 0,
                "at": first[-1]["at"] if first else None,
                "elapsed_s": first[-1]["elapsed_s"] if first else None,
                "kind": "note",
                "message": f"{left_out:,} more stored events of this run are not listed (the first {head} and the last {tail} are)",
                "model": None,
                "attempt_no": None,
                "data": json.dumps({"left_out": left_out}),
            }
            rows = [*first, gap, *reversed(last)]
        for row in rows:
            row["data"] = json.loads(row["data"]) if row.get("data") else {}
        return rows

    def recent_runs(self, kind: str | None = None, limit: int = C.RECENT_RUNS, *, owner_session: str | None = None) -> list[dict[str, Any]]:
        """The newest runs (optionally of one kind, or of one browser session only), each with its
        first image's path and its attempt count."""
        clauses, params = [], []
        if kind:
            clauses.append("r.kind = ?")
            params.append(kind)
        if owner_session is not None:
            clauses.append("r.owner_session = ?")
            params.append(owner_session)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
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
