"""What the checks read: the settings, the live probes and the history evidence of the
route being diagnosed (``CheckContext``), and the small helpers that turn them into
evidence items."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib.diagnostics.report import _SEVERITY, Evidence, Link, attempt_link, history_link
from lib.generation import ClientSettings, Outcome
from lib.redact import scrub

# --------------------------------------------------------------------------
# What the checks read


@dataclass
class SpendResult:
    outcome: Outcome | None
    estimate_usd: float | None
    estimate_note: str
    thumbnail: str | None = None  # data URL
    skipped: str = ""  # why it did not run


@dataclass
class CheckContext:
    settings: ClientSettings
    model: str
    probes: dict[str, Any] = field(default_factory=dict)  # name -> lib.client.ProbeResult
    spend: SpendResult | None = None
    provider_history: dict[int, dict[str, Any]] | None = None  # Store.evidence for the provider
    model_history: dict[int, dict[str, Any]] | None = None  # ...for the provider and model
    probed: bool = False
    key_refused: str = ""  # why the key is not sent: then no probe goes out
    history_window_label: str = C.DIAG_HISTORY_WINDOW_LABEL
    now: float = field(default_factory=time.time)

    # -- helpers the steps share --------------------------------------------------

    @property
    def provider(self) -> str:
        return self.settings.provider

    @property
    def delivery(self) -> str:
        """'task' or 'sync' on the route in use (``ClientSettings.delivery``: a dialect's, the sandbox's
        chosen delivery, the preset's); a Custom gateway without a dialect delivers as its answers show."""
        if self.provider == "custom" and self.settings.dialect is None and self.tasks_seen:
            return "task"
        return self.settings.delivery

    @property
    def tasks_seen(self) -> bool:
        """Whether recent attempts of this route, or the test image, went through an async task."""
        spend = self.spend.outcome if self.spend is not None else None
        if spend is not None and any(ev.kind == "accepted" for ev in spend.events):
            return True
        return bool((self.history(4) or {}).get("tasks"))

    def text(self, value: Any, limit: int | None = None) -> str:
        """Any text for the report: the key masked (registered or not), signed URLs cut."""
        return scrub(str(value), limit=limit, extra=[self.settings.api_key] if self.settings.api_key else [])

    def link(self, error_type: str | None = None, *, model: bool = True) -> str:
        return history_link(
            provider=self.provider, model=self.model if model else None, error_type=error_type, since=self.history_window_label
        )

    def history(self, step: int, *, model: bool = True) -> dict[str, Any] | None:
        source = self.model_history if model else self.provider_history
        return None if source is None else source.get(step)


def _ev(kind: str, text: str, links: list[Link] | None = None, **extra: Any) -> Evidence:
    return Evidence(kind, text, links or [], **extra)


def _worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: _SEVERITY[s]) if statuses else "not_checked"


def _ago(ctx: CheckContext, at: float | None) -> str:
    if not at:
        return "at an unknown time"
    seconds = max(0, ctx.now - at)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _history_items(
    ctx: CheckContext, step: int, *, model: bool = True, only: Callable[[str], bool] | None = None
) -> tuple[list[Evidence], int, bool]:
    """Evidence items for a step's error counts and examples; the error count; and
    whether the newest of those errors is newer than the last success. ``only``
    keeps the error types it accepts (a step that judges its types apart)."""
    bucket = ctx.history(step, model=model)
    if bucket is None:
        return [], 0, False
    if only is not None:
        bucket = {
            **bucket,
            "errors": {t: n for t, n in bucket["errors"].items() if only(t)},
            "examples": [r for r in bucket["examples"] if only(r["error_type"])],
        }
    items: list[Evidence] = []
    errors: dict[str, int] = bucket["errors"]
    count = sum(errors.values())
    scope = f"{ctx.provider} / {ctx.model}" if model else ctx.provider
    if count:
        parts = ", ".join(f"{n} {t}" for t, n in sorted(errors.items(), key=lambda kv: -kv[1]))
        items.append(
            _ev(
                "history",
                f"{parts} among {bucket['total']} attempt(s) for {scope} in the last {ctx.history_window_label}.",
                [Link(f"History: {t}", ctx.link(t, model=model)) for t in errors],
            )
        )
        for row in bucket["examples"]:
            status = f"HTTP {row['http_status']}" if row.get("http_status") else "no HTTP status"
            message = ctx.text(row.get("error_message") or "", limit=240)
            items.append(
                _ev(
                    "history",
                    f"Attempt #{row['id']}, {_ago(ctx, row.get('started_at'))}, {row.get('model')}: {row['error_type']} ({status}). {message}".strip(),
                    [Link(f"Attempt #{row['id']}", attempt_link(row["id"]))],
                    prompt=ctx.text(row.get("prompt") or "", limit=300) if row.get("prompt") else None,
                )
            )
    newest = max((r.get("started_at") or 0 for r in bucket["examples"]), default=0)
    unresolved = bool(count) and newest > (bucket.get("last_success_at") or 0)
    return items, count, unresolved


def _probe_item(result: Any, what: str) -> Evidence:
    status = f"HTTP {result.http_status}" if result.http_status is not None else "no answer"
    links = [Link(f"Probe attempt #{result.attempt_id}", attempt_link(result.attempt_id))] if result.attempt_id else []
    return _ev("probe", f"{what}: {result.method} {result.url} -> {status} in {result.latency_ms} ms. {result.note}", links)
