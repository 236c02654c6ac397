"""Bad local state and the local guards."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib import constants as C
from lib import ui
from lib.store import DamagedDatabase, Store
from tests.support import ROOT

APP = str(ROOT / "streamlit_app.py")
GARBAGE = b"this is not an sqlite database, it is a shopping list: eggs, flour\n" * 40


def damaged(tmp_path: Path, content: bytes = GARBAGE) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / C.DB_FILENAME).write_bytes(content)
    return data


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
    data = damaged(tmp_path, content)
    with pytest.raises(DamagedDatabase) as info:
        Store(data_dir=data)
    assert str(data / C.DB_FILENAME) in info.value.message and "move it aside" in info.value.message
    assert (data / C.DB_FILENAME).read_bytes() == content  # nothing written over it


def test_the_cli_says_so_and_exits_2(tmp_path):
    data = damaged(tmp_path)
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


def test_the_app_shows_a_card_naming_the_file(tmp_path, monkeypatch):
    data = damaged(tmp_path)
    monkeypatch.setenv("IMAGELAB_DATA_DIR", str(data))
    monkeypatch.delenv(C.PASSWORD_ENV, raising=False)
    ui.get_store.clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert any("database cannot be opened" in e.value for e in at.error)
    assert any(str(data / C.DB_FILENAME) in t.value for t in at.get("text"))
    assert not at.button  # no Generate button under a broken database
    assert (data / C.DB_FILENAME).read_bytes() == GARBAGE
    ui.get_store.clear()


# --- the app password ----------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(C.PASSWORD_ENV, "correct horse battery staple")
    monkeypatch.setattr(C, "PASSWORD_FAIL_DELAY_S", 0.0)
    ui.get_store.clear()
    return AppTest.from_file(APP, default_timeout=30).run()


def test_a_password_guards_every_page(guarded):
    at = guarded
    assert not at.exception
    assert at.text_input(key="app_password_input")
    assert not [t for t in at.text_area if t.key == "prompt"] and not at.sidebar.selectbox  # nothing else is drawn
    at.text_input(key="app_password_input").set_value("wrong")
    at.button[0].click().run()
    assert any("not the password" in e.value for e in at.error)
    assert not [t for t in at.text_area if t.key == "prompt"]


def test_the_right_password_opens_the_app(guarded):
    at = guarded
    at.text_input(key="app_password_input").set_value("correct horse battery staple")
    at.button[0].click().run()
    assert not at.exception
    assert at.text_area(key="prompt") is not None
    at.run()  # stays signed in for the session
    assert at.text_area(key="prompt") is not None


def test_without_a_password_the_app_opens(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(C.PASSWORD_ENV, raising=False)
    ui.get_store.clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert at.text_area(key="prompt") is not None


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


def test_the_sidebar_and_the_card_refuse_an_operator_key_for_another_host(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(C.PASSWORD_ENV, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-" + "Jk2" * 12)
    ui.get_store.clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    assert not [e for e in at.sidebar.error if "belongs to" in e.value]  # its own host: fine
    at.sidebar.text_input(key="base_url__openai").set_value("https://collector.example.net/v1").run()
    assert any("belongs to" in e.value and "collector.example.net" in e.value for e in at.sidebar.error)
    at.text_area(key="prompt").set_value("steal my key").run()
    at.button(key="generate").click().run()
    import time

    deadline = time.time() + 20
    while time.time() < deadline and at.session_state["generate_job"] is not None:
        time.sleep(0.1)
        at.run()
    card = " ".join(e.value for e in at.error)
    assert "invalid_input" in card and "Checklist step 1" in card
    row = ui.get_store().recent_attempts()[0]
    assert row["error_type"] == "invalid_input" and "belongs to" in row["error_message"]
    ui.get_store.clear()
