"""Streaming and edits on the command line: --stream --partial-images, --image / --mask."""

from __future__ import annotations

import json

from lib.store import Store
from tests.support.cli import run
from tests.support.media_support import image_bytes, mask_bytes


def test_stream_json_counts_the_partials(sandbox, tmp_path):
    p = run(
        "generate",
        "--prompt",
        "a cli heron",
        "--base-url",
        sandbox.base_url,
        "--stream",
        "--partial-images",
        "2",
        "--data-dir",
        str(tmp_path),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["ok"] is True and out["partials"] == 2 and out["first_partial_ms"] is not None
    row = Store(data_dir=tmp_path).run(out["run_id"])["attempts"][0]
    assert row["first_partial_ms"] == out["first_partial_ms"]


def test_stream_progress_names_each_partial(sandbox, tmp_path):
    p = run(
        "generate",
        "--prompt",
        "a cli heron",
        "--base-url",
        sandbox.base_url,
        "--stream",
        "--partial-images",
        "3",
        "--data-dir",
        str(tmp_path),
    )
    assert p.returncode == 0, p.stderr
    assert "Partial image 1 of 3" in p.stderr and "Partial image 3 of 3" in p.stderr


def test_edit_with_two_images_and_a_mask(sandbox, tmp_path):
    a, b, m = tmp_path / "a.png", tmp_path / "b.webp", tmp_path / "m.png"
    a.write_bytes(image_bytes((80, 60)))
    b.write_bytes(image_bytes((40, 40), fmt="WEBP"))
    m.write_bytes(mask_bytes((80, 60)))
    data = tmp_path / "data"
    p = run(
        "generate",
        "--prompt",
        "a cli edit",
        "--base-url",
        sandbox.base_url,
        "--model",
        "gpt-image-1.5",
        "--image",
        str(a),
        "--image",
        str(b),
        "--mask",
        str(m),
        "--input-fidelity",
        "high",
        "--data-dir",
        str(data),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert "partials" not in out  # only with --stream
    store = Store(data_dir=data)
    attempt = store.attempt(store.run(out["run_id"])["attempts"][0]["id"])
    assert [i["filename"] for i in attempt["inputs"]] == ["a.png", "b.webp", "m.png"] and attempt["url"].endswith("/images/edits")


def test_bad_files_exit_2_naming_them(sandbox, tmp_path):
    p = run(
        "generate", "--prompt", "x", "--base-url", sandbox.base_url, "--image", str(tmp_path / "missing.png"), "--data-dir", str(tmp_path)
    )
    assert p.returncode == 2 and "missing.png" in p.stderr
    small = tmp_path / "small.png"
    small.write_bytes(mask_bytes((10, 10)))
    ref = tmp_path / "ref.png"
    ref.write_bytes(image_bytes((80, 60)))
    p = run(
        "generate",
        "--prompt",
        "x",
        "--base-url",
        sandbox.base_url,
        "--image",
        str(ref),
        "--mask",
        str(small),
        "--data-dir",
        str(tmp_path),
        "--json",
    )
    assert p.returncode == 2
    out = json.loads(p.stdout)
    assert out["error_type"] == "invalid_input" and "small.png" in out["message"] and "80x60" in out["message"]
    p = run("generate", "--prompt", "x", "--mask", str(small), "--data-dir", str(tmp_path))
    assert p.returncode == 2 and "--mask needs" in p.stderr
