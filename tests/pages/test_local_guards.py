"""The local guards on the pages: a card for a damaged database, the app password, an operator key kept to its host."""

from __future__ import annotations

import pytest

from lib import constants as C
from lib import ui
from lib.ui import gate
from tests.support.apptest import wait_for_job
from tests.support.clock import FakeClock
from tests.support.damaged_db import GARBAGE, damaged


def test_the_app_shows_a_card_naming_the_file(app_env, new_app):
    data = damaged(app_env)
    at = new_app()
    assert any("database cannot be opened" in e.value for e in at.error)
    assert any(str(data / C.DB_FILENAME) in t.value for t in at.get("text"))
    assert not at.button  # no Generate button under a broken database
    assert (data / C.DB_FILENAME).read_bytes() == GARBAGE


@pytest.fixture
def guarded(new_app, monkeypatch):
    """The app with a password set: a new session sees only the password form."""
    monkeypatch.setenv(C.PASSWORD_ENV, "correct horse battery staple")
    clock = FakeClock()
    monkeypatch.setattr(gate.throttle(), "clock", clock)
    gate.throttle().clear()
    yield new_app()
    gate.throttle().clear()


def _try(at, password):
    at.text_input(key="app_password_input").set_value(password)
    at.button[0].click().run()
    return [e.value for e in at.error]


def test_wrong_passwords_lock_out_every_session_of_the_address_for_a_time_it_shows(guarded, new_app):
    at = guarded
    for _ in range(gate.FREE_FAILURES):
        assert _try(at, "wrong") == ["That is not the password."]
    errors = _try(at, "wrong")
    assert errors == ["That is not the password. Too many wrong passwords: try again in 30 s."]
    other = new_app()  # a new browser session from the same address gains nothing
    assert _try(other, "correct horse battery staple") == ["Too many wrong passwords. Try again in 30 s."]
    assert not [t for t in other.text_area if t.key == "prompt"]
    gate.throttle().clock.now += gate.FIRST_LOCKOUT_S  # the legitimate user waits it out
    _try(other, "correct horse battery staple")
    assert other.text_area(key="prompt") is not None


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


def test_without_a_password_the_app_opens(new_app):
    at = new_app()
    assert at.text_area(key="prompt") is not None


def test_the_sidebar_and_the_card_refuse_an_operator_key_for_another_host(new_app, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-" + "Jk2" * 12)
    at = new_app()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    assert not [e for e in at.sidebar.error if "belongs to" in e.value]  # its own host: fine
    at.sidebar.text_input(key="base_url__openai").set_value("https://collector.example.net/v1").run()
    assert any("belongs to" in e.value and "collector.example.net" in e.value for e in at.sidebar.error)
    at.text_area(key="prompt").set_value("steal my key").run()
    at.button(key="generate").click().run()
    wait_for_job(at, timeout=20)
    card = " ".join(e.value for e in at.error)
    assert "invalid_input" in card and "Checklist step 1" in card
    row = ui.get_store().recent_attempts()[0]
    assert row["error_type"] == "invalid_input" and "belongs to" in row["error_message"]
