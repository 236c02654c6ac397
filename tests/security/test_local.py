"""Bad local state and the local guards: a damaged database is named and left alone, loopback by default, markup made inert."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from lib import constants as C
from lib import ui
from lib.store import DamagedDatabase, Store
from tests.support import ROOT
from tests.support.damaged_db import GARBAGE, damaged


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_a_damaged_database_is_named_and_left_alone(tmp_path, kind):
    if kind == "truncated":
        good = Store(data_dir=tmp_path / "good")
        good.start_run(kind="generate", label="x", settings={})
        good.close()
        raw = (tmp_path / "good" / C.DB_FILENAME).read_bytes()
        content = raw[:100] + b"\x00\xff" * 600
    else:
        content = GARBAGE
    data = damaged(tmp_path / "data", content)
    with pytest.raises(DamagedDatabase) as info:
        Store(data_dir=data)
    assert str(data / C.DB_FILENAME) in info.value.message and "move it aside" in info.value.message
    assert (data / C.DB_FILENAME).read_bytes() == content  # nothing written over it


def test_the_cli_says_so_and_exits_2(tmp_path):
    data = damaged(tmp_path / "data")
    p = subprocess.run(
        [sys.executable, "-m", "lib.cli", "generate", "--prompt", "x", "--data-dir", str(data), "--base-url", "http://127.0.0.1:9/v1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert p.returncode == 2
    assert "cannot be read" in p.stderr and C.DB_FILENAME in p.stderr and "Traceback" not in p.stderr
    assert (data / C.DB_FILENAME).read_bytes() == GARBAGE


# --- listening on loopback by default ------------------------------------------------


def test_make_run_listens_on_loopback_by_default():
    makefile = (ROOT / "Makefile").read_text()
    assert "ADDRESS ?= 127.0.0.1" in makefile and "--server.address $(ADDRESS)" in makefile
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    dry = subprocess.run(["make", "-n", "run"], capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, MAKEFLAGS=""))
    if dry.returncode == 0:
        assert "--server.address 127.0.0.1" in dry.stdout


# --- the escaping helper --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, must_not_contain",
    [
        ("![x](http://a.example/p.png)", "!["),
        ("`tick`", "`tick`"),
        ("$E=mc^2$", "$E"),
        (":red[x] :material/home: :smile:", ":red"),
        ("<img src=x>", "<img"),
        ("[a](http://b.example)", "[a]"),
        ("http://b.example www.c.example d@e.example", "http://"),
    ],
)
def test_plain_neutralises_markup(text, must_not_contain):
    import re

    assert not re.search(r"(?<!\\)" + re.escape(must_not_contain), ui.plain(text))


def test_plain_keeps_ordinary_words_and_masks_secrets():
    assert ui.plain("Attempt 1: gpt-image-1.5 (retry)") == "Attempt 1: gpt-image-1.5 (retry)"
    from lib import redact

    redact.register("sk-plain-" + "Yy8" * 12)
    assert "Yy8Yy8Yy8" not in ui.plain("echo sk-plain-" + "Yy8" * 12)
