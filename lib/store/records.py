"""Stored rows as the values the rest of the app uses, each conversion written once.

``AttemptRecord`` is an attempt row: ``error()`` rebuilds the error it ended
with (for the error card of History, Compare and a reattached run), and
``summary()`` its line in an outcome. ``outcome_from_run`` rebuilds the
``Outcome`` of a stored run (``Store.run``) for a run no longer in this
process: a reload after a restart, or a link opened later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lib import errors as E
from lib import redact
from lib.generation import AttemptSummary, Event, Outcome, ResultImage
from lib.images import ImageInfo

# Codes the app gives an error itself; any other code on an answered attempt is the provider's own.
_OWN_CODE_PREFIXES = ("http_", "no_")


@dataclass
class AttemptRecord:
    id: int
    attempt_no: int = 0
    model: str = ""
    status: str = ""
    error_type: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    error_param: str | None = None
    error_message: str | None = None
    latency_ms: int | None = None
    cost_usd: float | None = None
    fallback_from: str | None = None
    retry_after_s: float | None = None
    request_id: str | None = None
    flagged_categories: str | None = None  # JSON list: what the moderation check flagged, as the provider named it
    attempt_kind: str | None = None  # image | moderation | judge (lib.store.filters); unknown is an image request

    @property
    def is_image(self) -> bool:
        return self.attempt_kind in (None, "image")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AttemptRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known})

    def error(self) -> E.ImageLabError | None:
        """The error this attempt ended with (None if it did not fail, or its type is unknown)."""
        if not self.error_type or self.error_type not in E.ERROR_INFO:
            return None
        message = redact.scrub(self.error_message or E.ERROR_INFO[self.error_type].title)
        answered = bool(self.http_status)
        own_code = str(self.error_code or "").startswith(_OWN_CODE_PREFIXES)
        err = E.make_error(
            self.error_type,
            message,
            status=self.http_status,
            code=self.error_code,
            param=self.error_param,
            request_id=self.request_id,
            retry_after_s=self.retry_after_s,
            provider_message=message,
            provider_code=self.error_code if answered and self.error_code and not own_code else None,
        )
        if self.flagged_categories is not None:
            err.categories = self.categories()
        return err

    def categories(self) -> tuple[str, ...]:
        """The stored flagged categories (cut and scrubbed when they were kept), read defensively: text only."""
        try:
            names = json.loads(self.flagged_categories or "[]")
        except ValueError:
            return ()
        return tuple(redact.scrub(str(n)) for n in names if isinstance(n, str)) if isinstance(names, list) else ()

    def summary(self) -> AttemptSummary:
        return AttemptSummary(
            self.id,
            self.attempt_no or 0,
            self.model or "",
            self.status or "",
            self.error_type,
            self.http_status,
            self.latency_ms or 0,
            self.fallback_from,
            error_message=self.error_message,
            error_code=self.error_code,
        )


def run_error(error_type: str | None, attempts: list[AttemptRecord]) -> E.ImageLabError | None:
    """The error a run ended with: its last failed attempt's, or one in words when no attempt was recorded."""
    if not error_type:
        return None
    last = next((a for a in reversed(attempts) if a.error_type), None)
    err = last.error() if last is not None else None
    if err is None and error_type in E.ERROR_INFO:
        err = E.make_error(error_type, "The run ended without an attempt (it never reached the provider).")
    return err


def outcome_from_run(run: dict[str, Any], root: Any) -> Outcome:
    """An Outcome rebuilt from a stored run (``Store.run``), for a run that is no
    longer in this process: a reload after a restart, or a link opened later."""
    attempts = run.get("attempts") or []
    records = [AttemptRecord.from_row(a) for a in attempts]
    summaries = [a.summary() for a in records]

    last = attempts[-1] if attempts else {}
    images = []
    for row in last.get("images") or []:
        info = ImageInfo(format=row["format"], width=row["width"], height=row["height"], byte_size=row["byte_size"], sha256=row["sha256"])
        path = str(Path(root) / row["path"]) if row.get("path") else None
        images.append(ResultImage(info, row.get("source") or "b64", row.get("source_url"), path, row.get("path")))
    status = run.get("status") or "running"
    err = run_error(run.get("error_type") or (records[-1].error_type if records else None), records)
    first = records[0].error() if records else None
    models = {a.get("model") for a in attempts}
    events = [
        Event(e["kind"], e["message"], e.get("elapsed_s") or 0.0, e.get("model") or "", e.get("attempt_no") or 0, e.get("data") or {})
        for e in run.get("events") or []
    ]
    request = run.get("request") if isinstance(run.get("request"), dict) else {}
    return Outcome(
        ok=status == "succeeded",
        run_id=run["id"],
        requested_model=request.get("model") or (attempts[0].get("model") if attempts else run.get("model") or ""),
        model=run.get("model") or (last.get("model") if last else ""),
        images=images,
        attempts=summaries,
        events=events,
        error=err if status in ("failed", "interrupted") else None,
        latency_ms=run.get("latency_ms") or 0,
        usage=last.get("usage") if isinstance(last.get("usage"), dict) else None,
        raw_response=last.get("raw_response"),
        status=status if status in ("succeeded", "failed", "cancelled", "interrupted") else "failed",
        first_error=first if len(models) > 1 else None,
        sent=not (len(attempts) == 1 and attempts[0].get("error_type") == "invalid_input"),
        note=last.get("note"),
    )
