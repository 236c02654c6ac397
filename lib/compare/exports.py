"""A comparison as ``comparison.json`` and as a ZIP of the full images plus that file
(never the key)."""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from datetime import UTC, datetime
from typing import Any

from lib import redact
from lib.checks.present import export_entry
from lib.compare.record import CellState, ComparisonView, summary
from lib.compare.sheet import contact_sheet_png

log = logging.getLogger("imagelab.compare")
FORMAT = "imagelab-comparison/1"

# --------------------------------------------------------------------------
# Export: comparison.json, the ZIP, the contact sheet


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds") if ts else None


def _image_name(c: CellState, i: int, fmt: str) -> str:
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", c.model_used)
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get((fmt or "").upper(), (fmt or "bin").lower())
    return (
        f"images/row{c.row + 1:02d}-col{c.col + 1:02d}"
        + (f"-v{c.variant + 1}" if c.variant is not None else "")
        + (f"-s{c.repeat + 1}" if c.repeat else "")
        + f"-{model}-{i + 1}.{ext}"
    )


def export_dict(view: ComparisonView) -> dict[str, Any]:
    """comparison.json: axes, cells (models actually used, latency, cost, error types, judging, each image's
    checks), summary, winners."""
    plan = view.plan
    cells = []
    for cp in plan.cells():
        c = view.cells.get(cp.key)
        rating = view.ratings.get(cp.key, {}) if not cp.repeat else {}  # judging is the cell's, kept on its first sample
        entry: dict[str, Any] = {
            "cell": cp.key,
            "row": cp.row + 1,
            "prompt": cp.prompt,
            "target": cp.target.label,
            "provider": cp.target.provider,
            "model_requested": cp.target.model,
            "variant": {"param": cp.param, "value": cp.value} if cp.param else None,
            "sample": cp.repeat + 1,
            "status": c.status if c else "not started",
            "ok": bool(c and c.ok),
            "model_used": c.model_used if c and c.attempts else None,
            "error_type": c.error_type if c else None,
            "error_title": c.error_title if c else "",
            "http_status": c.last_error.http_status if c and c.last_error and c.error_type else None,
            "error_message": redact.scrub(c.last_error.error_message or "", limit=500) if c and c.last_error and c.error_type else None,
            "latency_ms": c.latency_ms if c else None,
            "attempts": len(c.attempts) if c else 0,
            "tries": c.tries if c else 0,
            "cost_usd": round(c.cost_usd, 6) if c and c.cost_usd is not None else None,
            "images": [_image_name(c, i, img.get("format") or "") for i, img in enumerate(c.images)] if c else [],
            "winner": bool(rating.get("winner")),
            "thumb": rating.get("thumb"),
            "note": rating.get("note"),
            "checks": [export_entry(r) for r in c.checks] if c else [],
            "checks_passed": c.verdict.passed if c and c.verdict is not None else None,
        }
        cells.append(entry)
    winners = []
    for (row, variant), key in sorted(view.winners().items()):
        c = view.cells.get(key)
        winners.append(
            {
                "row": row + 1,
                "variant": plan.vary.values[variant] if plan.vary and variant >= 0 else None,
                "cell": key,
                "target": c.target if c else None,
            }
        )
    used = sorted({c.model_used for c in view.cells.values() if c.ok})
    data = {
        "format": FORMAT,
        "id": view.id,
        "title": view.title,
        "created_at": _iso(view.created_at),
        "finished_at": _iso(view.finished_at),
        "status": view.status,
        "shape": plan.shape(),
        "axes": {
            "rows": [r.prompt for r in plan.rows],
            "template": plan.template,
            "samples_per_cell": plan.repeats,
            "variables": plan.variables,
            "targets": [t.label for t in plan.targets],
            "vary": plan.vary.to_dict() if plan.vary else None,
            "checks": [{k: v for k, v in e.items() if k != "reference_path"} for e in plan.checks],
        },
        "shared_params": plan.shared,
        "use_fallback": plan.use_fallback,
        "models_used": used,
        "settings": view.settings,
        "cells": cells,
        "summary": [s.__dict__ for s in summary(view)],
        # exported while the grid ran: these cells had not ended, and hold no images here
        "still_running": view.unfinished(),
        "winners": winners,
    }
    return redact.scrub_obj(data)


def export_zip(store: Any, view: ComparisonView) -> bytes:
    """The full images, comparison.json and the contact sheet, in one ZIP."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for c in view.cells.values():
            for i, img in enumerate(c.images):
                try:
                    data = store.keeper.resolve(img["path"]).read_bytes()
                except (OSError, ValueError, TypeError):
                    log.warning("image %s of cell %s is missing from the data directory", img.get("path"), c.key)
                    continue
                zf.writestr(_image_name(c, i, img.get("format") or ""), data, compress_type=zipfile.ZIP_STORED)
        zf.writestr("comparison.json", json.dumps(export_dict(view), ensure_ascii=False, indent=2))
        zf.writestr("contact_sheet.png", contact_sheet_png(store, view))
    return buf.getvalue()


# -- the contact sheet ------------------------------------------------------------
