"""EvoLink on the command line, rehearsed on a sandbox of its own: a ratio size at a resolution, and an edit."""

from __future__ import annotations

import json

from PIL import Image

from lib.store import Store
from tests.support.cli import run
from tests.support.media_support import image_bytes


def generate(tmp_path, *args: str):
    p = run("generate", "--provider", "evolink", "--rehearse", "--data-dir", str(tmp_path / "data"), "--json", *args)
    assert p.returncode == 0, p.stderr + p.stdout
    out = json.loads(p.stdout)
    assert out["ok"] is True, out
    return out, Store(data_dir=tmp_path / "data").run(out["run_id"])


def test_a_16_9_2k_generation(tmp_path):
    out, run_row = generate(tmp_path, "--prompt", "a lighthouse in fog", "--size", "16:9", "--resolution", "2K")
    with Image.open(out["images"][0]) as im:
        assert im.size == (2736, 1536)
    (attempt,) = run_row["attempts"]
    assert attempt["provider"] == "evolink" and attempt["url"].endswith("/evolink/v1/images/generations")
    assert attempt["task_id"].startswith("task-unified-")
    assert attempt["params"]["size"] == "16:9" and attempt["params"]["resolution"] == "2K"


def test_an_edit_with_two_reference_files(tmp_path):
    fox, owl = tmp_path / "fox.png", tmp_path / "owl.png"
    fox.write_bytes(image_bytes((96, 64)))
    owl.write_bytes(image_bytes((64, 96), colour=(20, 20, 200)))
    p = run(
        "generate", "--provider", "evolink", "--rehearse", "--prompt", "the fox meets the owl",
        "--image", str(fox), "--image", str(owl), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "Uploading reference image 1 of 2 (fox.png" in p.stderr and "Uploading reference image 2 of 2 (owl.png" in p.stderr
    assert "/evolink/v1/images/generations" in p.stderr and "/images/edits" not in p.stderr
    with Image.open(p.stdout.strip().splitlines()[-1]) as im:
        assert im.size == (96, 64)  # auto, from the first reference


def test_rehearse_refuses_a_base_url(tmp_path):
    p = run("generate", "--provider", "evolink", "--rehearse", "--base-url", "https://api.evolink.ai/v1", "--prompt", "x")
    assert p.returncode == 2 and "--rehearse" in p.stderr


def test_a_configured_evolink_key_is_not_sent_to_the_rehearsal(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOLINK_API_KEY", "evo-real-key-never-leaves-1234")
    out, run_row = generate(tmp_path, "--prompt", "a quiet harbour")
    assert run_row["attempts"][0]["key_hint"] != "1234"
