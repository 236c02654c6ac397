"""The latest rate-limit budget a provider announced on a route, for checklist step 5."""

from __future__ import annotations

from typing import Any

_COLUMNS = (
    "ratelimit_remaining_requests",
    "ratelimit_remaining_tokens",
    "ratelimit_limit_requests",
    "ratelimit_limit_tokens",
    "ratelimit_reset_s",
)


def latest_rate_budget(db: Any, where: str, params: list[Any]) -> dict[str, Any]:
    """Among the attempts ``where`` selects: the newest that announced a budget (its id,
    time, model and ``ratelimit_*`` figures, or None), and how many were held back for
    an announced budget, for how long in all."""
    latest = None
    for row in db.query(
        f"SELECT id, started_at, model, {', '.join(_COLUMNS)} FROM attempts WHERE {where} "
        "AND (ratelimit_remaining_requests IS NOT NULL OR ratelimit_remaining_tokens IS NOT NULL) "
        "ORDER BY started_at DESC, id DESC LIMIT 1",
        params,
    ):
        latest = row
    held, held_ms = db.execute(
        f"SELECT count(*), coalesce(sum(ratelimit_wait_ms), 0) FROM attempts WHERE {where} AND ratelimit_wait_ms > 0", params
    ).fetchone()
    return {"latest": latest, "held": held, "held_ms": held_ms}
