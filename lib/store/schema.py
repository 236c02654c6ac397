"""The schema: every table and index, as sqlite-utils migrations applied in order.

A migration's name is what a database records it under; a name, once
released, never changes (``m004_wave2`` keeps its recorded name).
"""

from __future__ import annotations

import json
import re
import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

ATTEMPT_STATUSES = ("pending", "succeeded", "failed", "interrupted", "cancelled")
RUN_KINDS = ("generate", "compare", "rerun", "probe", "judge")

migrations = Migrations("imagelab")


def _has_fts_trigram() -> bool:
    """SQLite 3.34+ with FTS5: History's text filter uses a trigram index (else a scan)."""
    try:
        with sqlite3.connect(":memory:") as conn:
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
        return True
    except sqlite3.Error:
        return False


FTS_TRIGRAM = _has_fts_trigram()


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["runs"].create(
        {
            "id": str,
            "kind": str,
            "label": str,
            "created_at": float,
            "finished_at": float,
            "status": str,
            "settings": str,
            "model": str,
            "error_type": str,
            "attempts": int,
            "latency_ms": int,
        },
        pk="id",
    )
    db["attempts"].create(
        {
            "id": int,
            "run_id": str,
            "started_at": float,
            "finished_at": float,
            "latency_ms": int,
            "provider": str,
            "url": str,
            "model": str,
            "prompt": str,
            "params": str,
            "attempt_no": int,
            "fallback_from": str,
            "status": str,
            "error_type": str,
            "http_status": int,
            "error_code": str,
            "error_message": str,
            "retry_after_s": float,
            "task_id": str,
            "request_id": str,
            "key_hint": str,
            "image_count": int,
            "owner_pid": int,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["images"].create(
        {
            "id": int,
            "attempt_id": int,
            "sha256": str,
            "path": str,
            "width": int,
            "height": int,
            "format": str,
            "byte_size": int,
            "source": str,
            "source_url": str,
            "created_at": float,
        },
        pk="id",
        foreign_keys=[("attempt_id", "attempts", "id")],
    )
    db["reports"].create(
        {"id": str, "created_at": float, "title": str, "provider": str, "model": str, "status": str, "body": str, "markdown": str},
        pk="id",
    )


@migrations()
def m002_usage_and_indexes(db: sqlite_utils.Database) -> None:
    db["attempts"].add_column("usage", str)
    attempts = db["attempts"]
    attempts.create_index(["started_at"], if_not_exists=True)
    attempts.create_index(["model", "started_at"], if_not_exists=True)
    attempts.create_index(["provider", "started_at"], if_not_exists=True)
    attempts.create_index(["status", "started_at"], if_not_exists=True)
    attempts.create_index(["error_type", "started_at"], if_not_exists=True)
    attempts.create_index(["run_id"], if_not_exists=True)
    db["images"].create_index(["attempt_id"], if_not_exists=True)
    db["images"].create_index(["sha256"], if_not_exists=True)
    db["runs"].create_index(["created_at"], if_not_exists=True)
    db["reports"].create_index(["created_at"], if_not_exists=True)


@migrations()
def m003_stats_indexes(db: sqlite_utils.Database) -> None:
    # Covering indexes: per-model counts and latency percentiles read the index, not the table.
    db["attempts"].create_index(["model", "status", "error_type", "latency_ms"], if_not_exists=True)
    db["attempts"].create_index(["status", "model", "latency_ms"], if_not_exists=True)


@migrations(name="m004_wave2")  # the name databases have recorded it under
def m004_runs_events_comparisons(db: sqlite_utils.Database) -> None:
    """Runs as the engine, Compare and History read them (request, cell, re-run source,
    owner), attempt costs and notes, progress events, and comparisons."""
    runs = db["runs"]
    runs.add_column("comparison_id", str)  # a cell of that comparison
    runs.add_column("cell", str)  # JSON: the cell's coordinates in its comparison
    runs.add_column("rerun_of", int)  # the attempt a 'rerun' came from
    runs.add_column("provider", str)
    runs.add_column("prompt", str)
    runs.add_column("request", str)  # JSON: the GenerationRequest, so a run can be shown or sent again
    runs.add_column("owner_pid", int)
    runs.add_column("owner_token", str)  # which process owns it: survives PID reuse
    runs.create_index(["comparison_id"], if_not_exists=True)
    runs.create_index(["status", "created_at"], if_not_exists=True)
    attempts = db["attempts"]
    attempts.add_column("owner_token", str)
    attempts.add_column("cost_usd", float)
    attempts.add_column("cost_basis", str)  # 'usage' or 'size_quality'
    attempts.add_column("first_partial_ms", int)  # streaming: latency to the first partial image
    attempts.add_column("note", str)  # what else happened, e.g. "image 2 of 2 was not an image"
    db["run_events"].create(
        {
            "id": int,
            "run_id": str,
            "seq": int,
            "at": float,
            "elapsed_s": float,
            "kind": str,
            "message": str,
            "model": str,
            "attempt_no": int,
            "data": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["run_events"].create_index(["run_id", "seq"], if_not_exists=True)
    db["comparisons"].create(
        {"id": str, "title": str, "axes": str, "created_at": float, "finished_at": float, "status": str, "settings": str},
        pk="id",
    )
    db["comparisons"].create_index(["created_at"], if_not_exists=True)


@migrations()
def m005_history(db: sqlite_utils.Database) -> None:
    """History: the raw answer of each attempt (base64 elided, scrubbed), and the
    indexes the History page's filters, stats and monitoring rules read."""
    db["attempts"].add_column("raw_response", str)
    db["runs"].create_index(["kind", "id"], if_not_exists=True)  # run-kind filters: run_id IN (runs of a kind)
    # per provider, like m003's per model: counts and latency percentiles from the index alone
    db["attempts"].create_index(["provider", "status", "error_type", "latency_ms"], if_not_exists=True)
    db["attempts"].create_index(["status", "provider", "latency_ms"], if_not_exists=True)


@migrations()
def m005b_history_speed(db: sqlite_utils.Database) -> None:
    """History at 100,000 attempts (benchmarks/history.py): the run's kind on each
    attempt, one covering index for time ranges, and a trigram index of prompts."""
    attempts = db["attempts"]
    # The run's kind, copied onto each attempt by triggers (whoever writes the rows), so that
    # run-kind filters (probes left out of stats) read an index instead of joining runs.
    attempts.add_column("run_kind", str)
    db.execute("UPDATE attempts SET run_kind = (SELECT kind FROM runs WHERE runs.id = attempts.run_id)")
    db.execute(
        "CREATE TRIGGER IF NOT EXISTS attempts_run_kind AFTER INSERT ON attempts WHEN NEW.run_kind IS NULL "
        "BEGIN UPDATE attempts SET run_kind = (SELECT kind FROM runs WHERE runs.id = NEW.run_id) WHERE id = NEW.id; END"
    )
    db.execute(
        "CREATE TRIGGER IF NOT EXISTS runs_kind_to_attempts AFTER UPDATE OF kind ON runs "
        "BEGIN UPDATE attempts SET run_kind = NEW.kind WHERE run_id = NEW.id; END"
    )
    # One covering index for History's stats, charts and monitoring over a time range.
    attempts.create_index(
        ["started_at", "status", "model", "provider", "error_type", "latency_ms", "image_count", "cost_usd", "run_kind"],
        index_name="idx_attempts_history",
        if_not_exists=True,
    )
    attempts.create_index(["run_kind", "started_at"], if_not_exists=True)
    # Text in the prompt: a trigram full-text index (substring, case-insensitive), kept by triggers.
    if FTS_TRIGRAM:
        db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS attempts_fts USING fts5(prompt, content='attempts', content_rowid='id', tokenize='trigram')"
        )
        db.execute("INSERT INTO attempts_fts(attempts_fts) VALUES ('rebuild')")
        db.execute(
            "CREATE TRIGGER IF NOT EXISTS attempts_fts_insert AFTER INSERT ON attempts "
            "BEGIN INSERT INTO attempts_fts(rowid, prompt) VALUES (NEW.id, NEW.prompt); END"
        )
        db.execute(
            "CREATE TRIGGER IF NOT EXISTS attempts_fts_delete AFTER DELETE ON attempts "
            "BEGIN INSERT INTO attempts_fts(attempts_fts, rowid, prompt) VALUES ('delete', OLD.id, OLD.prompt); END"
        )
        db.execute(
            "CREATE TRIGGER IF NOT EXISTS attempts_fts_update AFTER UPDATE OF prompt ON attempts "
            "BEGIN INSERT INTO attempts_fts(attempts_fts, rowid, prompt) VALUES ('delete', OLD.id, OLD.prompt); "
            "INSERT INTO attempts_fts(rowid, prompt) VALUES (NEW.id, NEW.prompt); END"
        )


@migrations()
def m006_compare(db: sqlite_utils.Database) -> None:
    """Compare: judging a grid. One row per judged cell of a comparison: thumbs
    (+1/-1), a note, and the row's winner star (one per row and value of the third axis;
    ``variant`` is -1 for a grid without one). Cells are found by their key (``r0c1``, ``r0c1v2``)
    so a retried cell keeps its judging."""
    db["cell_ratings"].create(
        {"comparison_id": str, "cell_key": str, "row": int, "variant": int, "thumb": int, "note": str, "winner": int, "updated_at": float},
        pk=("comparison_id", "cell_key"),
        foreign_keys=[("comparison_id", "comparisons", "id")],
    )
    db["comparisons"].create_index(["status", "created_at"], if_not_exists=True)


@migrations()
def m008_media(db: sqlite_utils.Database) -> None:
    """The reference images and mask sent with an edit, kept content-addressed like results."""
    db["attempt_inputs"].create(
        {
            "id": int,
            "attempt_id": int,
            "role": str,
            "position": int,
            "sha256": str,
            "path": str,
            "filename": str,
            "byte_size": int,
            "width": int,
            "height": int,
            "format": str,
            "created_at": float,
        },
        pk="id",
        foreign_keys=[("attempt_id", "attempts", "id")],
    )
    db["attempt_inputs"].create_index(["attempt_id", "role", "position"], if_not_exists=True)


@migrations()
def m009_error_param(db: sqlite_utils.Database) -> None:
    """The field an error names (``error_param``: api_key, base_url, model, size...), so that a
    stored attempt maps to its checklist step as a live error does (``errors.checklist_step``).
    Rows written before it named the field only in their message: read it from there, once."""
    db["attempts"].add_column("error_param", str)
    rules = (  # the field a message names, first match wins
        ("api_key", re.compile(r"\bapi key\b|\bkey\b", re.I)),
        ("base_url", re.compile(r"^endpoint:|base url|\burl\b", re.I)),
        ("model", re.compile(r"\bmodel\b", re.I)),
    )
    rows = db.execute("SELECT id, error_message FROM attempts WHERE error_type = 'invalid_input' AND error_param IS NULL").fetchall()
    for attempt_id, message in rows:
        param = next((name for name, rule in rules if message and rule.search(message)), None)
        if param is not None:
            db.execute("UPDATE attempts SET error_param = ? WHERE id = ?", [param, attempt_id])


@migrations()
def m010_wait_ms(db: sqlite_utils.Database) -> None:
    """Time an attempt spent waiting inside the app (queued for a worker or a slot, in a shared
    cooldown) before its request went out: ``wait_ms``, kept apart from ``latency_ms``, which is
    the provider's time only. Rows written before it have no figure (NULL), not a zero."""
    db["attempts"].add_column("wait_ms", int)


@migrations()
def m011_rate_budget(db: sqlite_utils.Database) -> None:
    """The rate-limit budget the provider announced on an attempt's answer (``x-ratelimit-*``
    headers: requests and tokens left, the limits, seconds to the reset of the budget that
    matters) and ``ratelimit_wait_ms``, the time the app held the attempt back for it.
    Rows written before it, and answers that announce nothing, have NULLs: unknown, not zero."""
    for name, kind in (
        ("ratelimit_remaining_requests", int),
        ("ratelimit_remaining_tokens", int),
        ("ratelimit_limit_requests", int),
        ("ratelimit_limit_tokens", int),
        ("ratelimit_reset_s", float),
        ("ratelimit_wait_ms", int),
    ):
        db["attempts"].add_column(name, kind)


@migrations()
def m012_run_owner(db: sqlite_utils.Database) -> None:
    """Whose run it is and a stop asked from elsewhere: ``owner_session`` is the random id of the
    browser session that started the run (NULL for the CLI, whose process token is ``owner_token``);
    ``cancel_requested_at`` is set by another process asking the owner to stop the run, which the
    owning process reads between steps."""
    runs = db["runs"]
    runs.add_column("owner_session", str)
    runs.add_column("cancel_requested_at", float)
    runs.create_index(["owner_session", "created_at"], if_not_exists=True)


@migrations()
def m013_history_run_index(db: sqlite_utils.Database) -> None:
    """History's run success (``Store.run_outcomes``: attempts grouped by run) read from one
    covering index in run order, with every column History filters on: no table rows, no sort."""
    db["attempts"].create_index(
        ["run_id", "started_at", "status", "error_type", "run_kind", "model", "provider"],
        index_name="idx_attempts_run_outcomes",
        if_not_exists=True,
    )


@migrations()
def m014_checks(db: sqlite_utils.Database) -> None:
    """Checks of results: one row per check of one image of an attempt (``name``: size, text,
    similar, judge; ``passed`` 0/1; ``score`` 0-1; ``detail`` JSON: what was asked and found).
    A check run again on the same image replaces its row of the same name."""
    db["checks"].create(
        {"id": int, "attempt_id": int, "image_id": int, "name": str, "passed": int, "score": float, "detail": str, "created_at": float},
        pk="id",
        foreign_keys=[("attempt_id", "attempts", "id"), ("image_id", "images", "id")],
    )
    db["checks"].create_index(["attempt_id", "image_id", "name"], if_not_exists=True)
    db["checks"].create_index(["image_id"], if_not_exists=True)
    db["checks"].create_index(["passed", "attempt_id"], if_not_exists=True)


@migrations()
def m015_prompt_library(db: sqlite_utils.Database) -> None:
    """The prompt library: a named prompt (one per name, case and spacing aside: ``name_key``)
    with its tags (a JSON list), and its versions, numbered from 1, one per save of a changed text."""
    db["prompts"].create(
        {"id": int, "name": str, "name_key": str, "tags": str, "created_at": float, "updated_at": float},
        pk="id",
        not_null={"name", "name_key"},
    )
    db["prompts"].create_index(["name_key"], unique=True)
    db["prompts"].create_index(["updated_at"])
    db["prompt_versions"].create(
        {"id": int, "prompt_id": int, "version": int, "text": str, "settings": str, "created_at": float},
        pk="id",
        not_null={"prompt_id", "version", "text"},
        foreign_keys=[("prompt_id", "prompts", "id")],
    )
    db["prompt_versions"].create_index(["prompt_id", "version"], unique=True)


@migrations()
def m016_lineage(db: sqlite_utils.Database) -> None:
    """Lineage: ``parent_run_id`` is the run whose result a run was made from ("Edit this image",
    "Reuse prompt and settings"); NULL for a run typed from scratch. The index finds a run's children."""
    db["runs"].add_column("parent_run_id", str)
    db["runs"].create_index(["parent_run_id"], if_not_exists=True)


@migrations()
def m019_places(db: sqlite_utils.Database) -> None:
    """A browser's place on each page (``places``): what its inputs held (``data``, a JSON object of
    widget key -> value; never an API key), keyed by the random token the browser keeps in a cookie
    and the page; ``updated_at`` says when it was last kept (places older than a few days are dropped)."""
    db["places"].create(
        {"token": str, "page": str, "data": str, "updated_at": float},
        pk=("token", "page"),
        not_null={"token", "page", "data", "updated_at"},
    )
    db["places"].create_index(["updated_at"], if_not_exists=True)


@migrations()
def m020_uploads(db: sqlite_utils.Database) -> None:
    """Reference files uploaded to a provider's file host (EvoLink's), by content: the link it answered and
    when that link ends, so the same bytes are not uploaded again while the link is valid. No key is kept."""
    db["uploads"].create(
        {"sha256": str, "files_root": str, "url": str, "expires_at": float, "created_at": float},
        pk=("sha256", "files_root"),
        not_null={"sha256", "files_root", "url", "expires_at", "created_at"},
    )
    db["uploads"].create_index(["expires_at"], if_not_exists=True)


@migrations()
def m023_place_refs(db: sqlite_utils.Database) -> None:
    """The reference images (and mask) a browser's place holds on a page (``place_refs``), so that a
    reload finds them: one row per file, in order, pointing at a content-addressed file under
    ``images/`` (the bytes are never in the database nor in the cookie); dropped with the place."""
    db["place_refs"].create(
        {
            "token": str,
            "page": str,
            "role": str,
            "position": int,
            "sha256": str,
            "path": str,
            "filename": str,
            "byte_size": int,
            "note": str,
            "updated_at": float,
        },
        pk=("token", "page", "role", "position"),
        not_null={"token", "page", "role", "position", "sha256", "path"},
    )
    db["place_refs"].create_index(["path"], if_not_exists=True)


# Which request an attempt was, from its own row and its run (m025_attempt_kind): the check before
# paying (``params.kind``), a judge call (its run's kind), else an image generation or edit.
_ATTEMPT_KIND = (
    "CASE WHEN json_valid({row}params) AND json_extract({row}params, '$.kind') IN ('moderation', 'judge') "
    "THEN json_extract({row}params, '$.kind') "
    "WHEN (SELECT kind FROM runs WHERE runs.id = {row}run_id) = 'judge' THEN 'judge' ELSE 'image' END"
)


@migrations()
def m025_attempt_kind(db: sqlite_utils.Database) -> None:
    """Which request each attempt was (``attempt_kind``: ``image``, ``moderation`` or ``judge``), so that
    each figure counts the attempts it speaks of (``lib.store.filters``); filled for old rows and kept by a
    trigger, with History's covering indexes rebuilt to hold it. With it: the categories the moderation check
    flagged (``flagged_categories``, a JSON list), read once from the answer old rows kept, and the model of a
    run the check stopped, which is the image model asked for, not the moderation model."""
    attempts = db["attempts"]
    attempts.add_column("attempt_kind", str)
    attempts.add_column("flagged_categories", str)
    db.execute(f"UPDATE attempts SET attempt_kind = {_ATTEMPT_KIND.format(row='attempts.')}")
    db.execute(
        "CREATE TRIGGER IF NOT EXISTS attempts_attempt_kind AFTER INSERT ON attempts WHEN NEW.attempt_kind IS NULL "
        f"BEGIN UPDATE attempts SET attempt_kind = {_ATTEMPT_KIND.format(row='NEW.')} WHERE id = NEW.id; END"
    )
    for name, columns in (
        (
            "idx_attempts_history",
            ["started_at", "status", "model", "provider", "error_type", "latency_ms", "image_count", "cost_usd", "run_kind"],
        ),
        ("idx_attempts_run_outcomes", ["run_id", "started_at", "status", "error_type", "run_kind", "model", "provider"]),
    ):
        db.execute(f"DROP INDEX IF EXISTS {name}")
        attempts.create_index([*columns, "attempt_kind"], index_name=name)
    found = db.execute(
        "SELECT id, raw_response FROM attempts WHERE error_code = 'moderation_flagged' AND raw_response LIKE '%categories: %'"
    ).fetchall()
    for attempt_id, raw in found:
        named = raw.rsplit("categories: ", 1)[1].strip()
        names = [] if named == "none" else [n.strip() for n in named.split(", ") if n.strip()]
        db.execute("UPDATE attempts SET flagged_categories = ? WHERE id = ?", [json.dumps(names, ensure_ascii=False), attempt_id])
    db.execute(
        "UPDATE runs SET model = json_extract(request, '$.model') WHERE kind <> 'judge' AND json_valid(request) "
        "AND json_extract(request, '$.model') IS NOT NULL "
        "AND model IN (SELECT a.model FROM attempts a WHERE a.run_id = runs.id AND a.attempt_kind = 'moderation')"
    )
