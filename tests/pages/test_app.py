"""The Generate page, and the app as a whole, through streamlit.testing.v1.AppTest: widgets found by key."""

from __future__ import annotations

import pytest

from lib import ui
from tests.support import ROOT
from tests.support.apptest import all_rendered_text, error_card_text, generate


def test_success_on_the_sandbox_shows_an_image(app):
    generate(app, "a red fox in the snow")
    assert len(app.get("image")) == 1
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Model used"] == "gpt-image-2" and metrics["Attempts"] == "1"
    assert len(app.get("download_button")) == 1
    assert not app.error
    rows = ui.get_store().recent_attempts()
    assert rows[0]["status"] == "succeeded" and rows[0]["prompt"] == "a red fox in the snow"


SCENARIOS = [
    # scenario, expected error_type, checklist text, extra widget settings
    ("auth", "auth", "Checklist step 1: Key", {}),
    ("model_not_found", "model_not_found", "Checklist step 3: Model", {}),
    ("content_policy", "content_policy", "Checklist step 8: Content policy", {}),
    ("timeout", "timeout", "Checklist step 9: Latency", {"read_timeout": 1.0, "max_retries": 0, "use_fallback": False}),
    ("invalid_image", "invalid_image", "Checklist step 7: Decode and keep", {}),
    ("quota_exceeded", "quota_exceeded", "Checklist step 5: Limits", {}),
    ("server_error", "server_error", "Checklist step 2: Endpoint", {"max_retries": 0, "use_fallback": False}),
    ("permission", "permission", "Checklist step 1: Key", {}),
]


