"""The reads behind History (``lib.history``): grouped counts, time buckets, latency bins,
exports and an attempt's run. Each takes an ``AttemptFilter``; grouping keeps to the
covering indexes of the schema (``+column`` stops SQLite from choosing another)."""

from __future__ import annotations

import dataclasses
from typing import Any

from lib.store.filters import IMAGE, SENT, AttemptFilter


def run_outcomes_query(flt: AttemptFilter) -> tuple[str, list[Any]]:
    """The SQL of ``HistoryQueries.run_outcomes``: counting only attempts whose request went out,
    a run succeeded when one of its image attempts did (a moderation check that passed is no image);
    it ended when it has a finished attempt and none cancelled (a run the user stopped is no one's
    failure), so a run the moderation check stopped ended without an image. Judge calls are no image
    runs. Grouped in run order, it reads ``idx_attempts_run_outcomes`` alone: no table rows, no sort."""
    where, params = dataclasses.replace(flt, images_only=False).where()
    return (
        f"SELECT total(ok), count(*) FROM (SELECT max(status = 'succeeded' AND {IMAGE}) AS ok, "
        "max(status = 'cancelled') AS stopped, max(status IN ('succeeded', 'failed', 'interrupted')) AS ended "
        f"FROM attempts WHERE {where} AND {SENT} AND attempt_kind <> 'judge' GROUP BY run_id) WHERE ok OR (ended AND NOT stopped)",
        params,
    )


class HistoryQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database."""

    db: Any
    _write: Any
    _update: Any
    _decode: Any

    def attempt_groups(self, flt: AttemptFilter, by: str, resolution_ms: int) -> list[tuple[Any, ...]]:
        """(key, status, error_type, latency bin, count, images, cost, slowest latency, sent) per
        ``by`` (model or provider), status, error type and latency bin of ``resolution_ms``;
        ``sent`` is 0 for attempts refused before sending (``SENT``)."""
        if by not in ("model", "provider"):
            raise ValueError(f"no groups by {by!r}")
        where, params = flt.where()
        return self.db.execute(
            f"SELECT {by}, status, error_type, CAST(latency_ms / ? AS INTEGER) AS b, count(*), total(image_count), total(cost_usd), "
            f"max(latency_ms), {SENT} AS sent FROM attempts WHERE {where} GROUP BY +{by}, +status, +error_type, b",
            [resolution_ms, *params],
        ).fetchall()

    def run_outcomes(self, flt: AttemptFilter) -> tuple[int, int]:
        """(runs that succeeded, runs that ended) among the runs of the attempts ``flt`` covers
        (``run_outcomes_query``)."""
        sql, params = run_outcomes_query(flt)
        row = self.db.execute(sql, params).fetchone()
        return int(row[0]), int(row[1])

    def spend_by_kind(self, flt: AttemptFilter) -> dict[str, float]:
        """Estimated cost per attempt kind (``ATTEMPT_KINDS``) of the attempts ``flt`` covers, whatever
        ``images_only`` says: spend counts every attempt that costs money."""
        where, params = dataclasses.replace(flt, images_only=False).where()
        return {
            kind or "image": float(usd)
            for kind, usd in self.db.execute(
                f"SELECT attempt_kind, total(cost_usd) FROM attempts WHERE {where} GROUP BY +attempt_kind", params
            )
        }

    def first_started(self, flt: AttemptFilter) -> float | None:
        where, params = flt.where()
        return self.db.execute(f"SELECT min(started_at) FROM attempts WHERE {where}", params).fetchone()[0]

    def attempts_per_bucket(self, flt: AttemptFilter, bucket_s: int, by: str) -> list[tuple[int, str, int]]:
        """(bucket number, status or error type, count); by error type, only attempts that have one.
        By status, an attempt refused before sending is ``refused``, not ``failed``."""
        if by not in ("status", "error_type"):
            raise ValueError(f"cannot count by {by!r}")
        where, params = flt.where()
        label = "coalesce(error_type, 'none')" if by == "error_type" else f"CASE WHEN {SENT} THEN status ELSE 'refused' END"
        cond = " AND error_type IS NOT NULL" if by == "error_type" else ""
        return self.db.execute(
            f"SELECT CAST(started_at / ? AS INTEGER) AS b, {label}, count(*) FROM attempts WHERE {where}{cond} GROUP BY b, 2 ORDER BY b",
            [bucket_s, *params],
        ).fetchall()

    def latency_counts(self, flt: AttemptFilter, width_ms: float) -> list[tuple[str, int, str, int]]:
        """(model, latency bin, succeeded|failed, count) of finished attempts that were sent (the provider's time)."""
        where, params = flt.where()
        return self.db.execute(
            f"SELECT model, CAST(latency_ms / ? AS INTEGER) AS b, CASE WHEN status = 'succeeded' THEN 'succeeded' ELSE 'failed' END, count(*) "
            f"FROM attempts WHERE {where} AND +status IN ('succeeded', 'failed') AND latency_ms IS NOT NULL AND {SENT} GROUP BY +model, b, 3",
            [width_ms, *params],
        ).fetchall()

    def errors_per_provider(self, flt: AttemptFilter) -> list[tuple[str, str, int]]:
        """(provider, error type, count) of attempts that reached the provider and failed."""
        where, params = flt.where()
        return self.db.execute(
            f"SELECT provider, error_type, count(*) FROM attempts WHERE {where} AND +error_type IS NOT NULL AND {SENT} "
            "GROUP BY +provider, +error_type",
            params,
        ).fetchall()

    def export_attempts(self, flt: AttemptFilter, limit: int) -> list[dict[str, Any]]:
        """Whole attempt rows, newest first, with their run's kind as ``kind``."""
        where, params = flt.where()
        return list(
            self.db.query(
                f"SELECT a.*, a.run_kind AS kind FROM attempts a WHERE {where} ORDER BY started_at DESC, id DESC LIMIT ?", [*params, limit]
            )
        )

    def run_row(self, run_id: str) -> dict[str, Any] | None:
        """The run's own row (JSON columns read), without its attempts."""
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return self._decode(rows[0]) if rows else None

    def run_attempt_lines(self, run_id: str) -> list[dict[str, Any]]:
        """A line per attempt of a run, in order: what History lists beside one attempt."""
        return list(
            self.db.query(
                "SELECT id, attempt_no, model, fallback_from, status, error_type, http_status, latency_ms, wait_ms, cost_usd, started_at, "
                "attempt_kind "
                "FROM attempts WHERE run_id = ? ORDER BY attempt_no, started_at, id",
                [run_id],
            )
        )

    def sent_links(self, attempt_id: int) -> list[dict[str, Any]]:
        """The reference images of an attempt, in order (``position``, ``filename``), each with the link kept for
        its file (``uploads``) when it is the one the attempt sent: made before the attempt finished. A file
        uploaded again since has another link, and a link past its end is dropped: then ``url`` is None."""
        return list(
            self.db.query(
                "SELECT i.position, i.filename, (SELECT u.url FROM uploads u WHERE u.sha256 = i.sha256 "
                "AND (a.finished_at IS NULL OR u.created_at <= a.finished_at) ORDER BY u.created_at DESC LIMIT 1) AS url "
                "FROM attempt_inputs i JOIN attempts a ON a.id = i.attempt_id WHERE i.attempt_id = ? AND i.role = 'image' "
                "ORDER BY i.position",
                [attempt_id],
            )
        )

    def attempt_kinds(self, attempt_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The kind of each of these attempts (``attempt_kind``, ``ATTEMPT_KINDS``) and what the moderation
        check flagged on it (``flagged_categories``), by id: what a reader of a few columns adds to its rows."""
        if not attempt_ids:
            return {}
        marks = ", ".join("?" for _ in attempt_ids)
        return {
            r["id"]: r
            for r in self.db.query(f"SELECT id, attempt_kind, flagged_categories FROM attempts WHERE id IN ({marks})", list(attempt_ids))
        }

    def mark_rerun(self, run_id: str, attempt_id: int) -> None:
        """A run started from History's re-run button: kind 'rerun', pointing at its attempt."""
        self._update("runs", run_id, {"kind": "rerun", "rerun_of": attempt_id})
