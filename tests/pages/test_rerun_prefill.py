"""A re-run link fills Generate with where the attempt was sent: provider, Custom base URL and model (never a key)."""

from __future__ import annotations

import time

from lib import ui
from tests.support.history_seed import add


def _attempt(store, *, provider: str, base_url: str | None, model: str, url: str | None = None) -> int:
    settings = {"provider": provider, "base_url": base_url} if base_url is not None else {}
    run_id = store.start_run(kind="generate", label="a kite", settings=settings)
    aid = add(store, at=time.time() - 60, provider=provider, model=model, prompt="a kite over dunes", run_id=run_id)
    if url is not None:
        store.db.execute("UPDATE attempts SET url = ? WHERE id = ?", [url, aid])  # an attempt written before settings were kept
    return aid


def test_a_rerun_restores_the_custom_base_url_and_model(app_env, new_app):
    store = ui.get_store()
    aid = _attempt(store, provider="custom", base_url="https://gateway.example.com/openai/v1", model="my-gateway-model")
    at = new_app(query={"rerun": str(aid)})
    assert at.sidebar.selectbox(key="provider").value == "custom"
    assert at.sidebar.text_input(key="base_url__custom").value == "https://gateway.example.com/openai/v1"
    assert at.sidebar.selectbox(key="model_choice").value == "Other..."
    assert at.sidebar.text_input(key="model_custom").value == "my-gateway-model"
    assert at.sidebar.text_input(key="typed_key__custom").value == ""  # the key is never restored
    assert any("`https://gateway.example.com/openai/v1/images/generations`" in c.value for c in at.sidebar.caption)
    assert any("base URL" in i.value for i in at.info)


def test_a_rerun_of_an_openai_attempt_on_another_host_keeps_that_host(app_env, new_app):
    store = ui.get_store()
    aid = _attempt(store, provider="openai", base_url="https://eu.api.openai.com/v1", model="gpt-image-1.5")
    at = new_app(query={"rerun": str(aid)})
    assert at.sidebar.selectbox(key="provider").value == "openai"
    assert at.sidebar.text_input(key="base_url__openai").value == "https://eu.api.openai.com/v1"
    assert at.sidebar.selectbox(key="model_choice").value == "gpt-image-1.5"


def test_without_stored_settings_the_attempts_url_gives_the_base(app_env, new_app):
    store = ui.get_store()
    aid = _attempt(store, provider="wisgate", base_url=None, model="gpt-image-2", url="https://proxy.example.net/v1/images/generations")
    at = new_app(query={"rerun": str(aid)})
    assert at.sidebar.text_input(key="base_url__wisgate").value == "https://proxy.example.net/v1"


def test_a_base_url_stored_masked_is_not_restored_and_says_so(app_env, new_app):
    store = ui.get_store()
    aid = _attempt(store, provider="custom", base_url="https://alice:hunter2@gw.example.com/v1", model="gpt-image-2")
    at = new_app(query={"rerun": str(aid)})
    assert at.sidebar.text_input(key="base_url__custom").value == ""
    assert any("Not restored: base URL" in i.value for i in at.info)
    assert not any("hunter2" in i.value for i in at.info)
