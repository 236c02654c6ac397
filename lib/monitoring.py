"""Monitoring: the five alert rules of the production checklist, over the stored attempts.

Each rule returns ``Alert``s with the History filter that shows why (as query
parameters for ``/history``). Thresholds and windows are named constants in
``lib/constants.py`` (MONITOR_*). The clock is passed in (``now``), so tests
never wait. Probe runs (Diagnostics) and cancelled attempts count in no rule.

1. ``rate_limited``: sustained 429s, MONITOR_429_COUNT or more rate-limit
   errors within MONITOR_429_WINDOW_S for one provider.
2. ``failure_rate``: one provider's failure rate over the last hour is above its
   own baseline (the previous 7 days) by MONITOR_FAILURE_FACTOR times and by at
   least MONITOR_FAILURE_MIN_DELTA; with too little baseline, above
   MONITOR_FAILURE_NO_BASELINE_RATE.
3. ``downloads``: image download success below 100% (any ``image_fetch_failed``
   within MONITOR_DOWNLOAD_WINDOW_S: expired or unreachable result URLs).
4. ``latency``: one model's p95 latency (succeeded attempts within
   MONITOR_LATENCY_WINDOW_S) at or above MONITOR_LATENCY_FRACTION of the
   configured read timeout.
5. ``quota``: a quota error within MONITOR_QUOTA_WINDOW_S.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib.store import Store, percentile_rank

RULES = ("rate_limited", "failure_rate", "downloads", "latency", "quota")


@dataclass(frozen=True)
class Alert:
    rule: str
    severity: str  # 'error' or 'warning'
    title: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)  # the /history filter that shows why


def _since_label(seconds: float) -> str:
    """The History time range that covers a window."""
    for label, span in (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400)):
        if seconds <= span:
            return label
    return "all"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds < 7200 else f"{seconds / 3600:.0f} hours"


def rate_limited(store: Store, now: float) -> list[Alert]:
    window = C.MONITOR_429_WINDOW_S
    rows = store.errors_by_provider_since("rate_limited", now - window, at_least=C.MONITOR_429_COUNT)
    return [
        Alert(
            "rate_limited",
            "warning",
            f"Sustained rate limiting on {provider}",
            f"{n} requests to {provider} were rate-limited (429) in the last {_minutes(window)}. "
            "Lower the rate limit or parallel requests in the sidebar, or wait.",
            {"provider": provider, "error_type": "rate_limited", "since": _since_label(window)},
        )
        for provider, n in rows
    ]


def failure_rate(store: Store, now: float) -> list[Alert]:
    recent_start = now - C.MONITOR_FAILURE_WINDOW_S
    base_start = recent_start - C.MONITOR_FAILURE_BASELINE_S
    rows = store.failures_by_provider(recent_start, base_start)
    by_provider: dict[str, dict[int, tuple[int, int]]] = {}
    for provider, recent, failed, total in rows:
        by_provider.setdefault(provider, {})[int(recent)] = (failed, total)
    alerts = []
    for provider, parts in sorted(by_provider.items(), key=lambda kv: str(kv[0])):
        failed, total = parts.get(1, (0, 0))
        if total < C.MONITOR_FAILURE_MIN_ATTEMPTS:
            continue
        rate = failed / total
        base_failed, base_total = parts.get(0, (0, 0))
        if base_total >= C.MONITOR_FAILURE_MIN_BASELINE:
            baseline = base_failed / base_total
            above = rate >= baseline * C.MONITOR_FAILURE_FACTOR and rate - baseline >= C.MONITOR_FAILURE_MIN_DELTA
            compared = f"against {baseline:.0%} over the previous 7 days"
        else:
            above = rate >= C.MONITOR_FAILURE_NO_BASELINE_RATE
            compared = "with too little history for a baseline"
        if above:
            alerts.append(
                Alert(
                    "failure_rate",
                    "error",
                    f"Failures on {provider} are up",
                    f"{failed} of {total} attempts on {provider} failed in the last hour ({rate:.0%}), {compared}.",
                    {"provider": provider, "status": "failed", "since": _since_label(C.MONITOR_FAILURE_WINDOW_S)},
                )
            )
    return alerts


def downloads(store: Store, now: float) -> list[Alert]:
    window = C.MONITOR_DOWNLOAD_WINDOW_S
    failed = sum(n for _, n in store.errors_by_provider_since("image_fetch_failed", now - window))
    if not failed:
        return []
    fetched = store.url_downloads_since(now - window)
    total = failed + fetched
    return [
        Alert(
            "downloads",
            "warning",
            "Some result images could not be downloaded",
            f"Image downloads succeeded for {fetched} of {total} attempts with URL results in the last {_minutes(window)} "
            f"({fetched / total:.0%}). Result URLs expire: the app downloads them at once, so this usually means an "
            "unreachable or already-expired URL.",
            {"error_type": "image_fetch_failed", "since": _since_label(window)},
        )
    ]


def latency(store: Store, now: float, read_timeout_s: float) -> list[Alert]:
    window = C.MONITOR_LATENCY_WINDOW_S
    limit_ms = C.MONITOR_LATENCY_FRACTION * read_timeout_s * 1000
    by_model: dict[str, list[int]] = {}
    by_model.update(store.latencies_by_model_since(now - window))
    alerts = []
    for model, values in by_model.items():
        if len(values) < C.MONITOR_LATENCY_MIN_SAMPLES:
            continue
        p95 = values[percentile_rank(len(values), 95) - 1]
        if p95 >= limit_ms:
            alerts.append(
                Alert(
                    "latency",
                    "warning",
                    f"{model} is close to the read timeout",
                    f"p95 latency of {model} is {p95 / 1000:.0f} s over the last {_minutes(window)}, "
                    f"{p95 / 1000 / read_timeout_s:.0%} of the {read_timeout_s:.0f} s read timeout. "
                    "Raise the read timeout in the sidebar before requests start timing out.",
                    {"model": model, "status": "succeeded", "since": _since_label(window)},
                )
            )
    return alerts


def quota(store: Store, now: float) -> list[Alert]:
    window = C.MONITOR_QUOTA_WINDOW_S
    rows = store.errors_by_provider_since("quota_exceeded", now - window)
    return [
        Alert(
            "quota",
            "error",
            f"Out of quota on {provider}",
            f"{provider} answered with a quota or credit error {n} time(s) in the last {_minutes(window)}. "
            "Top up or raise the spending limit; retrying will not help.",
            {"provider": provider, "error_type": "quota_exceeded", "since": _since_label(window)},
        )
        for provider, n in rows
    ]


def check(store: Store, *, read_timeout_s: float = C.DEFAULT_READ_TIMEOUT_S, now: float | None = None) -> list[Alert]:
    """Every rule that holds now, errors first."""
    now = time.time() if now is None else now
    alerts = [
        *quota(store, now),
        *failure_rate(store, now),
        *rate_limited(store, now),
        *downloads(store, now),
        *latency(store, now, read_timeout_s),
    ]
    return sorted(alerts, key=lambda a: 0 if a.severity == "error" else 1)
