"""The hostile provider echoes the key everywhere; afterwards no 8-character run
of it, in any case, is in the database (and its WAL), the logs, the image files
or the CLI's output, and no attempt is left pending."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from lib.client import ImageClient
from lib.config import configure_logging
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support import ROOT
from tests.support.hostile_probes import PROBES, one_per_answer, probes

KEY = "sk-sweep-" + "Rt5" * 13 + "Gh8W"
ECHO_PROBES = probes(echoes_key=True)


def fragments(key: str) -> set[bytes]:
    low = key.lower().encode()
    return {low[i : i + 8] for i in range(len(low) - 7)}


def leaks(blob: bytes, key: str = KEY) -> list[bytes]:
    low = blob.lower()
    return sorted(f for f in fragments(key) if f in low)


def test_no_key_fragment_is_kept_anywhere(hostile, tmp_path):
    data = tmp_path / "data"
    store = Store(data_dir=data)
    configure_logging(data, level=logging.DEBUG)
    outcomes = {}
    for probe in ECHO_PROBES:
        settings = ClientSettings(
            provider="custom",
            base_url=hostile.base_url(probe),
            api_key=KEY,
            key_source="typed",
            max_retries=1,
            use_fallback=False,
            task_deadline_s=5,
        )
        with ImageClient(
            settings=settings,
            recorder=store,
            keeper=store.keeper,
            limiter=ProviderLimiter(rate_per_s=1000, burst=1000),
            sleep=lambda s: None,
        ) as client:
            outcomes[probe] = client.generate(GenerationRequest(prompt=f"sweep {probe}"))
    logging.getLogger("imagelab.test").error("a provider said %s", KEY.swapcase(), exc_info=ValueError(KEY[3:]))

    assert [p for p in ECHO_PROBES if outcomes[p].ok] == [p for p in ECHO_PROBES if PROBES[p].ok]  # the images were kept, and checked
    assert any(KEY in k for k in hostile.seen_keys), "the key was really sent, and echoed"
    assert not store.db.execute("SELECT count(*) FROM attempts WHERE status = 'pending'").fetchone()[0]

    files = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert any(p.name.endswith("-wal") for p in files), "the WAL is checked while it exists"
    assert any(p.suffix == ".png" for p in files) and any(p.suffix == ".log" for p in files)
    found = {str(p.relative_to(data)): leaks(blob) for p, blob in files.items() if leaks(blob)}
    assert not found, f"key fragments found in: {found}"
    # and the in-memory outcomes the pages render
    for probe, out in outcomes.items():
        shown = (
            repr(out.error.to_dict() if out.error else None)
            + repr(out.events)
            + repr(out.usage)
            + repr(out.revised_prompt)
            + repr(out.raw_response)
        )
        shown += (
            repr([(i.source_url) for i in out.images])
            + (out.error.provider_message or "" if out.error else "")
            + (out.error.raw or "" if out.error else "")
        )
        assert not leaks(shown.encode()), probe
    store.close()


@pytest.mark.parametrize("probe", one_per_answer(ECHO_PROBES))  # every answer shape; a process per probe is slow
def test_the_cli_prints_no_key_fragment(hostile, tmp_path, probe):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "lib.cli",
            "generate",
            "--prompt",
            "cli sweep",
            "--provider",
            "custom",
            "--base-url",
            hostile.base_url(probe),
            "--api-key",
            KEY,
            "--data-dir",
            str(tmp_path),
            "--no-fallback",
            "--max-retries",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert p.returncode in (0, 1), p.stderr
    assert not leaks((p.stdout + p.stderr).encode()), (p.stdout + p.stderr)[-2000:]
    p2 = subprocess.run(
        [
            sys.executable,
            "-m",
            "lib.cli",
            "generate",
            "--prompt",
            "cli sweep",
            "--provider",
            "custom",
            "--json",
            "--base-url",
            hostile.base_url(probe),
            "--api-key",
            KEY,
            "--data-dir",
            str(tmp_path),
            "--no-fallback",
            "--max-retries",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert not leaks((p2.stdout + p2.stderr).encode())
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert not leaks(path.read_bytes()), path


def test_the_store_masks_every_text_it_writes(tmp_path):
    """The store's own step, whatever a caller passes (a second layer behind the client)."""
    from lib import redact

    redact.register(KEY)
    store = Store(data_dir=tmp_path / "d")
    run_id = store.start_run(kind="generate", label=f"label {KEY.upper()}", settings={"note": KEY[2:]})
    attempt = store.attempt_started(
        {"run_id": run_id, "prompt": f"prompt {KEY}", "url": f"https://x.example/?token={KEY}", "model": "m", "params": {"k": KEY}}
    )
    store.attempt_finished(
        attempt,
        {
            "status": "failed",
            "error_type": "auth",
            "error_code": KEY.swapcase(),
            "error_message": KEY[:-1],
            "request_id": KEY[5:20],
            "task_id": KEY,
            "usage": {"echo": KEY},
        },
    )
    blob = b"".join(p.read_bytes() for p in (tmp_path / "d").rglob("*") if p.is_file())
    assert not leaks(blob)
    row = store.attempt(attempt)
    assert "••••" in row["error_code"] and "••••" in row["prompt"]
    store.close()
