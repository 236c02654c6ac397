"""Store and image-pipeline figures. Prints; asserts nothing.

.venv/bin/python benchmarks/store.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from lib import pricing  # noqa: E402
from lib.images import ImageKeeper, decode_b64, validate  # noqa: E402
from lib.sandbox import render_image  # noqa: E402
from lib.store import AttemptFilter, Store  # noqa: E402

MODELS = ["gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini", "seedream-4-5"]
ERRORS = [None] * 8 + ["rate_limited", "timeout", "server_error", "content_policy", "model_not_found"]


def record(store: Store, run: str, n: int, tag: str) -> None:
    for i in range(n):
        aid = store.attempt_started(
            {
                "run_id": run,
                "started_at": time.time(),
                "provider": "sandbox",
                "url": "http://x/v1/images/generations",
                "model": MODELS[i % 5],
                "prompt": f"{tag} {i}",
                "params": {"size": "1024x1024"},
                "attempt_no": 1,
                "key_hint": "abcd",
            }
        )
        fields = {"finished_at": time.time(), "latency_ms": 1000 + i % 500, "status": "succeeded", "image_count": 1, "http_status": 200}
        fields.update(pricing.cost_fields(MODELS[i % 5], {"size": "1024x1024"}, fields))  # as the client prices each attempt
        store.attempt_finished(aid, fields)


def recording_rate(tmp: Path, threads: int, per_thread: int) -> float:
    store = Store(tmp / f"rate-{threads}.db")
    run = store.start_run(kind="generate", label="bench", settings={})
    workers = [threading.Thread(target=record, args=(store, run, per_thread, f"t{t}")) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    assert store.count_attempts() == threads * per_thread
    return threads * per_thread / elapsed


def synthetic(store: Store, rows: int) -> None:
    rng = random.Random(7)
    now = time.time()
    run = store.start_run(kind="generate", label="synthetic", settings={})
    words = "fox owl lantern harbour neon desert forest teapot robot city".split()
    batch = []
    for _i in range(rows):
        err = rng.choice(ERRORS)
        batch.append(
            (
                run,
                now - rng.random() * 30 * 86400,
                now,
                rng.randint(800, 120000),
                rng.choice(["openai", "evolink", "sandbox"]),
                "u",
                rng.choice(MODELS),
                " ".join(rng.choices(words, k=6)),
                json.dumps({"size": "1024x1024"}),
                1,
                None,
                "failed" if err else "succeeded",
                err,
                429 if err == "rate_limited" else (None if err else 200),
                "abcd",
                0 if err else 1,
            )
        )
    with store.db.atomic():
        store.db.conn.executemany(
            "INSERT INTO attempts (run_id, started_at, finished_at, latency_ms, provider, url, model, prompt, params, attempt_no, fallback_from, status, error_type, http_status, key_hint, image_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            batch,
        )
    store.db.execute("ANALYZE")


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def image_pipeline(tmp: Path, size: tuple[int, int], count: int = 10) -> tuple[float, float]:
    images = [render_image(f"bench image {i}", *size) for i in range(count)]
    # Noise makes the PNGs as hard to compress as real photos are.
    noisy = []
    for i, data in enumerate(images):
        with Image.open(io.BytesIO(data)) as im:
            blended = Image.blend(im.convert("RGB"), Image.effect_noise(size, 40 + i).convert("RGB"), 0.3)
        out = io.BytesIO()
        blended.save(out, "PNG")
        noisy.append(out.getvalue())
    encoded = [base64.b64encode(d).decode() for d in noisy]
    keeper = ImageKeeper(tmp / f"keep-{size[0]}x{size[1]}")
    start = time.perf_counter()
    for b64 in encoded:
        keeper.save(decode_b64(b64), source="b64")
    ours = (time.perf_counter() - start) / count * 1000
    start = time.perf_counter()
    for data in noisy:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    bare = (time.perf_counter() - start) / count * 1000
    parts = {}
    start = time.perf_counter()
    for b64 in encoded:
        decode_b64(b64)
    parts["base64 decode"] = (time.perf_counter() - start) / count * 1000
    start = time.perf_counter()
    for data in noisy:
        hashlib.sha256(data).hexdigest()
    parts["sha256"] = (time.perf_counter() - start) / count * 1000
    start = time.perf_counter()
    for data in noisy:
        validate(data)
    parts["validate (incl. sha256)"] = (time.perf_counter() - start) / count * 1000
    return ours, bare, parts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        one = recording_rate(tmp, 1, 4000)
        four = recording_rate(tmp, 4, 1000)
        print("attempts recorded per second (pending + finish)")
        print(f"  1 thread : {one:8,.0f}/s   (target >= 2,000/s)")
        print(f"  4 threads: {four:8,.0f}/s")

        store = Store(tmp / "big.db")
        start = time.perf_counter()
        synthetic(store, args.rows)
        print(f"\n{args.rows:,} synthetic attempts inserted in {time.perf_counter() - start:.1f} s")
        stats_ms = timed(store.model_stats, 7)
        print(f"  per-model stats             : {stats_ms:7.1f} ms   (target <= 150 ms)")
        page_ms = timed(lambda: store.recent_attempts(AttemptFilter(models=["gpt-image-2"]), page=3), 21)
        print(f"  one page, filtered by model : {page_ms:7.2f} ms   (target <= 20 ms)")
        page2_ms = timed(lambda: store.recent_attempts(AttemptFilter(error_types=["timeout"], since=time.time() - 7 * 86400)), 21)
        print(f"  one page, error type + week : {page2_ms:7.2f} ms")
        text_ms = timed(lambda: store.recent_attempts(AttemptFilter(text="lantern")), 21)
        print(f"  one page, text in prompt    : {text_ms:7.2f} ms")
        buckets_ms = timed(lambda: store.time_buckets(bucket_s=86400, by="error_type"), 5)
        print(f"  daily buckets by error type : {buckets_ms:7.1f} ms")
        evidence_ms = timed(lambda: store.evidence(AttemptFilter(since=time.time() - 86400)), 5)
        print(f"  checklist evidence, last day: {evidence_ms:7.1f} ms")

        print("\ndecode + validate + save beside Pillow's bare open + verify (per image, noisy PNGs)")
        for size in ((1024, 1024), (1536, 1024)):
            ours, bare, parts = image_pipeline(tmp, size)
            print(f"  {size[0]}x{size[1]}: ours {ours:6.2f} ms, Pillow open+verify {bare:6.2f} ms, ratio {ours / bare:.2f}x")
            print("      of ours: " + ", ".join(f"{k} {v:.2f} ms" for k, v in parts.items()) + ", the rest is the file write")


if __name__ == "__main__":
    main()
