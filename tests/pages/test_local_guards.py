"""The local guards on the pages: a card for a damaged database, the app password, an operator key kept to its host."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib import constants as C
from lib import ui
from tests.pages.test_app import job_finished
from tests.support import ROOT
from tests.support.damaged_db import GARBAGE, damaged
from tests.support.wait_until import wait_until

APP = str(ROOT / "streamlit_app.py")


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
    wait_until(job_finished(at), timeout=20, interval=0.1, message="the generation did not finish")
    card = " ".join(e.value for e in at.error)
    assert "invalid_input" in card and "Checklist step 1" in card
    row = ui.get_store().recent_attempts()[0]
    assert row["error_type"] == "invalid_input" and "belongs to" in row["error_message"]
    ui.get_store.clear()
