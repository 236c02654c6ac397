"""Diagnostics figures: how long the checklist takes, and how big its reports are. Prints; asserts nothing.

.venv/bin/python benchmarks/diagnostics.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib import diagnostics as D  # noqa: E402
from lib.generation import ClientSettings  # noqa: E402
from lib.sandbox import SandboxConfig, SandboxServer  # noqa: E402
from lib.store import Store  # noqa: E402

MODELS = ["gpt-image-2", "gpt-image-1.5", "gpt-image-1", "seedream-4-5"]
ERRORS = [None] * 10 + [
    "rate_limited",
    "timeout",
    "server_error",
    "content_policy",
    "model_not_found",
    "auth",
    "image_fetch_failed",
    "bad_request",
]


def seed(store: Store, rows: int, url: str) -> None:
    """``rows`` attempts of the route being diagnosed (its endpoint URL, no key), a run per three."""
    now = time.time()
    db = store.db
    with db.conn:
        for i in range(rows):
            if i % 3 == 0:  # a run is one generation: an attempt and its retries
                run = f"bench-{i // 3}"
                db.execute(
                    "INSERT INTO runs (id, kind, label, created_at, status) VALUES (?, 'generate', 'bench', ?, 'failed')",
                    [run, now - i * 5],
                )
            error = ERRORS[i % len(ERRORS)]
            db.execute(
                "INSERT INTO attempts (run_id, started_at, finished_at, latency_ms, provider, url, model, prompt, params, attempt_no, status, "
                "error_type, http_status, retry_after_s, error_message) VALUES (?, ?, ?, ?, 'sandbox', ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?)",
                [
                    run,
                    now - i * 5,
                    now - i * 5 + 2,
                    20_000 + (i * 37) % 90_000,
                    url,
                    MODELS[i % len(MODELS)],
                    f"prompt {i}",
                    1 + i % 3,
                    "failed" if error else "succeeded",
                    error,
                    429 if error == "rate_limited" else (200 if not error else 400),
                    1.0 if error == "rate_limited" else None,
                    "x" if error else None,
                ],
            )


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(SandboxConfig(latency_s=(0.0, 0.0))) as sandbox:
        store = Store(data_dir=Path(tmp) / "data")
        settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url)
        seed(store, args.rows, settings.endpoint.url)  # evidence is scoped to the route: these rows are its history
        print(f"Diagnostics ({args.rows:,} attempts in the database, 7-day window)")
        ms, report = timed(lambda: D.run_checks(settings, "gpt-image-2", store=store, probe=False), 5)
        print(f"  static + history checks (no request):    {ms:7.1f} ms")
        ms, report = timed(lambda: D.run_checks(settings, "gpt-image-2", store=store), 5)
        print(f"  with live probes on the local sandbox:   {ms:7.1f} ms")
        ms, report = timed(lambda: D.run_checks(settings, "gpt-image-2", store=store, spend=True), 3)
        print(f"  with the spend-one-image probe:          {ms:7.1f} ms")
        print(f"  statuses: {' '.join(f'{s.step}:{s.status}' for s in report.steps)}")
        for name, render in (("JSON", D.report_to_json), ("Markdown", D.report_to_markdown), ("HTML", D.report_to_html)):
            ms, text = timed(lambda: render(report), 20)
            print(f"  {name:<9} export: {len(text.encode()) / 1024:6.1f} KB in {ms:5.2f} ms")
        ms, _ = timed(lambda: D.report_from_json(D.report_to_json(report)), 20)
        print(f"  JSON round trip (write + validate):      {ms:7.2f} ms")


if __name__ == "__main__":
    main()
