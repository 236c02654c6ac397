"""The history evidence of the diagnostics checklist: per step, error counts and example\nattempts of the route being diagnosed, Retry-After honoured or not, where images came from,\nlatency percentiles."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from lib import constants as C
from lib.errors import checklist_step
from lib.store.filters import AttemptFilter
from lib.store.rate_budget import latest_rate_budget

# Attempts the provider finished: a cancelled, interrupted or pending attempt says nothing about a route.
FINISHED = "status IN ('succeeded', 'failed')"


def percentile_rank(count: int, p: float) -> int:
    """The 1-based nearest rank of percentile ``p`` among ``count`` sorted values."""
    return max(1, math.ceil(p / 100 * count))


def _percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = percentile_rank(len(sorted_values), p)
    return sorted_values[rank - 1]


class EvidenceQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._write`` and
    ``self._transaction`` the one write path."""

    db: Any
    _write: Any
    _transaction: Any

    def evidence(
        self,
        flt: AttemptFilter | None = None,
        *,
        examples: int = C.DIAG_EXAMPLES,
        include_probes: bool = False,
        urls: list[str] | None = None,
        key_hint: str | None = None,
        read_timeout_s: float | None = None,
    ) -> dict[int, dict[str, Any]]:
        """Recent evidence per checklist step (1-9; 0 holds errors of no step, such
        as server_error): error counts, example attempts (newest first), and for
        step 4 tasks seen, step 5 whether Retry-After was honoured and how runs
        ended, step 7 where images came from and whether their files exist, step 9
        latency percentiles, with the read timeout each was made with. Attempts of
        diagnostics probe runs are left out unless ``include_probes`` (the checks read
        their probes' answers directly: counted as history too, they would be counted
        twice); moderation checks and judge calls (other routes, other models: ``IMAGE``); attempts never sent (refused by pre-flight), and attempts the provider did
        not finish (cancelled by the user, interrupted by the app, still pending) are
        always left out: they say nothing about the route. ``urls`` (the exact endpoint URLs: generations, edits) and ``key_hint`` scope the evidence
        to one route: one base URL and one key of a provider. With ``read_timeout_s``,
        step 9 also counts the timeouts of runs made with another read timeout.

        Which step an error belongs to is ``errors.checklist_step``."""
        flt = flt or AttemptFilter()
        if not include_probes and "probe" not in flt.exclude_kinds:
            flt = dataclasses.replace(flt, exclude_kinds=[*flt.exclude_kinds, "probe"])
        if not flt.sent_only or not flt.images_only:  # the route's image requests only (lib.store.filters)
            flt = dataclasses.replace(flt, sent_only=True, images_only=True)
        where, params = flt.where()
        where += f" AND {FINISHED}"
        if urls is not None:
            where += f" AND url IN ({', '.join('?' for _ in urls)})"
            params = [*params, *urls]
        if key_hint is not None:
            where += " AND coalesce(key_hint, '') = ?"
            params = [*params, key_hint]
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
            f"AND b.attempt_no > a.attempt_no AND +b.model IS a.model) "  # +: the run's own rows (run_id index), not every row of the model
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
        out[5]["rate_budget"] = latest_rate_budget(self.db, where, params)  # what the provider last announced, and waits for it
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
        out[9]["timeouts_other_settings"] = 0
        if read_timeout_s is not None:
            out[9]["timeouts_other_settings"] = self.db.execute(
                f"SELECT count(*) FROM attempts WHERE {where} AND error_type = 'timeout' AND run_id IN "
                f"(SELECT id FROM runs WHERE json_extract(settings, '$.read_timeout_s') <> ?)",  # unknown is not other
                [*params, float(read_timeout_s)],
            ).fetchone()[0]
        return out
