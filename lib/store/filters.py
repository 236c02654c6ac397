"""Which attempts a read covers: ``AttemptFilter`` -> a WHERE clause and its parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lib.store.schema import FTS_TRIGRAM

# An attempt refused before sending (pre-flight: ``invalid_input``) never reached the provider:
# it is evidence of nothing about an endpoint and counts in no provider error rate or alert.
SENT = "(error_type IS NULL OR error_type <> 'invalid_input')"

# Which request an attempt was (``attempts.attempt_kind``, kept by the schema from m025_attempt_kind on):
# ``image`` (a generation or an edit), ``moderation`` (the check before paying, attempt 0 of an image run) or
# ``judge`` (a judge call, a run of its own). What each figure counts:
# - image figures (attempt and error rates, latency, History's stats and charts, the alerts, the diagnostics
#   evidence, a comparison's latency) count image attempts only (``IMAGE``, ``AttemptFilter.images_only``);
# - run success counts the runs of image requests, and a run the moderation check stopped is one that
#   ended without an image (``lib.store.history.run_outcomes_query``);
# - spend counts every attempt that costs money: image requests, moderation checks and judge calls.
ATTEMPT_KINDS = ("image", "moderation", "judge")
IMAGE = "attempt_kind = 'image'"


@dataclass
class AttemptFilter:
    models: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    error_types: list[str] = field(default_factory=list)
    since: float | None = None
    until: float | None = None
    text: str = ""  # found anywhere in the prompt, case-insensitive
    run_id: str | None = None
    kinds: list[str] = field(default_factory=list)  # runs.kind of the attempt's run (History)
    exclude_kinds: list[str] = field(default_factory=list)  # e.g. probes left out of success rates
    sent_only: bool = False  # only attempts whose request went out (see SENT)
    failed_checks: bool = False  # only attempts with a kept check that failed (lib/store/checks.py)
    images_only: bool = False  # only image requests: no moderation check, no judge call (see IMAGE)

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (
            ("model", self.models),
            ("provider", self.providers),
            ("status", self.statuses),
            ("error_type", self.error_types),
        ):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        if self.since is not None:
            clauses.append("started_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("started_at < ?")
            params.append(self.until)
        text = self.text.strip()
        if text and FTS_TRIGRAM and len(text) >= 3:  # m005b_history_speed: a trigram index, the same substring match
            clauses.append("id IN (SELECT rowid FROM attempts_fts WHERE attempts_fts MATCH ?)")
            params.append('"' + text.replace('"', '""') + '"')
        elif text:
            clauses.append("instr(lower(prompt), ?) > 0")
            params.append(text.lower())
        if self.run_id:
            clauses.append("run_id = ?")
            params.append(self.run_id)
        if self.kinds:  # attempts.run_kind is the run's kind (m005b_history_speed keeps it in step)
            clauses.append(f"run_kind IN ({', '.join('?' for _ in self.kinds)})")
            params.extend(self.kinds)
        if self.exclude_kinds:
            clauses.append(f"(run_kind IS NULL OR run_kind NOT IN ({', '.join('?' for _ in self.exclude_kinds)}))")
            params.extend(self.exclude_kinds)
        if self.sent_only:
            clauses.append(SENT)
        if self.images_only:
            clauses.append(IMAGE)
        if self.failed_checks:
            clauses.append("id IN (SELECT attempt_id FROM checks WHERE passed = 0)")
        return (" AND ".join(clauses) or "1 = 1"), params
