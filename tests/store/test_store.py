"""The SQLite store: schema, write order, queries, threads, migrations."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlite_utils

from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import AttemptFilter, Store, migrations
from tests.support.wait_until import wait_until

CONTRACT_ATTEMPTS = {
    "id",
    "run_id",
    "started_at",
    "finished_at",
    "latency_ms",
    "provider",
    "url",
    "model",
    "prompt",
    "params",
    "attempt_no",
    "fallback_from",
    "status",
    "error_type",
    "http_status",
    "error_code",
    "error_message",
    "retry_after_s",
    "task_id",
    "request_id",
    "key_hint",
    "image_count",
}
CONTRACT_IMAGES = {"id", "attempt_id", "sha256", "path", "width", "height", "format", "byte_size", "source", "source_url", "created_at"}


@pytest.fixture
def store(tmp_path):
    return Store(data_dir=tmp_path / "data")


def client_for(sandbox, store, **kw) -> ImageClient:
    kw.setdefault("max_retries", 1)
    s = ClientSettings(provider="sandbox", base_url=sandbox.base_url, read_timeout_s=2, **kw)
    return ImageClient(settings=s, recorder=store, keeper=store.keeper, limiter=ProviderLimiter(rate_per_s=1000, burst=1000))


def test_schema_has_the_contract_columns(store):
    db = store.db
    assert CONTRACT_ATTEMPTS <= set(db["attempts"].columns_dict)
    assert CONTRACT_IMAGES <= set(db["images"].columns_dict)
    assert {"runs", "reports"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert store.path.name == "imagelab.db"


def test_default_data_dir_from_environment(data_dir):
    s = Store()
    assert s.path == (data_dir / "imagelab.db").resolve()


def test_row_is_pending_while_the_request_is_in_flight(sandbox, store):
    sandbox.configure(latency_s=(0.6, 0.6))
    seen = {}

    def work():
        with client_for(sandbox, store) as client:
            seen["out"] = client.generate(GenerationRequest(prompt="pending check"))

    t = threading.Thread(target=work)
    t.start()
    statuses = wait_until(
        lambda: [r["status"] for r in store.recent_attempts()], timeout=5, interval=0.02, message="no attempt row was written"
    )
    t.join()
    assert statuses == ["pending"]
    assert store.recent_attempts()[0]["status"] == "succeeded"


def test_success_run_attempt_and_images(sandbox, store):
    with client_for(sandbox, store) as client:
        out = client.generate(GenerationRequest(prompt="two owls", n=2, size="1024x1536"))
    assert out.ok
    run = store.run(out.run_id)
    assert run["status"] == "succeeded" and run["attempts"][0]["image_count"] == 2
    attempt = store.attempt(run["attempts"][0]["id"])
    assert attempt["params"]["size"] == "1024x1536"
    assert attempt["usage"]["total_tokens"] > 0
    assert len(attempt["images"]) == 2
    img = attempt["images"][0]
    assert (img["width"], img["height"], img["format"], img["source"]) == (1024, 1536, "PNG", "b64")
    assert (store.root / img["path"]).is_file()
    assert img["path"] == f"images/{img['sha256'][:2]}/{img['sha256']}.png"


def test_every_retry_and_hop_is_its_own_row(sandbox, store):
    sandbox.configure(scenario="fallback")
    with client_for(sandbox, store) as client:
        out = client.generate(GenerationRequest(prompt="hop"))
    rows = store.recent_attempts(AttemptFilter(run_id=out.run_id))[::-1]
    assert [(r["model"], r["status"], r["fallback_from"]) for r in rows] == [
        ("gpt-image-2", "failed", None),
        ("gpt-image-1.5", "succeeded", "gpt-image-2"),
    ]
    assert rows[0]["error_type"] == "model_not_found" and rows[0]["http_status"] == 404


def test_identical_images_are_stored_once(sandbox, store):
    with client_for(sandbox, store) as client:
        a = client.generate(GenerationRequest(prompt="same picture"))
        b = client.generate(GenerationRequest(prompt="same picture"))
    assert a.images[0].path == b.images[0].path
    files = list((store.root / "images").rglob("*.png"))
    assert len(files) == 1
    assert store.db.execute("select count(*) from images").fetchone()[0] == 2


def _seed(store, n=60):
    now = time.time()
    run = store.start_run(kind="generate", label="seed", settings={})
    for i in range(n):
        model = ["gpt-image-2", "gpt-image-1.5", "seedream-4-5"][i % 3]
        aid = store.attempt_started(
            {
                "run_id": run,
                "started_at": now - (n - i) * 60,
                "provider": "sandbox" if i % 2 else "openai",
                "model": model,
                "prompt": f"prompt {i} {'cat' if i % 5 == 0 else 'dog'}",
                "params": {},
                "attempt_no": i + 1,
            }
        )
        failed = i % 4 == 0
        store.attempt_finished(
            aid,
            {
                "status": "failed" if failed else "succeeded",
                "error_type": "rate_limited" if failed else None,
                "latency_ms": 100 * (i % 10 + 1),
                "http_status": 429 if failed else 200,
                "finished_at": now,
            },
        )
    return run


def test_filters_and_pagination(store):
    _seed(store)
    assert store.count_attempts() == 60
    page0 = store.recent_attempts(page=0, page_size=25)
    page2 = store.recent_attempts(page=2, page_size=25)
    assert len(page0) == 25 and len(page2) == 10
    assert page0[0]["started_at"] > page0[-1]["started_at"]  # newest first
    only = AttemptFilter(models=["gpt-image-2"], statuses=["failed"])
    rows = store.recent_attempts(only)
    assert rows and all(r["model"] == "gpt-image-2" and r["status"] == "failed" for r in rows)
    assert store.count_attempts(AttemptFilter(text="CAT")) == 12
    assert store.count_attempts(AttemptFilter(providers=["openai"], error_types=["rate_limited"])) == 15
    recent = AttemptFilter(since=time.time() - 10 * 60 - 1)
    assert store.count_attempts(recent) == 10
    assert store.distinct("model") == ["gpt-image-1.5", "gpt-image-2", "seedream-4-5"]


def test_model_stats(store):
    _seed(store)
    stats = {s["model"]: s for s in store.model_stats()}
    s = stats["gpt-image-2"]
    assert s["attempts"] == 20 and s["failed"] == 5 and s["succeeded"] == 15
    assert s["success_rate"] == pytest.approx(0.75)
    assert s["errors"] == {"rate_limited": 5}
    # latencies of gpt-image-2's successes: i in 0..57 step 3, not divisible by 4
    lat = sorted(100 * (i % 10 + 1) for i in range(0, 60, 3) if i % 4)
    assert s["p50_ms"] == lat[7] and s["p95_ms"] == lat[14]


def test_time_buckets(store):
    _seed(store)
    buckets = store.time_buckets(bucket_s=600, by="status")
    assert sum(b["n"] for b in buckets) == 60
    assert {b["key"] for b in buckets} == {"succeeded", "failed"}


def test_evidence_per_step(sandbox, store):
    sandbox.configure(scenario="rate_limited")
    with client_for(sandbox, store) as client:
        client.generate(GenerationRequest(prompt="retry once"))
        client.generate(GenerationRequest(prompt="bad key"), on_event=None)
    sandbox.configure(scenario="auth")
    with client_for(sandbox, store) as client:
        client.generate(GenerationRequest(prompt="auth"))
    ev = store.evidence()
    assert ev[5]["errors"]["rate_limited"] >= 1
    assert ev[5]["retry_after"]["honoured"] >= 1 and ev[5]["retry_after"]["early"] == 0
    assert ev[1]["errors"] == {"auth": 1}
    assert ev[1]["examples"][0]["http_status"] == 401
    assert ev[9]["latency"]["count"] >= 1


def test_key_hint_is_cut_to_four_characters(store):
    run = store.start_run(kind="generate", label="x", settings={})
    aid = store.attempt_started({"run_id": run, "model": "m", "prompt": "p", "key_hint": "abcdefgh"})
    assert store.attempt(aid)["key_hint"] == "efgh"


def test_unknown_status_or_error_type_is_refused(store):
    run = store.start_run(kind="generate", label="x", settings={})
    aid = store.attempt_started({"run_id": run, "model": "m", "prompt": "p"})
    with pytest.raises(ValueError):
        store.attempt_finished(aid, {"status": "exploded"})
    with pytest.raises(ValueError):
        store.attempt_finished(aid, {"status": "failed", "error_type": "oops"})


def test_four_threads_by_250_attempts(store):
    run = store.start_run(kind="compare", label="threads", settings={})
    errors = []

    def work(t):
        try:
            for i in range(250):
                aid = store.attempt_started({"run_id": run, "model": f"m{t}", "prompt": f"{t}-{i}", "attempt_no": i})
                store.attempt_finished(aid, {"status": "succeeded", "latency_ms": i, "finished_at": time.time()})
        except Exception as err:  # noqa: BLE001 - any error fails the test below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count_attempts(AttemptFilter(run_id=run)) == 1000
    assert store.count_attempts(AttemptFilter(statuses=["succeeded"])) == 1000


def test_two_stores_on_one_file_interleave(tmp_path):
    """Like the app and the CLI at once: two Store objects, one file."""
    a, b = Store(tmp_path / "x.db"), Store(tmp_path / "x.db")
    run = a.start_run(kind="generate", label="x", settings={})
    ids = []
    for i in range(50):
        ids.append((a if i % 2 else b).attempt_started({"run_id": run, "model": "m", "prompt": str(i)}))
    assert len(set(ids)) == 50 and a.count_attempts() == 50


def test_a_second_process_does_not_steal_rows_in_flight(store):
    run = store.start_run(kind="generate", label="x", settings={})
    aid = store.attempt_started({"run_id": run, "model": "m", "prompt": "in flight"})
    again = Store(store.path)  # same process: still alive
    assert again.recovered == 0
    assert again.attempt(aid)["status"] == "pending"


def test_pending_rows_of_a_dead_process_become_interrupted(store):
    run = store.start_run(kind="generate", label="x", settings={})
    aid = store.attempt_started({"run_id": run, "model": "m", "prompt": "orphan"})
    store.db.execute(
        "UPDATE attempts SET owner_pid = ?, owner_token = ? WHERE id = ?", [2**22 + 12345, f"{2**22 + 12345}:1:x", aid]
    )  # no such process
    again = Store(store.path)
    assert again.recovered == 1
    row = again.attempt(aid)
    assert row["status"] == "interrupted" and row["error_type"] == "interrupted" and row["finished_at"]


def test_migration_from_the_first_schema(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m002_usage_and_indexes")
    assert "usage" not in db["attempts"].columns_dict
    db["runs"].insert({"id": "r1", "kind": "generate", "label": "old", "created_at": 1.0})
    db["attempts"].insert(
        {"run_id": "r1", "started_at": 1.0, "model": "gpt-image-1", "prompt": "from v1", "status": "succeeded", "latency_ms": 5}
    )
    db.close()

    store = Store(path)
    cols = store.db["attempts"].columns_dict
    assert "usage" in cols
    assert any(ix.columns == ["model", "started_at"] for ix in store.db["attempts"].indexes)
    (row,) = store.recent_attempts()
    assert row["prompt"] == "from v1"
    applied = [m.name for m in migrations.applied(store.db)]
    assert applied == [m.name for m in migrations._migrations]
    Store(path)  # opening again applies nothing and does not fail


def test_queries_use_indexes(store):
    _seed(store, 10)
    plan = " ".join(
        str(r)
        for r in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM attempts WHERE model IN (?) ORDER BY started_at DESC LIMIT 50", ["gpt-image-2"]
        ).fetchall()
    )
    assert "USING INDEX" in plan


def test_reports_round_trip(store):
    rid = store.save_report(title="t", provider="sandbox", model="gpt-image-2", status="warn", body={"steps": [1]}, markdown="# t")
    assert store.report(rid)["body"] == {"steps": [1]}
    assert store.report("missing") is None


def test_thumbnail_is_cached(sandbox, store):
    with client_for(sandbox, store) as client:
        out = client.generate(GenerationRequest(prompt="thumb", size="1536x1024"))
    rel = out.images[0].rel_path
    thumb = store.keeper.thumbnail(rel)
    assert thumb.is_file()
    from PIL import Image

    with Image.open(thumb) as im:
        assert max(im.size) == 256
    mtime = thumb.stat().st_mtime_ns
    assert store.keeper.thumbnail(rel) == thumb and thumb.stat().st_mtime_ns == mtime
    with pytest.raises(ValueError):
        store.keeper.resolve("../imagelab.db")


def test_sqlite_error_is_not_swallowed(tmp_path):
    s = Store(tmp_path / "y.db")
    with pytest.raises(sqlite3.OperationalError):
        s.db.execute("SELECT nope FROM attempts")


def test_many_stores_opening_a_fresh_database_at_once(tmp_path):
    """Like the app and the CLI starting together: migrations must not race."""
    for round_ in range(15):
        path = tmp_path / f"fresh-{round_}.db"
        barrier = threading.Barrier(6)
        errors = []

        def open_store():
            try:
                barrier.wait()
                Store(path)
            except Exception as err:  # noqa: BLE001 - any error fails the test below
                errors.append(err)

        threads = [threading.Thread(target=open_store) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], errors[:2]
        assert [m.name for m in migrations.applied(Store(path).db)] == [m.name for m in migrations._migrations]


def test_wait_is_stored_apart_from_latency_and_refusals_are_not_sent(store):
    waited = store.attempt_started({"provider": "sandbox", "model": "gpt-image-2", "prompt": "p"})
    store.attempt_finished(waited, {"status": "succeeded", "latency_ms": 2, "wait_ms": 1000, "finished_at": time.time()})
    refused = store.attempt_started({"provider": "sandbox", "model": "gpt-image-2", "prompt": "p"})
    store.attempt_finished(refused, {"status": "failed", "error_type": "invalid_input", "error_param": "size", "finished_at": time.time()})
    sent = store.attempt_started({"provider": "sandbox", "model": "gpt-image-2", "prompt": "p"})
    store.attempt_finished(sent, {"status": "failed", "error_type": "server_error", "http_status": 500, "finished_at": time.time()})
    row = store.db["attempts"].get(waited)
    assert (row["latency_ms"], row["wait_ms"]) == (2, 1000)
    assert store.count_attempts() == 3
    assert store.count_attempts(AttemptFilter(sent_only=True)) == 2
    assert {r["id"] for r in store.recent_attempts(AttemptFilter(sent_only=True))} == {waited, sent}
