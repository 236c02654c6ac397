"""The reads behind the alert rules (``lib.monitoring``): counts over recent attempts.

Diagnostics probe runs count in none of them, nor do attempts refused before sending (``SENT``), nor
moderation checks and judge calls: the alerts speak of image generation (``IMAGE``).
"""

from __future__ import annotations

from typing import Any

from lib.store.filters import IMAGE, SENT

_NOT_PROBE = "(run_kind IS NULL OR run_kind <> 'probe')"  # attempts.run_kind is kept by a trigger (schema)
_COUNTED = f"{_NOT_PROBE} AND {IMAGE}"  # the image attempts of runs that are not probes
# The app's own failures are not the provider's: the app stopped mid-flight (status 'interrupted') or
# failed itself ('app_error', "the provider is not blamed", DESIGN.md).
_PROVIDERS_OWN = "(error_type IS NULL OR error_type <> 'app_error')"


class MonitoringQueries:
    """Mixed into ``Store``: ``self.db`` is this thread's database."""

    db: Any

    def errors_by_provider_since(self, error_type: str, since: float, *, at_least: int = 1) -> list[tuple[str, int]]:
        """(provider, count) of attempts that failed with ``error_type`` since then, most first."""
        return self.db.execute(
            f"SELECT provider, count(*) FROM attempts WHERE error_type = ? AND started_at >= ? AND {_COUNTED} "
            "GROUP BY provider HAVING count(*) >= ? ORDER BY 2 DESC",
            [error_type, since, at_least],
        ).fetchall()

    def failures_by_provider(self, recent_start: float, base_start: float) -> list[tuple[str, int, int, int]]:
        """(provider, recent, failed, total): finished attempts since ``base_start``, split at
        ``recent_start`` (recent = 1 for the newer part). Cancelled attempts are not failures, an
        attempt refused before sending never reached the provider, and an interrupted attempt or an
        ``app_error`` is the app's failure, not the provider's: none of them count."""
        return self.db.execute(
            "SELECT provider, started_at >= ? AS recent, "
            "sum(CASE WHEN status = 'succeeded' THEN 0 ELSE 1 END), count(*) "
            f"FROM attempts WHERE started_at >= ? AND +status IN ('succeeded', 'failed') AND {_COUNTED} AND {SENT} "
            f"AND {_PROVIDERS_OWN} "
            "GROUP BY +provider, recent",
            [recent_start, base_start],
        ).fetchall()

    def url_downloads_since(self, since: float) -> int:
        """Attempts whose images were downloaded from a result URL since then (probe runs left out, as
        they are from the failures this is weighed against)."""
        return self.db.execute(
            "SELECT count(DISTINCT attempt_id) FROM images WHERE source = 'url' AND created_at >= ? "
            f"AND attempt_id IN (SELECT id FROM attempts WHERE {_COUNTED})",
            [since],
        ).fetchone()[0]

    def latencies_by_model_since(self, since: float) -> dict[str, list[int]]:
        """Latencies of the attempts that succeeded since then, ascending, per model."""
        out: dict[str, list[int]] = {}
        for model, latency_ms in self.db.execute(
            f"SELECT model, latency_ms FROM attempts WHERE started_at >= ? AND +status = 'succeeded' AND latency_ms IS NOT NULL "
            f"AND {_COUNTED} ORDER BY +model, latency_ms",
            [since],
        ):
            out.setdefault(model, []).append(latency_ms)
        return out
