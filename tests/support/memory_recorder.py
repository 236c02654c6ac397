"""A recorder that keeps everything in lists (tests and benchmarks)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from lib.generation import Event


class MemoryRecorder:
    """A recorder that keeps everything in lists (tests, benchmarks, dry runs)."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.attempts: dict[int, dict[str, Any]] = {}
        self.images: list[dict[str, Any]] = []
        self.events: list[tuple[str, int, Event]] = []
        self._lock = threading.Lock()
        self._next = 0

    def start_run(self, *, kind: str, label: str, settings: dict[str, Any], **fields: Any) -> str:
        run_id = uuid.uuid4().hex
        with self._lock:
            self.runs[run_id] = {"id": run_id, "kind": kind, "label": label, "settings": settings, **fields}
            self.runs[run_id].setdefault("status", "running")
        return run_id

    def run_started(self, run_id: str) -> None:
        with self._lock:
            self.runs[run_id]["status"] = "running"

    def attempt_started(self, row: dict[str, Any]) -> int:
        with self._lock:
            self._next += 1
            self.attempts[self._next] = dict(row, id=self._next)
            return self._next

    def attempt_finished(self, attempt_id: int, fields: dict[str, Any], images=()) -> None:
        with self._lock:
            images = list(images)
            self.attempts[attempt_id].update(fields)
            self.attempts[attempt_id]["image_count"] = len(images)
            for saved in images:
                self.images.append({"attempt_id": attempt_id, "sha256": saved.info.sha256, "path": saved.rel_path})

    def run_event(self, run_id: str, seq: int, event: Event) -> None:
        with self._lock:
            self.events.append((run_id, seq, event))

    def run_finished(self, run_id: str, fields: dict[str, Any]) -> None:
        with self._lock:
            self.runs[run_id].update(fields)
