"""The command line through a gateway dialect (the README's worked file, against the sandbox's task API):
generate, compare and doctor take --dialect; a broken file is refused before sending, with its file and line."""

from __future__ import annotations

import json

from tests.support.dialect_support import README_DIALECT_NAME, install_readme_dialect
from tests.support.source_cli import run


def custom(sandbox, data, *args):
    return run(*args, "--provider", "custom", "--base-url", sandbox.base_url, "--data-dir", str(data), "--dialect", README_DIALECT_NAME)


def test_generate_through_the_readme_dialect(sandbox, tmp_path):
    data = tmp_path / "data"
    install_readme_dialect(data)
    before = sandbox.sandbox.requests
    p = custom(sandbox, data, "generate", "--prompt", "a paper boat", "--n", "2", "--size", "1024x1024", "--json")
    assert p.returncode == 0, p.stderr
    body = json.loads(p.stdout)
    assert body["ok"] and len(body["images"]) == 2
    assert sandbox.sandbox.requests == before + 1  # one createTask (polls are not counted as generations)


def test_compare_through_the_readme_dialect(sandbox, tmp_path):
    data = tmp_path / "data"
    install_readme_dialect(data)
    p = run(
        "compare",
        "--prompt",
        "a fox",
        "--prompt",
        "an owl",
        "--target",
        "custom:gpt-image-2",
        "--base-url",
        sandbox.base_url,
        "--dialect",
        README_DIALECT_NAME,
        "--data-dir",
        str(data),
        "--json",
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    cells = json.loads(p.stdout)["cells"]
    assert len(cells) == 2 and all(c["ok"] and c["images"] for c in cells), cells


def test_doctor_runs_the_dialect_against_the_live_route(sandbox, tmp_path):
    data = tmp_path / "data"
    install_readme_dialect(data)
    p = custom(sandbox, data, "doctor", "--spend", "--json", "--no-history")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["settings"]["dialect"] == README_DIALECT_NAME
    step4 = next(s for s in report["steps"] if s["step"] == 4)
    texts = " ".join(e["text"] for e in step4["evidence"])
    assert step4["status"] == "pass", step4
    assert "Gateway dialect in use: sandbox jobs" in texts
    assert (
        "task id was found at data.taskId" in texts and "success" in texts and "image(s) read at data.resultJson.$json.resultUrls" in texts
    )
    assert "The dialect's poll route" in texts


def test_a_broken_dialect_file_is_refused_before_sending_with_its_file_and_line(sandbox, tmp_path):
    data = tmp_path / "data"
    path = install_readme_dialect(data)
    path.write_text(path.read_text().replace('done = ["success"]', 'don = ["success"]'))
    before = sandbox.sandbox.requests
    p = custom(sandbox, data, "generate", "--prompt", "a paper boat")
    assert p.returncode == 2
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("don ="))
    assert f"{path}: line {line}: 'poll.answer.don' is not a dialect setting (did you mean 'done'?)" in p.stderr
    assert sandbox.sandbox.requests == before
    doctor = custom(sandbox, data, "doctor", "--json", "--no-history")
    assert doctor.returncode == 1
    step4 = next(s for s in json.loads(doctor.stdout)["steps"] if s["step"] == 4)
    assert step4["status"] == "fail" and f"{path}: line {line}" in " ".join(e["text"] for e in step4["evidence"])


def test_dialect_is_for_the_custom_provider_only(tmp_path):
    p = run("generate", "--prompt", "a boat", "--provider", "openai", "--dialect", "x", "--data-dir", str(tmp_path))
    assert p.returncode == 2 and "--dialect applies to the custom provider only" in p.stderr
