"""Checks of results: written per attempt and image, read per attempt, per image and per run,
and the attempts with a failed check (History's filter)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from typing import Any

from lib.checks import CHECK_NAMES


def _row(result: Any) -> dict[str, Any]:
    """A check result (lib.checks.CheckResult, or a dict with its fields) as the values of a row."""
    get = result.get if isinstance(result, dict) else lambda k, d=None: getattr(result, k, d)
    name = get("name")
    if name not in CHECK_NAMES:
        raise ValueError(f"unknown check {name!r}; one of {', '.join(CHECK_NAMES)}")
    score = get("score")
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
        raise ValueError(f"the score of check {name!r} must be a number from 0 to 1, not {score!r}")
    detail = dict(get("detail") or {})
    summary = get("summary")
    if summary:
        detail.setdefault("summary", summary)
    return {
        "name": name,
        "passed": 1 if get("passed") else 0,
        "score": min(1.0, max(0.0, float(score))),
        "detail": json.dumps(detail, ensure_ascii=False, default=str),
    }


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["passed"] = bool(out["passed"])
    try:
        out["detail"] = json.loads(out["detail"]) if out.get("detail") else {}
    except ValueError:
        out["detail"] = {}
    out["summary"] = out["detail"].get("summary", "")
    return out


class CheckQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._transaction`` the one write path."""

    db: Any
    _transaction: Any

    def record_checks(self, attempt_id: int, image_id: int | None, results: Iterable[Any], *, now: float | None = None) -> int:
        """Keep the checks of one image of an attempt (``image_id`` None: of the attempt as a whole);
        a check of the same name already kept for that image is replaced. Returns how many were kept."""
        rows = [_row(r) for r in results]
        if not rows:
            return 0
        stamp = time.time() if now is None else now
        image = None if image_id is None else int(image_id)
        statements: list[tuple[str, list[Any]]] = []
        for r in rows:
            statements.append(
                ("DELETE FROM checks WHERE attempt_id = ? AND image_id IS ? AND name = ?", [int(attempt_id), image, r["name"]])
            )
            statements.append(
                (
                    "INSERT INTO checks (attempt_id, image_id, name, passed, score, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [int(attempt_id), image, r["name"], r["passed"], r["score"], r["detail"], stamp],
                )
            )
        self._transaction(statements)
        return len(rows)

    def _read_checks(self, where: str, params: list[Any]) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, attempt_id, image_id, name, passed, score, detail, created_at FROM checks "
            f"WHERE {where} ORDER BY attempt_id, image_id, CASE name WHEN 'size' THEN 0 WHEN 'text' THEN 1 WHEN 'similar' THEN 2 ELSE 3 END, id"
        )
        return [_decoded(r) for r in self.db.query(sql, params)]

    def checks_for(self, attempt_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """The kept checks of each attempt (size, text, similar, judge in that order, image by image)."""
        ids = [int(i) for i in attempt_ids]
        out: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in self._read_checks(f"attempt_id IN ({', '.join('?' for _ in chunk)})", chunk):
                out.setdefault(row["attempt_id"], []).append(row)
        return out

    def checks_for_image(self, image_id: int) -> list[dict[str, Any]]:
        return self._read_checks("image_id = ?", [int(image_id)])

    def checks_for_run(self, run_id: str) -> list[dict[str, Any]]:
        """The checks of every attempt of a run (its retries and fallback hops)."""
        return self._read_checks("attempt_id IN (SELECT id FROM attempts WHERE run_id = ?)", [run_id])

    def check_counts(self, attempt_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """Per attempt: how many checks were kept and how many of them failed."""
        ids = [int(i) for i in attempt_ids]
        out: dict[int, dict[str, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for attempt_id, total, failed in self.db.execute(
                f"SELECT attempt_id, count(*), sum(passed = 0) FROM checks WHERE attempt_id IN ({marks}) GROUP BY attempt_id", chunk
            ):
                out[attempt_id] = {"checks": total, "failed": failed or 0}
        return out

    def attempts_with_failed_checks(
        self, *, names: Iterable[str] | None = None, since: float | None = None, limit: int = 1000
    ) -> list[int]:
        """Ids of attempts with at least one failed check (of ``names``, when given), newest first."""
        where, params = ["c.passed = 0"], []
        wanted = [n for n in (names or ()) if n in CHECK_NAMES]
        if names is not None:
            if not wanted:
                return []
            where.append(f"c.name IN ({', '.join('?' for _ in wanted)})")
            params += wanted
        if since is not None:
            where.append("a.started_at >= ?")
            params.append(float(since))
        sql = (
            "SELECT DISTINCT a.id FROM checks c JOIN attempts a ON a.id = c.attempt_id "
            f"WHERE {' AND '.join(where)} ORDER BY a.started_at DESC, a.id DESC LIMIT ?"
        )
        return [r[0] for r in self.db.execute(sql, [*params, int(limit)])]

    def unchecked_runs(self, run_ids: Iterable[str]) -> list[str]:
        """Of ``run_ids``, those with a succeeded attempt that kept images and has no check kept yet."""
        ids = [str(i) for i in run_ids]
        out: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = (
                "SELECT DISTINCT a.run_id FROM attempts a WHERE a.run_id IN ("
                + marks
                + ") AND a.status = 'succeeded' AND EXISTS (SELECT 1 FROM images i WHERE i.attempt_id = a.id) "
                "AND NOT EXISTS (SELECT 1 FROM checks c WHERE c.attempt_id = a.id)"
            )
            out += [r[0] for r in self.db.execute(sql, chunk)]
        order = {run_id: i for i, run_id in enumerate(ids)}
        return sorted(out, key=order.get)

    def checkable_attempts(self, run_id: str) -> list[int]:
        """The succeeded attempts of a run that kept images: what its checks judge."""
        sql = (
            "SELECT a.id FROM attempts a WHERE a.run_id = ? AND a.status = 'succeeded' "
            "AND EXISTS (SELECT 1 FROM images i WHERE i.attempt_id = a.id) ORDER BY a.attempt_no, a.id"
        )
        return [r[0] for r in self.db.execute(sql, [run_id])]
