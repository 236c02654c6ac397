"""The sidebar's one "requests go to" caption and the reference-images text, each right for the route and the
gateway dialect in use."""

from __future__ import annotations

import pytest

from lib import ui
from tests.support.apptest import error_card_text, generate
from tests.support.dialect_support import README_DIALECT_NAME, custom_on_sandbox, install_readme_dialect

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


def _route_captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption if "equests go to" in c.value or "Nothing is sent until" in c.value]


def _references_text(at) -> str:
    return " ".join(c.value for c in at.caption).replace("\\", "")


@pytest.fixture
def custom(app_env, new_app, sandbox):
    return custom_on_sandbox(app_env, new_app, sandbox)


def test_one_caption_names_the_generations_route_without_a_dialect(custom, sandbox):
    (caption,) = _route_captions(custom)
    assert caption == f"Requests go to `{sandbox.base_url}/images/generations`"


def test_with_a_dialect_the_one_caption_names_its_create_and_poll_routes(custom, sandbox):
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    (caption,) = _route_captions(custom)
    assert f"`{sandbox.url}/api/v1/jobs/createTask`" in caption and "recordInfo?taskId={task_id}" in caption
    assert "/images/generations" not in caption


def test_a_broken_dialect_file_says_nothing_is_sent_instead_of_a_route(custom):
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    custom.path.write_text(custom.path.read_text().replace("[poll.answer]", "[poll.answr]"))
    custom.run()
    assert _route_captions(custom) == ["Nothing is sent until the dialect file is fixed (below)."]


def test_references_through_a_dialect_are_said_to_be_refused(custom):
    custom.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    said = _references_text(custom)
    assert f"Through the dialect '{README_DIALECT_NAME}', reference images are refused before sending" in said
    assert "/images/edits" not in said.replace("no /images/edits", "")


@pytest.mark.parametrize(
    ("provider", "expected", "absent"),
    [
        ("evolink", "first uploaded to the provider's file host", "multipart"),
        ("openai", "a multipart .../v1/images/edits", "file host"),
        ("sandbox", "a multipart .../v1/images/edits", "file host"),
    ],
)
def test_the_reference_images_text_follows_the_route(app, provider, expected, absent):
    app.sidebar.selectbox(key="provider").set_value(provider).run()
    said = _references_text(app)
    assert expected in said and absent not in said
    assert "refused before sending" not in said


def test_the_sandbox_box_leads_to_a_dialect_rehearsal_on_its_task_api(app_env, app):
    assert any("task API" in c.value and "dialect file" in c.value for c in app.sidebar.caption)
    app.sidebar.button(key="sandbox_dialect_rehearsal").click().run()
    assert app.sidebar.selectbox(key="provider").value == "custom"
    assert app.sidebar.text_input(key="base_url__custom").value == ui.get_sandbox().url
    assert any("No dialect file yet" in c.value and "dialects" in c.value for c in app.sidebar.caption)
    install_readme_dialect(app_env)
    app.run()
    assert not any("No dialect file yet" in c.value for c in app.sidebar.caption)
    app.sidebar.selectbox(key="gateway_dialect__custom").set_value(README_DIALECT_NAME).run()
    at = generate(app, "a paper boat on a pond")
    assert not at.error, error_card_text(at)
    assert ui.get_store().recent_attempts()[0]["url"] == ui.get_sandbox().url + "/api/v1/jobs/createTask"
