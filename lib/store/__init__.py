"""The store: the only package with SQL.

- ``schema``: tables and indexes, as migrations;
- ``_store``: ``Store``: connections per thread, serialised writes with retry
  and replay, the one redaction step of every write, recovery of rows left by
  a stopped process, the recorder interface the client writes through, and
  the reads every page needs.
"""

from lib.store._store import (
    ATTEMPT_STATUSES,
    RUN_KINDS,
    AttemptFilter,
    DamagedDatabase,
    Store,
    configure_logging,
    owner_token,
    percentile_rank,
    process_start_time,
)
from lib.store.schema import FTS_TRIGRAM, migrations

__all__ = [
    "ATTEMPT_STATUSES",
    "FTS_TRIGRAM",
    "RUN_KINDS",
    "AttemptFilter",
    "DamagedDatabase",
    "Store",
    "configure_logging",
    "migrations",
    "owner_token",
    "percentile_rank",
    "process_start_time",
]
