"""Provider and user text is data, never markup; the key never reaches the page.

The app runs in AppTest against the hostile provider over loopback. Every
Markdown-rendering element (markdown, captions, alerts, metrics, labels, help)
must hold the hostile markup only in escaped form; text and code elements show
it literally. No 8-character run of the key, in any case, is rendered.
"""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from lib import ui
from tests.support import apptest
from tests.support.apptest import elements
from tests.support.hostile_probes import probes
from tests.support.hostile_provider import MARKUP, MARKUP_MARKERS, HostileProvider

KEY = "sk-apptest-" + "Hq7" * 12 + "Lm2P"
LITERAL_TYPES = {"text", "code", "json", "arrow_data_frame", "dataframe", "text_input", "text_area"}  # dataframe cells are plain text
_UNESCAPED = [re.compile(r"(?<!\\)" + re.escape(m)) for m in MARKUP_MARKERS]


@pytest.fixture
def app(new_app, hostile):
    """The Generate page on a Custom provider with a typed key: one attempt, no fallback."""
    at = new_app()
    at.sidebar.selectbox(key="provider").set_value("custom").run()
    at.sidebar.text_input(key="typed_key__custom").set_value(KEY).run()
    at.sidebar.checkbox(key="use_fallback").uncheck().run()
    at.sidebar.number_input(key="max_retries").set_value(0).run()
    return at


def generate(at: AppTest, hostile: HostileProvider, probe: str, prompt: str) -> AppTest:
    at.sidebar.text_input(key="base_url__custom").set_value(hostile.base_url(probe)).run()
    return apptest.generate(at, prompt)


def assert_markup_is_inert(at: AppTest) -> None:
    shown_literally = False
    for kind, text in elements(at):
        if kind in LITERAL_TYPES:
            shown_literally |= "![x](" in text
            continue
        for pattern in _UNESCAPED:
            assert not pattern.search(text), f"{kind} renders provider/user markup: {pattern.pattern} in {text[:300]}"
    assert shown_literally or any("\\\\[x\\\\]" in t for _, t in elements(at)), "the hostile text should still be shown"


def assert_no_key(at: AppTest) -> None:
    low = KEY.lower()
    fragments = {low[i : i + 8] for i in range(len(low) - 7)}
    for kind, text in elements(at):
        if kind == "text_input":  # the key's own (password) field
            continue
        found = [f for f in fragments if f in text.lower()]
        assert not found, f"a fragment of the key is rendered in a {kind}: {found[:3]}"


def test_error_card_fields_render_literally(app, hostile):
    generate(app, hostile, "md_error", f"a prompt with {MARKUP}")
    card = " ".join(e.value for e in app.error)
    assert "bad_request" in card
    assert_markup_is_inert(app)
    assert_no_key(app)


def test_result_card_and_history_list_render_literally(app, hostile):
    app.sidebar.selectbox(key="model_choice").set_value("Other...").run()
    app.sidebar.text_input(key="model_custom").set_value("gpt-image-2 :red[x] `m`").run()
    generate(app, hostile, "md_usage", f"first {MARKUP}")
    assert len(app.get("image")) == 1
    assert any(MARKUP in t.value for t in app.get("text")), "the revised prompt is shown as plain text"
    generate(app, hostile, "md_usage", f"second {MARKUP}")  # the first one moves to the session list
    assert_markup_is_inert(app)
    assert_no_key(app)


def test_events_of_a_task_render_literally(app, hostile):
    generate(app, hostile, "md_task", "a task")
    assert_markup_is_inert(app)
    assert_no_key(app)


@pytest.mark.parametrize("probe", probes(echoes_key=True))
def test_no_key_fragment_is_rendered_whatever_the_provider_echoes(app, hostile, probe):
    generate(app, hostile, probe, f"probe {probe}")
    assert_no_key(app)


def test_history_attempt_detail_renders_literally(app, hostile):
    app.sidebar.selectbox(key="model_choice").set_value("Other...").run()
    app.sidebar.text_input(key="model_custom").set_value("gpt-image-2 :red[x] `m`").run()
    generate(app, hostile, "md_error", f"history {MARKUP}")
    attempt_id = ui.get_store().recent_attempts()[0]["id"]
    app.query_params["attempt"] = str(attempt_id)
    app.switch_page("pages/history.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("bad_request" in e.value for e in app.error)
    assert_markup_is_inert(app)
    assert_no_key(app)
