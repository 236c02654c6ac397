"""The store: the only package with SQL.

- ``schema``: tables and indexes, as migrations, and the statuses and kinds they hold;
- ``_store``: ``Store``: a connection per thread, serialised writes with retry and
  replay, the one redaction step of every write, a damaged file named, reads of
  attempts and runs;
- ``recorder``: what the client writes as a generation runs, and saved reports;
- ``recovery``: rows left by a stopped process become ``interrupted``;
- ``records``: stored rows as errors and outcomes, each conversion written once;
- ``filters``: ``AttemptFilter``, which attempts a read covers;
- ``history``, ``comparisons``, ``monitoring``, ``evidence``, ``reports``, ``prompts``, ``spend``: the
  reads (and writes) of History, Compare, the alert rules, the diagnostics checklist and its
  snapshots, the prompt library and the daily budgets.
"""

from lib.store import _sqlite_utils  # noqa: F401 - first: sqlite-utils loaded without pandas
from lib.store._store import DamagedDatabase, Store
from lib.store.evidence import percentile_rank
from lib.store.filters import AttemptFilter
from lib.store.recovery import owner_token, process_start_time
from lib.store.schema import ATTEMPT_STATUSES, FTS_TRIGRAM, RUN_KINDS, migrations

__all__ = [
    "ATTEMPT_STATUSES",
    "FTS_TRIGRAM",
    "RUN_KINDS",
    "AttemptFilter",
    "DamagedDatabase",
    "Store",
    "migrations",
    "owner_token",
    "percentile_rank",
    "process_start_time",
]