@pytest.mark.parametrize("scenario,error_type,step,extra", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_each_scenario_shows_the_right_error_card(app, scenario, error_type, step, extra):
    for key, value in extra.items():
        widget = app.sidebar.checkbox(key=key) if isinstance(value, bool) else app.sidebar.number_input(key=key)
        widget.set_value(value)
    app.sidebar.selectbox(key="sandbox_scenario").set_value(scenario).run()
    generate(app, f"scenario {scenario}")
    card = error_card_text(app)
    assert f"`{error_type}`" in card and step in card
    assert "How to fix it" in " ".join(m.value for m in app.markdown)
    assert not app.get("image")
    row = ui.get_store().recent_attempts()[0]
    assert row["error_type"] == error_type


def test_rate_limited_recovers_after_a_retry(app):
    app.sidebar.selectbox(key="sandbox_scenario").set_value("rate_limited").run()
    generate(app, "retry me please")
    assert len(app.get("image")) == 1
    assert {m.label: m.value for m in app.metric}["Attempts"] == "2"
    events = " ".join(m.value for m in app.markdown)
    assert "Retrying in" in events and "429, Retry-After" in events


def test_fallback_is_shown(app):
    app.sidebar.selectbox(key="sandbox_scenario").set_value("fallback").run()
    generate(app, "fall back please")
    assert {m.label: m.value for m in app.metric}["Model used"] == "gpt-image-1.5"
    assert any("after falling back" in c.value for c in app.caption)


def test_a_typed_key_never_appears_in_any_rendered_element(app):
    key = "sk-typed-" + "Z" * 30 + "9f3q"
    app.sidebar.text_input(key="typed_key__sandbox").set_value(key).run()
    assert any("ends in `9f3q`" in c.value for c in app.sidebar.caption)
    generate(app, "with a key")  # success, inspectors rendered
    app.sidebar.selectbox(key="sandbox_scenario").set_value("auth").run()
    generate(app, "with a rejected key")
    text = all_rendered_text(app, skip_keys={"typed_key__sandbox"})
    import json

    shown = [json.loads(j.proto.body) for j in app.get("json")]
    assert {"Authorization": "Bearer ••••9f3q"}.items() <= shown[0].items()  # the masked header is shown
    assert key not in text and key[:-4] not in text


def test_invalid_input_is_caught_before_sending(app):
    app.sidebar.selectbox(key="model_choice").set_value("Other...").run()
    app.sidebar.text_input(key="model_custom").set_value("gpt-image2").run()
    assert "Did you mean 'gpt-image-2'" in " ".join(e.value for e in app.sidebar.error)
    generate(app, "a typo in the model")
    card = error_card_text(app)
    assert "`invalid_input`" in card and "no HTTP status" in card


def test_button_is_disabled_while_a_generation_runs(app):
    app.sidebar.selectbox(key="sandbox_latency").set_value("5 s").run()
    app.text_area(key="prompt").set_value("slow one").run()
    app.button(key="generate").click().run()
    assert app.button(key="generate").disabled
    assert app.get("status")  # live progress is shown
    app.session_state["generate_job"].wait(20)
    app.run()
    assert not app.button(key="generate").disabled


def test_an_unexpected_exception_becomes_a_card_and_is_recorded(app, monkeypatch):
    """A bug of ours inside an attempt: the attempt is recorded as app_error, the card blames the app."""
    from lib.client import ImageClient

    def explode(self, data, source, source_url):
        raise RuntimeError("boom in a bug")

    monkeypatch.setattr(ImageClient, "_keep", explode)
    generate(app, "trigger a bug")
    assert not app.exception
    card = error_card_text(app)
    assert "`app_error`" in card
    assert "Image Prompt Lab hit an unexpected error" in card  # not "the answer had no usable image"
    assert "bug in the app" in " ".join(m.value for m in app.markdown)
    assert "boom in a bug" in " ".join(c.value for c in app.code)
    row = ui.get_store().recent_attempts()[0]
    assert row["status"] == "failed" and row["error_type"] == "app_error" and row["prompt"] == "trigger a bug"
    assert ui.get_store().count_attempts() == 1  # not retried, no fallback: it would fail the same way


def test_a_bug_outside_any_attempt_finishes_the_run_without_a_made_up_attempt(app, monkeypatch):
    from lib.client import ImageClient

    def explode(self, request, **kw):
        raise RuntimeError("boom before any attempt")

    monkeypatch.setattr(ImageClient, "generate", explode)
    generate(app, "trigger a bug")
    assert not app.exception
    assert "`app_error`" in error_card_text(app)
    store = ui.get_store()
    assert store.count_attempts() == 0
    runs = store.recent_runs()
    assert len(runs) == 1 and runs[0]["status"] == "failed" and runs[0]["error_type"] == "app_error"


def test_recent_generations_come_from_the_store_and_can_be_opened(app):
    generate(app, "first picture")
    first_run = app.query_params["run"]
    generate(app, "second picture")
    assert app.query_params["run"] != first_run
    assert any("first picture" in t.value for t in app.text)  # listed from the store, as plain text
    app.button(key=f"open-{first_run}").click().run()
    assert app.query_params["run"] == first_run
    assert any("first picture" in t.value for t in app.text)
    assert app.get("image")  # the stored run's image is shown again


def test_a_new_session_with_the_link_shows_the_finished_run_from_the_store(app, new_app):
    generate(app, "a link to share")
    run_id = app.query_params["run"]
    fresh = new_app(query={"run": run_id})
    assert "generate_job" not in fresh.session_state or fresh.session_state["generate_job"] is None  # shown, not reattached
    assert {m.label: m.value for m in fresh.metric}["Model used"] == "gpt-image-2"
    assert len(fresh.get("image")) >= 1
    assert any("Done in" in s.proto.label for s in fresh.get("status"))


def test_a_reload_reattaches_to_the_running_job_and_its_session_cancel_stops_it(app, new_app):
    app.sidebar.selectbox(key="sandbox_scenario").set_value("timeout").run()
    app.sidebar.number_input(key="read_timeout").set_value(120.0).run()
    app.text_area(key="prompt").set_value("a slow one").run()
    app.button(key="generate").click().run()
    job = app.session_state["generate_job"]
    run_id = app.query_params["run"]
    assert job is not None and job.run_id == run_id and not job.done
    # A reload: a new session with only the link.
    reloaded = new_app(query={"run": run_id})
    assert reloaded.session_state["generate_job"] is job  # reattached to the same job
    assert reloaded.button(key="generate").disabled
    assert "cancel" not in {b.key for b in reloaded.button}  # a new session watches; the run is the first one's
    app.run()
    app.button(key="cancel").click().run()
    assert job.done and job.status == "cancelled"
    reloaded.run()
    assert not reloaded.button(key="generate").disabled
    assert any("cancelled" in i.value for i in reloaded.info)
    run = ui.get_store().run(run_id)
    assert run["status"] == "cancelled" and run["attempts"][-1]["status"] == "cancelled" and run["attempts"][-1]["error_type"] is None


def test_a_link_to_an_unknown_run_says_so(app):
    app.query_params["run"] = "no-such-run"
    app.run()
    assert not app.exception
    assert any("No generation with this link" in i.value for i in app.info)


def test_the_sandbox_scenario_header_is_sent_only_when_not_healthy(app):
    generate(app, "a plain prompt")
    healthy = ui.get_runner().get(app.query_params["run"]).spec.settings.extra_headers
    assert "X-Sandbox-Scenario" not in healthy and healthy["X-Sandbox-Dialect"] == "b64"
    # With Healthy picked, the prompt's own #tags drive the sandbox (the header no longer wins).
    generate(app, "a prompt that asks #content_policy")
    assert "`content_policy`" in error_card_text(app)
    app.sidebar.selectbox(key="sandbox_scenario").set_value("bad_request").run()
    generate(app, "an ordinary prompt")
    assert ui.get_runner().get(app.query_params["run"]).spec.settings.extra_headers["X-Sandbox-Scenario"] == "bad_request"


def test_preflight_stops_show_what_would_have_been_sent(app):
    app.sidebar.selectbox(key="model_choice").set_value("Other...").run()
    app.sidebar.text_input(key="model_custom").set_value("gpt-image2").run()
    generate(app, "a near miss model")
    assert any("would have been sent" in e.label for e in app.expander)
    card = error_card_text(app)
    assert "invalid_input" in card and "Checklist step 3" in card  # a model problem is step 3, not 6


def _nav_pages() -> list[str]:
    import re

    return re.findall(r'st\.Page\("([^"]+)"', (ROOT / "streamlit_app.py").read_text())


def test_smoke_every_page_runs(app):
    pages = _nav_pages()
    assert pages and all((ROOT / p).is_file() for p in pages)
    on_disk = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")}
    assert on_disk == set(pages), "every page file is in the navigation, and nothing else"
    for page in pages:
        app.switch_page(page).run()
        assert not app.exception, (page, [e.value for e in app.exception])


def test_a_custom_base_url_survives_moving_between_pages(app):
    app.sidebar.selectbox(key="provider").set_value("custom").run()
    app.sidebar.text_input(key="base_url__custom").set_value("https://gateway.example.com/v1").run()
    for page in ("pages/history.py", "pages/compare.py", "pages/generate.py"):
        app.switch_page(page).run()
        assert not app.exception, (page, [e.value for e in app.exception])
        assert app.sidebar.text_input(key="base_url__custom").value == "https://gateway.example.com/v1", page


@pytest.mark.parametrize(
    "where,key,value,words",
    [
        ("main", "n", 11, "Images must be from 1 to 10; 11 is out of range."),
        ("main", "n", 0, "Images must be from 1 to 10; 0 is out of range."),
        ("sidebar", "read_timeout", 0.5, "Read timeout must be from 1 to 900 s; 0.5 is out of range."),
        ("sidebar", "run_deadline", 9000.0, "Run deadline must be from 10 to 7,200 s"),
        ("sidebar", "max_retries", 7, "Retries must be from 0 to 6; 7 is out of range."),
        ("sidebar", "rate_per_s", 0.0, "Rate limit must be from 0.1 to 50 requests/s"),
        ("sidebar", "max_concurrency", 17, "Parallel requests must be from 1 to 16"),
    ],
)
def test_a_number_typed_out_of_range_is_kept_refused_and_not_sent(app, where, key, value, words):
    from lib.ui import get_store

    before = len(get_store().recent_runs(limit=50))
    widgets = app.sidebar if where == "sidebar" else app
    widgets.number_input(key=key).set_value(value).run()
    assert widgets.number_input(key=key).value == value  # what was typed stays, never silently replaced
    errors = " ".join(e.value for e in [*app.error, *app.sidebar.error])
    assert words in errors
    assert app.button(key="generate").disabled
    app.text_area(key="prompt").set_value("a kite").run()
    assert app.button(key="generate").disabled
    assert len(get_store().recent_runs(limit=50)) == before
    valid = {"n": 1, "read_timeout": 120.0, "run_deadline": 600.0, "max_retries": 1, "rate_per_s": 2.0, "max_concurrency": 4}
    widgets.number_input(key=key).set_value(valid[key]).run()
    assert not app.button(key="generate").disabled


def test_a_custom_size_out_of_the_rule_names_the_rule_and_the_nearest_size(app):
    app.selectbox(key="size_choice").set_value("custom").run()
    app.number_input(key="size_w").set_value(512).run()
    app.number_input(key="size_h").set_value(512).run()
    warnings = " ".join(w.value for w in app.warning)
    assert "at least 655,360 pixels" in warnings and "Nearest valid size: 816x816." in warnings
    app.number_input(key="size_w").set_value(4000).run()
    assert "Width must be from 16 to 3,840 px; 4,000 is out of range." in " ".join(e.value for e in app.error)
    assert app.button(key="generate").disabled


def test_dall_e_3_offers_only_its_own_sizes_and_qualities(app):
    app.sidebar.selectbox(key="provider").set_value("wisgate").run()
    app.sidebar.selectbox(key="model_choice").set_value("dall-e-3").run()
    assert app.selectbox(key="size_choice").options == ["1024x1024", "1792x1024", "1024x1792"]
    assert app.selectbox(key="quality").options == ["auto", "standard", "hd"]
    assert any("dall-e-3 does not take size 'auto'" in i.value for i in app.info)
    app.number_input(key="n").set_value(2).run()
    assert any("dall-e-3 @ WisGate makes at most 1 image(s) per request" in w.value for w in app.warning)


def test_evolink_routes_offer_their_own_sizes_and_qualities(app):
    app.sidebar.selectbox(key="provider").set_value("evolink").run()
    app.sidebar.selectbox(key="model_choice").set_value("gpt-image-2").run()
    sizes = app.selectbox(key="size_choice").options
    assert "16:9" in sizes and "21:9" in sizes and "custom" in sizes and "1024x1024" not in sizes
    assert app.selectbox(key="quality").options == ["auto", "low", "medium", "high"]
    assert app.selectbox(key="background").options == ["auto"]  # EvoLink takes no background parameter
    assert not [s for s in app.selectbox if s.key == "resolution"]
    app.selectbox(key="size_choice").set_value("16:9").run()
    app.selectbox(key="resolution").set_value("2K").run()
    assert app.selectbox(key="resolution").options == ["1K", "2K", "4K"]
    assert not [w for w in app.warning if "16:9" in w.value or "resolution" in w.value]
    app.sidebar.selectbox(key="model_choice").set_value("gpt-image-2-beta").run()
    assert app.selectbox(key="quality").options == ["auto"]
    app.number_input(key="n").set_value(2).run()
    assert any("gpt-image-2-beta @ EvoLink makes at most 1 image(s) per request" in w.value for w in app.warning)


@pytest.mark.parametrize(
    "typed,words",
    [
        ("ftp://gateway.example.com/v1", "only http:// and https:// are accepted"),
        ("htp://gateway.example.com/v1", "Did you mean http://?"),
        ("gateway.example.com/v1", "no scheme"),
        ("https://gateway .example.com/v1", "space"),
        ("https://alice:hunter2@gateway.example.com/v1", "user name or password"),
    ],
)
def test_a_malformed_base_url_is_refused_in_the_sidebar(app, typed, words):
    app.sidebar.selectbox(key="provider").set_value("custom").run()
    app.sidebar.text_input(key="base_url__custom").set_value(typed).run()
    errors = " ".join(e.value for e in app.sidebar.error).replace("\u2060", "")  # the Markdown escaper's word joiners
    assert words in errors
    shown = " ".join(e.value for e in [*app.sidebar.error, *app.sidebar.caption, *app.sidebar.warning, *app.markdown])
    assert "hunter2" not in shown
    assert any("(no endpoint yet)" in c.value for c in app.sidebar.caption)
