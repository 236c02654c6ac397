"""What the client writes as a generation runs (the Recorder of lib.generation): runs,\nattempts (the row before the request goes out, its finish and its image rows in one\ntransaction), progress events, the reference images of an edit; and saved reports."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

from lib import constants as C
from lib import redact
from lib.errors import ERROR_TYPES
from lib.store.recovery import owner_token
from lib.store.schema import ATTEMPT_STATUSES, RUN_KINDS


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


class RecorderWrites:
    """Mixed into ``Store``: ``self.db`` is this thread's database, ``self._write`` and
    ``self._transaction`` the one write path."""

    db: Any
    _write: Any
    _insert: Any
    _update: Any
    _insert_all: Any
    _transaction: Any

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
        owner_session: str | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        if kind not in RUN_KINDS:
            raise ValueError(f"unknown run kind {kind!r}")
        run_id = uuid.uuid4().hex
        self._insert(
            "runs",
            {
                "id": run_id,
                "kind": kind,
                "label": label,
                "created_at": time.time(),
                "settings": json.dumps(settings, ensure_ascii=False),
                "comparison_id": comparison_id,
                "cell": json.dumps(cell, ensure_ascii=False) if cell is not None else None,
                "rerun_of": rerun_of,
                "provider": provider,
                "prompt": prompt,
                "request": json.dumps(request, ensure_ascii=False) if request is not None else None,
                "status": status or "running",
                "owner_pid": os.getpid(),
                "owner_token": owner_token(),
                "owner_session": owner_session,
                "parent_run_id": parent_run_id,
            },
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
        return int(
            self._insert(
                "attempts",
                {
                    "run_id": row.get("run_id"),
                    "started_at": row.get("started_at", time.time()),
                    "provider": row.get("provider"),
                    "url": row.get("url"),
                    "model": row.get("model"),
                    "prompt": row.get("prompt"),
                    "params": json.dumps(row.get("params") or {}, ensure_ascii=False),
                    "attempt_no": row.get("attempt_no", 1),
                    "fallback_from": row.get("fallback_from"),
                    "status": "pending",
                    "key_hint": hint,
                    "owner_pid": os.getpid(),
                    "owner_token": owner_token(),
                },
            )
        )

    _FINISH_COLUMNS = (
        "finished_at",
        "latency_ms",
        "wait_ms",
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
        "flagged_categories",
        "ratelimit_remaining_requests",
        "ratelimit_remaining_tokens",
        "ratelimit_limit_requests",
        "ratelimit_limit_tokens",
        "ratelimit_reset_s",
        "ratelimit_wait_ms",
    )

    def attempt_finished(self, attempt_id: int, fields: dict[str, Any], images: Iterable[Any] = ()) -> None:
        """The end of an attempt and its image rows, in one transaction:
        ``image_count`` is the number of image rows written with it."""
        images = list(images)
        fields = dict(fields)
        if images:
            fields["image_count"] = len(images)
        values = {k: fields.get(k) for k in self._FINISH_COLUMNS if k in fields}
        for key in ("usage", "flagged_categories"):
            if values.get(key) is not None:
                values[key] = json.dumps(values[key], ensure_ascii=False)
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

    def run_event(self, run_id: str, seq: int, event: Any) -> None:
        data = getattr(event, "data", None) or {}
        self._insert(
            "run_events",
            {
                "run_id": run_id,
                "seq": seq,
                "at": time.time(),
                "elapsed_s": event.elapsed_s,
                "kind": event.kind,
                "message": event.message,
                "model": event.model or None,
                "attempt_no": event.attempt_no or None,
                "data": json.dumps(data, ensure_ascii=False, default=str) if data else None,
            },
            defer=True,
        )

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
        self._insert_all("attempt_inputs", rows)
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
        if allowed:
            self._update("runs", run_id, allowed, defer=True)

    def save_report(self, *, title: str, provider: str, model: str, status: str, body: dict[str, Any], markdown: str) -> str:
        report_id = uuid.uuid4().hex[:16]
        self._insert(
            "reports",
            {
                "id": report_id,
                "created_at": time.time(),
                "title": title,
                "provider": provider,
                "model": model,
                "status": status,
                "body": json.dumps(body, ensure_ascii=False),
                "markdown": markdown,
            },
        )
        return report_id

    def report(self, report_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM reports WHERE id = ?", [report_id]))
        if not rows:
            return None
        row = rows[0]
        row["body"] = json.loads(row["body"] or "{}")
        return row
