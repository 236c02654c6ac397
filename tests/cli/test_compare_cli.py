"""`imagelab compare`: the --json shape and the exit codes, on the real sandbox."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from lib import cli
from lib import compare as K
from lib.store import Store

CELL_KEYS = {"row", "target", "ok", "error_type", "model", "latency_ms", "cost_usd", "images"}


def run(capsys, *args):
    code = cli.main(["compare", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_shape_exit_1_when_a_cell_fails_and_a_contact_sheet(capsys, sandbox, tmp_path):
    sheet = tmp_path / "sheet.png"
    code, out, err = run(
        capsys,
        "--prompt",
        "a red fox",
        "--prompt",
        "an owl #fallback",
        "--target",
        "sandbox:gpt-image-2",
        "--target",
        "sandbox:gpt-image-1.5",
        "--base-url",
        sandbox.base_url,
        "--data-dir",
        str(tmp_path / "d"),
        "--max-concurrency",
        "4",
        "--rate",
        "50",
        "--contact-sheet",
        str(sheet),
        "--json",
    )
    assert code == 1, err
    doc = json.loads(out)
    assert set(doc) == {"comparison_id", "wall_s", "cells"} and doc["wall_s"] > 0
    assert len(doc["cells"]) == 4 and all(set(c) == CELL_KEYS for c in doc["cells"])
    by = {(c["row"], c["target"]): c for c in doc["cells"]}
    bad = by[(2, "gpt-image-2 @ Sandbox")]
    assert bad["ok"] is False and bad["error_type"] == "model_not_found" and bad["images"] == []
    good = by[(1, "gpt-image-1.5 @ Sandbox")]
    assert good["ok"] and good["error_type"] is None and good["model"] == "gpt-image-1.5" and good["latency_ms"] > 0
    assert good["cost_usd"] > 0 and len(good["images"]) == 1
    Image.open(good["images"][0]).verify()
    assert Image.open(sheet).size[0] > 0
    store = Store(data_dir=tmp_path / "d")  # recorded in the same database the app reads
    view = K.load(store, doc["comparison_id"])
    assert view is not None and view.status == "done" and len(view.cells) == 4


def test_template_vars_and_exit_0_when_every_cell_succeeds(capsys, sandbox, tmp_path):
    code, out, err = run(
        capsys,
        "--template",
        "a {animal} in {style} style",
        "--var",
        "animal=fox,owl",
        "--var",
        "style=ink",
        "--provider",
        "sandbox",
        "--model",
        "gpt-image-2",
        "--base-url",
        sandbox.base_url,
        "--data-dir",
        str(tmp_path / "d"),
        "--quality",
        "low",
        "--size",
        "1024x1024",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert [(c["row"], c["ok"]) for c in doc["cells"]] == [(1, True), (2, True)]
    store = Store(data_dir=tmp_path / "d")
    plan = K.load(store, doc["comparison_id"]).plan
    assert [r.prompt for r in plan.rows] == ["a fox in ink style", "a owl in ink style"]
    assert plan.shared["quality"] == "low" and plan.shared["size"] == "1024x1024"


def test_text_output_says_where_to_open_it(capsys, sandbox, tmp_path):
    code, out, err = run(
        capsys,
        "--prompt",
        "a fox",
        "--target",
        "sandbox:gpt-image-2",
        "--vary",
        "quality=low,high",
        "--base-url",
        sandbox.base_url,
        "--data-dir",
        str(tmp_path / "d"),
    )
    assert code == 0, err
    assert "2/2 cells succeeded" in out and "/compare?comparison=" in out
    assert "gpt-image-2 @ Sandbox (quality low): 1/1 succeeded" in out and "[2/2]" in err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--template", "a {animal", "--var", "animal=fox", "--target", "sandbox:gpt-image-2"], "never closed"),
        (["--template", "a {animal} {style}", "--var", "animal=fox", "--target", "sandbox:gpt-image-2"], "no values were given"),
        (["--template", "a {animal}", "--var", "animal=fox", "--var", "hue=red", "--target", "sandbox:gpt-image-2"], "does not use"),
        (["--prompt", "a fox", "--var", "animal=fox", "--target", "sandbox:gpt-image-2"], "nothing to fill in"),
        (["--prompt", "a fox"], "at least one target"),
        (["--prompt", "a fox", "--target", "nowhere:gpt-image-2"], "no known provider"),
        (["--prompt", "a fox", "--model", "gpt-image-2"], "--model needs --provider"),
        (["--prompt", "a fox", "--target", "openai:gpt-image-2", "--base-url", "http://127.0.0.1:9"], "--base-url is for custom"),
        (["--prompt", "a fox", "--target", "custom:gpt-image-2"], "need --base-url"),
        (["--prompt", "a fox", "--target", "sandbox:gpt-image-2", "--vary", "quality=low"], "at least two"),
        (["--prompt", "a fox", "--target", "sandbox:gpt-image-2", "--max-concurrency", "0"], "--max-concurrency"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(capsys, tmp_path, args, words):
    code, out, err = run(capsys, *args, "--data-dir", str(tmp_path / "d"))
    assert code == 2 and words in err and "Traceback" not in err and out == ""


def test_a_missing_key_is_a_bad_argument(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code, out, err = run(capsys, "--prompt", "a fox", "--target", "openai:gpt-image-2", "--data-dir", str(tmp_path / "d"))
    assert code == 2 and "OpenAI has no key: set $OPENAI_API_KEY" in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["compare", "--prompt", "a fox", "--target", "sandbox:gpt-image-2", "--n", "two"])
    assert exc.value.code == 2


def library(tmp_path):
    store = Store(data_dir=tmp_path / "d")
    store.save_prompt("Lighthouse", "a lighthouse on a basalt cliff at dusk")
    store.save_prompt("Lighthouse", "a red lighthouse\non a basalt cliff at dawn")  # version 2
    store.close()


def test_prompt_from_makes_rows_of_saved_prompts_and_versions_in_the_order_given(capsys, sandbox, tmp_path):
    library(tmp_path)
    code, out, err = run(
        capsys,
        "--prompt-from",
        "LIGHTHOUSE@1",
        "--prompt",
        "a fox",
        "--prompt-from",
        "Lighthouse",
        "--target",
        "sandbox:gpt-image-2",
        "--base-url",
        sandbox.base_url,
        "--data-dir",
        str(tmp_path / "d"),
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    store = Store(data_dir=tmp_path / "d")
    plan = K.load(store, doc["comparison_id"]).plan
    assert [r.prompt for r in plan.rows] == [
        "a lighthouse on a basalt cliff at dusk",
        "a fox",
        "a red lighthouse on a basalt cliff at dawn",  # the latest version, its two lines as one row
    ]
    assert len(doc["cells"]) == 3 and all(c["ok"] for c in doc["cells"])


@pytest.mark.parametrize(
    "args, words",
    [
        (["--prompt-from", "Lantern"], "No saved prompt is named 'Lantern'. Saved prompts include: Lighthouse."),
        (["--prompt-from", "Lighthouse@3"], "--prompt-from Lighthouse@3: 'Lighthouse' has no version 3: it has versions 1 to 2."),
        (["--prompt-from", "Lighthouse@0"], "versions are numbered from 1"),
        (["--prompt-from", "Lighthouse", "--template", "a {x}", "--var", "x=a,b"], "use one or the other"),
        ([], "Give the grid its rows"),
    ],
)
def test_prompt_from_an_unknown_name_or_version_exits_2_saying_which(capsys, tmp_path, args, words):
    library(tmp_path)
    code, out, err = run(capsys, *args, "--target", "sandbox:gpt-image-2", "--data-dir", str(tmp_path / "d"))
    assert code == 2 and words in err and "Traceback" not in err and out == ""


def test_prompt_from_in_an_empty_library_says_to_save_one_first(capsys, tmp_path):
    code, out, err = run(capsys, "--prompt-from", "Lighthouse", "--target", "sandbox:gpt-image-2", "--data-dir", str(tmp_path / "d"))
    assert code == 2 and "The library is empty: save a prompt from Generate first." in err
