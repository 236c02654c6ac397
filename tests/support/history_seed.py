"""A small helper to write attempts with chosen times, kinds and outcomes (History tests)."""

from __future__ import annotations

from typing import Any

from lib import pricing
from lib.store import Store


def add(
    store: Store,
    *,
    at: float,
    model: str = "gpt-image-2",
    provider: str = "sandbox",
    status: str = "succeeded",
    error_type: str | None = None,
    latency_ms: int | None = 20_000,
    kind: str = "generate",
    prompt: str = "a red fox",
    images: int | None = None,
    run_id: str | None = None,
    attempt_no: int = 1,
    fallback_from: str | None = None,
    params: dict[str, Any] | None = None,
    **finish: Any,
) -> int:
    """One finished attempt in its own run (or in ``run_id``); returns the attempt id."""
    if run_id is None:
        run_id = store.start_run(kind=kind, label=prompt[:40], settings={})
    params = params or {"size": "1024x1024", "quality": "low", "n": 1}
    aid = store.attempt_started(
        {
            "run_id": run_id,
            "started_at": at,
            "provider": provider,
            "url": "http://127.0.0.1:1/v1/images/generations",
            "model": model,
            "prompt": prompt,
            "params": params,
            "attempt_no": attempt_no,
            "fallback_from": fallback_from,
        }
    )
    if images is None:
        images = 1 if status == "succeeded" else 0
    fields = {
        "finished_at": at + (latency_ms or 0) / 1000,
        "latency_ms": latency_ms,
        "status": status,
        "error_type": error_type,
        "image_count": images,
        **finish,
    }
    if "cost_usd" not in fields:  # priced as the client prices what it records
        fields.update(pricing.cost_fields(model, params, fields))
    store.attempt_finished(aid, fields)
    return aid
