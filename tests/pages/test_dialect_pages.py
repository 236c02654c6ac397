"""Generate and Compare through a gateway dialect (the README's worked file, against the sandbox's task API),
chosen in the sidebar for the Custom provider; a broken file is named with its line and nothing is sent."""

from __future__ import annotations

import json

import pytest

from lib import compare as K
from lib import ui
from lib.dialects import parse_dialect
from tests.support.apptest import error_card_text, generate
from tests.support.dialect_support import README_DIALECT_NAME, custom_on_sandbox, install_readme_dialect
from tests.support.wait_until import wait_until


@pytest.fixture
def custom(app_env, new_app, sandbox):
    """The app with the README's dialect file in its data directory, the Custom provider at the sandbox's address."""
    return custom_on_sandbox(app_env, new_app, sandbox)


def test_the_sidebar_offers_the_files_dialects_and_keeps_the_choice(custom):
    box = custom.sidebar.selectbox(key="gateway_dialect__custom")
    assert box.options == ["OpenAI-compatible (no dialect file)", README_DIALECT_NAME]
    box.set_value(README_DIALECT_NAME).run()
    assert any(
        "requests go to" in c.value and "/api/v1/jobs/createTask" in c.value and "recordInfo?taskId=" in c.value
        for c in custom.sidebar.caption
    )
    custom.switch_page("pages/history.py").run()
    custom.switch_page("pages/generate.py").run()
    assert custom.sidebar.selectbox(key="gateway_dialect__custom").value == README_DIALECT_NAME


def test_streaming_is_not_offered_through_a_dialect(custom):
    assert not custom.toggle(key="stream").disabled  # OpenAI-compatible: gpt-image-2 streams
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    assert custom.toggle(key="stream").disabled
    assert any("without streaming" in c.value for c in custom.caption)


def test_generate_through_the_dialect(custom, sandbox):
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    before = sandbox.sandbox.requests
    at = generate(custom, "a paper boat on a pond")
    assert not at.error, error_card_text(at)
    assert len(at.get("image")) >= 1
    assert sandbox.sandbox.requests == before + 1
    attempts = ui.get_store().recent_attempts()
    assert attempts[0]["url"].endswith("/api/v1/jobs/createTask") and attempts[0]["status"] == "succeeded"


def test_a_broken_dialect_file_is_refused_with_its_line(custom, sandbox):
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    custom.path.write_text(custom.path.read_text().replace("[poll.answer]", "[poll.answr]"))
    custom.run()
    shown = [e.value.replace("\\", "") for e in custom.sidebar.error]  # Markdown escapes taken out
    assert any(f"{custom.path}: line 19: 'poll.answr' is not a dialect setting (did you mean 'answer'?)" in t for t in shown), shown
    before = sandbox.sandbox.requests
    at = generate(custom, "a paper boat on a pond")
    card = error_card_text(at).replace("\\", "")
    assert f"{custom.path}: line 19" in card and "poll.answr" in card
    assert sandbox.sandbox.requests == before


def test_compare_through_the_dialect(custom):
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    at = custom
    at.switch_page("pages/compare.py").run()
    at.text_area(key="compare_prompts").set_value("a red fox\nan owl").run()
    at.multiselect(key="compare_targets").set_value(["gpt-image-2 @ Custom"]).run()
    at.button(key="compare_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (cid,) = [at.query_params["comparison"]] if isinstance(at.query_params["comparison"], str) else at.query_params["comparison"]
    done = wait_until(
        lambda: (v := K.load(ui.get_store(), cid)) is not None and v.cells and not v.running and v,
        timeout=40,
        message="the grid through the dialect did not finish",
    )
    assert done.status == "done" and all(c.ok for c in done.cells.values())
    at.run()
    assert len(at.get("image")) == 2


POLL_ANSWER = (
    '{"code": 200, "msg": "success", "data": {"taskId": "t-1", "state": "success", '
    '"resultJson": "{\\"resultUrls\\": [\\"https://cdn.example.com/a.png\\"]}", "failMsg": null}}'
)


def test_diagnostics_names_the_dialect_and_describes_a_pasted_answer(custom):
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    at = custom
    at.switch_page("pages/diagnostics.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(t.value for t in at.text)
    assert "gateway dialect: sandbox jobs" in shown and "Gateway dialect in use: sandbox jobs" in shown
    at.text_area(key="diag_describe_answer").set_value(POLL_ANSWER).run()
    shown = " ".join(t.value for t in at.text)
    assert "task id: data.taskId" in shown and "status: data.state" in shown and "results: data.resultJson.$json.resultUrls" in shown
    assert "status 'success' at data.state (done)" in shown and "Results at data.resultJson.$json.resultUrls: 1 image(s)." in shown
    (starting,) = [c.value for c in at.code if "[poll.answer]" in c.value]
    assert 'task_id = "data.taskId"' in starting and 'done = ["success"]' in starting
    assert parse_dialect(starting).read_poll(json.loads(POLL_ANSWER)).state == "done"  # the file reads the answer it came from
    at.text_area(key="diag_describe_answer").set_value("<html>nope</html>").run()
    assert any("not JSON" in w.value for w in at.warning)


def test_a_reload_finds_the_dialect_chosen(app_env, new_app, sandbox, monkeypatch):
    from lib.ui import place

    monkeypatch.setattr(place, "_cookie_token", lambda: "mine-" + "d" * 30)  # the same browser, session after session
    install_readme_dialect(app_env)
    at = new_app()
    at.sidebar.selectbox(key="provider").set_value("custom").run()
    at.sidebar.text_input(key="base_url__custom").set_value(sandbox.base_url).run()
    at.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    again = new_app()  # a reload: a new session
    assert again.sidebar.selectbox(key="provider").value == "custom"
    assert again.sidebar.selectbox(key="gateway_dialect__custom").value == README_DIALECT_NAME
