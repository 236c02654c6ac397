"""The imagelab command line, run as a real process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from lib.store import Store
from tests.support import ROOT
from tests.support.cli import SCRIPT, command, env, run
from tests.support.e2e_support import free_port
from tests.support.wait_until import wait_until


def test_the_console_script_is_installed():
    assert SCRIPT.exists(), "pip install -e . provides the imagelab command"


def test_generate_json_success_records_to_the_database(sandbox, tmp_path):
    data = tmp_path / "data"
    p = run(
        "generate",
        "--prompt",
        "a cli owl",
        "--base-url",
        sandbox.base_url,
        "--size",
        "1024x1536",
        "--n",
        "2",
        "--data-dir",
        str(data),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {"ok", "error_type", "http_status", "model", "attempts", "run_id", "images", "message"}
    assert out["ok"] is True and out["error_type"] is None and out["model"] == "gpt-image-2" and out["attempts"] == 1
    assert len(out["images"]) == 2 and all(Path(p).is_file() for p in out["images"])
    store = Store(data_dir=data)
    assert store.run(out["run_id"])["attempts"][0]["image_count"] == 2


def test_generate_failure_exits_1_with_the_error(sandbox, tmp_path):
    p = run(
        "generate", "--prompt", "x", "--base-url", sandbox.base_url, "--scenario", "quota_exceeded", "--data-dir", str(tmp_path), "--json"
    )
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert out["ok"] is False and out["error_type"] == "quota_exceeded" and out["http_status"] == 429
    assert "quota" in out["message"]


def test_human_output_names_the_fix(sandbox, tmp_path):
    p = run("generate", "--prompt", "x", "--base-url", sandbox.base_url, "--scenario", "auth", "--data-dir", str(tmp_path))
    assert p.returncode == 1
    assert "[auth, HTTP 401, checklist step 1 (Key)]" in p.stderr and "fix:" in p.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["generate"],  # no prompt
        ["generate", "--prompt", "x", "--provider", "nope"],
        ["generate", "--prompt", "x", "--n", "many"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(args):
    p = run(*args)
    assert p.returncode == 2 and "imagelab:" in p.stderr


def test_preflight_refusal_exits_2(tmp_path, sandbox):
    p = run("generate", "--prompt", "x", "--base-url", sandbox.base_url, "--model", "gpt-image2", "--data-dir", str(tmp_path), "--json")
    assert p.returncode == 2
    out = json.loads(p.stdout)
    assert out["error_type"] == "invalid_input" and "gpt-image-2" in out["message"]


def test_missing_key_for_a_real_provider_is_explained(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    p = run("generate", "--prompt", "x", "--provider", "openai", "--data-dir", str(tmp_path), "--json")
    assert p.returncode == 2
    assert "OPENAI_API_KEY" in json.loads(p.stdout)["message"]


def test_builtin_sandbox_when_no_base_url(tmp_path):
    p = run("generate", "--prompt", "self-contained", "--data-dir", str(tmp_path), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ok"]


def test_sandbox_command_serves_in_the_foreground():
    port = free_port()
    proc = subprocess.Popen(
        [*command(), "sandbox", "--port", str(port), "--scenario", "content_policy", "--latency", "0"], cwd=ROOT, env=env()
    )

    def answer() -> httpx.Response | None:
        try:
            return httpx.post(f"http://127.0.0.1:{port}/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"})
        except httpx.TransportError:
            return None

    try:
        r = wait_until(answer, timeout=20, interval=0.1, message="the sandbox command never answered")
        assert r.status_code == 400 and r.json()["error"]["code"] == "moderation_blocked"
    finally:
        proc.terminate()
        proc.wait(10)
