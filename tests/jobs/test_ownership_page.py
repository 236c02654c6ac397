"""Whose run it is, on the Generate page: a shared link lets a teammate watch, only the session that
started a generation may cancel it (or, with an app password, a signed-in teammate who confirms), and
Recent generations lists this session's runs only. A run that cannot even be written is a card, not a crash."""

from __future__ import annotations

import pytest

from lib import constants as C
from lib import ui
from lib.errors import LOCAL_WRITE_TITLE
from lib.ui.generate import OWNER_KEY
from tests.support.apptest import all_rendered_text, generate, wait_for_job
from tests.support.damaged_db import allow_run_writes, refuse_run_writes

PASSWORD = "correct horse battery staple"


def start_slow(at, prompt: str = "a slow one"):
    """Start a generation that waits for the provider until it is cancelled; return its job."""
    at.sidebar.selectbox(key="sandbox_scenario").set_value("timeout").run()
    at.sidebar.number_input(key="read_timeout").set_value(120.0).run()
    at.text_area(key="prompt").set_value(prompt).run()
    at.button(key="generate").click().run()
    job = at.session_state["generate_job"]
    assert job is not None and not job.done
    return job


def keys(at, kind: str = "button") -> set[str]:
    return {w.key for w in getattr(at, kind) if w.key}


def test_a_teammate_with_the_link_watches_but_cannot_cancel(app, new_app):
    job = start_slow(app)
    try:
        teammate = new_app(query={"run": job.run_id})
        assert teammate.session_state["generate_job"] is job  # watching the live run
        assert "cancel" not in keys(teammate)
        assert any("only that session can cancel it" in c.value for c in teammate.caption)
        assert not job.done
        app.run()  # the session that started it still may
        app.button(key="cancel").click().run()
        assert job.done and job.status == "cancelled"
        assert ui.get_store().run(job.run_id)["status"] == "cancelled"
    finally:
        job.cancel()


def test_the_run_records_the_session_that_started_it_and_nothing_of_the_key(app):
    generate(app, "whose is it")
    run = ui.get_store().run(app.query_params["run"])
    owner = app.session_state[OWNER_KEY]
    assert run["owner_session"] == owner and len(owner) >= 16
    assert run["cancel_requested_at"] is None


def test_recent_generations_list_only_this_sessions_runs(app, new_app):
    generate(app, "alice draws a heron")
    generate(app, "alice draws a crane")
    bob = new_app()
    bob.sidebar.selectbox(key="sandbox_latency").set_value("none").run()
    assert "Recent generations" not in all_rendered_text(bob)  # nothing of his yet, nothing of hers
    generate(bob, "bob draws a fox")
    generate(bob, "bob draws a hare")
    seen = all_rendered_text(bob)
    assert "bob draws a fox" in seen and "alice" not in seen
    app.run()
    seen = all_rendered_text(app)
    assert "alice draws a heron" in seen and "bob" not in seen


@pytest.fixture
def signed_in(new_app, monkeypatch):
    """Opens a session of the app with a password set, signed in."""
    from lib.ui import gate

    monkeypatch.setenv(C.PASSWORD_ENV, PASSWORD)
    gate.throttle().clear()

    def open_signed_in(query=None):
        at = new_app(query=query)
        at.text_input(key="app_password_input").set_value(PASSWORD)
        at.button[0].click().run()
        assert not at.exception
        return at

    yield open_signed_in
    gate.throttle().clear()


def test_with_an_app_password_a_signed_in_teammate_may_cancel_after_confirming(signed_in):
    owner = signed_in()
    owner.sidebar.selectbox(key="sandbox_latency").set_value("none").run()
    job = start_slow(owner)
    try:
        teammate = signed_in(query={"run": job.run_id})
        assert teammate.session_state["generate_job"] is job
        assert teammate.button(key="cancel").disabled  # not before saying so
        teammate.checkbox(key="cancel_confirm").check().run()
        teammate.button(key="cancel").click().run()
        assert job.done and job.status == "cancelled"
    finally:
        job.cancel()


def test_a_run_that_cannot_be_written_shows_the_local_write_card_and_keeps_the_prompt(app, app_env):
    prompt = "a lighthouse in fog, seen from the sea"
    app.text_area(key="prompt").set_value(prompt).run()
    refuse_run_writes(app_env / C.DB_FILENAME)  # the disk fills up
    app.button(key="generate").click().run()
    assert not app.exception
    assert any(LOCAL_WRITE_TITLE in e.value for e in app.error)
    assert any(str(app_env) in c.value for c in app.get("code"))  # names the data directory
    assert app.text_area(key="prompt").value == prompt
    assert "run" not in app.query_params
    assert "generate_job" not in app.session_state or app.session_state["generate_job"] is None  # nothing queued
    assert not app.button(key="generate").disabled
    allow_run_writes(app_env / C.DB_FILENAME)  # space again: the same form just works
    app.button(key="generate").click().run()
    wait_for_job(app)
    assert app.get("image") and app.query_params["run"]
    assert ui.get_store().run(app.query_params["run"])["prompt"] == prompt


def start_grid_as(owner: str, sandbox) -> tuple[str, object]:
    """A two-cell grid started by the session ``owner``, each cell waiting a minute on the sandbox."""
    from lib import compare as K
    from lib.generation import ClientSettings

    sandbox.configure(latency_s=(60.0, 60.0))
    plan = K.build_plan(prompts="one\ntwo", targets=[K.Target("sandbox", "gpt-image-2")])
    settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url, rate_per_s=100.0, max_retries=0)
    return K.start(ui.get_store(), ui.get_runner().as_owner(owner), plan, lambda pid: settings)


def test_a_teammates_grid_can_be_watched_but_only_its_session_cancels_it(app, new_app, sandbox):
    owner = app.session_state[OWNER_KEY]
    cid, batch = start_grid_as(owner, sandbox)
    try:
        bob = new_app("pages/compare.py", {"comparison": cid})
        assert bob.button(key="compare_cancel").disabled
        assert all(b.disabled for b in bob.button if b.key and b.key.startswith("cancel-"))
        assert any("only that session can cancel its cells" in c.value for c in bob.caption)
        app.switch_page("pages/compare.py")  # the session that started it
        app.query_params["comparison"] = cid
        app.run()
        assert not app.button(key="compare_cancel").disabled
        app.button(key="compare_cancel").click().run()
        assert batch.wait(15) and {j.status for j in batch.jobs} == {"cancelled"}
    finally:
        batch.cancel()
        batch.wait(10)
