"""The History page through AppTest: filters in the URL, the table, attempt detail, re-run, banners."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from lib import ui
from tests.support.apptest import wait_for_job
from tests.support.history_seed import add

PAGE = "pages/history.py"
TRICKY = "A **bold** <b>html</b> fox [link](http://evil.example) :red[red] $x^2$"


@pytest.fixture
def store(app_env):
    """The store the app will use: this test's data directory."""
    return ui.get_store()


@pytest.fixture
def seeded(store):
    now = time.time()
    add(store, at=now - 300, model="gpt-image-2", provider="openai", prompt=TRICKY)
    add(
        store,
        at=now - 200,
        model="gpt-image-1.5",
        provider="wisgate",
        status="failed",
        error_type="rate_limited",
        http_status=429,
        error_message="Rate limit reached for images per minute",
        retry_after_s=2.0,
        raw_response='HTTP 429  application/json\n{"error": {"message": "Rate limit reached for images per minute"}}',
        params={"size": "1536x1024", "quality": "high", "n": 2, "output_format": "webp", "background": "auto", "moderation": "low"},
    )
    add(store, at=now - 100, model="gpt-image-2", provider="openai", status="succeeded", prompt="a paper boat")
    add(store, at=now - 10 * 86400, model="seedream-4-5", provider="evolink", prompt="an old one")
    return store


@pytest.fixture
def history(new_app):
    """Opens the History page on a link with these query parameters."""

    def open_history(params: dict | None = None) -> AppTest:
        return new_app(PAGE, params)

    return open_history


def table(at: AppTest):
    return at.dataframe[0].value


def test_a_permalink_restores_the_filters_and_widgets_narrow_the_table(seeded, history):
    at = history({"since": "7d"})
    assert len(table(at)) == 3
    at = history({"model": "gpt-image-2", "since": "7d"})
    assert list(table(at)["prompt"]) == ["a paper boat", TRICKY]
    assert at.multiselect(key="hist_model").value == ["gpt-image-2"]
    at.multiselect(key="hist_status").set_value(["succeeded"]).run()
    at.text_input(key="hist_q").set_value("boat").run()
    assert list(table(at)["prompt"]) == ["a paper boat"]
    assert dict(at.query_params) == {"model": "gpt-image-2", "status": "succeeded", "q": "boat"}
    at.selectbox(key="hist_since").set_value("all").run()
    at.text_input(key="hist_q").set_value("").run()
    at.multiselect(key="hist_model").set_value([]).run()
    at.multiselect(key="hist_status").set_value([]).run()
    assert len(table(at)) == 4 and dict(at.query_params) == {"since": "all"}


def test_stats_and_charts_follow_the_filter(seeded, history):
    at = history({"provider": "openai"})
    stats = at.dataframe[1].value  # the table, then per model, then per provider
    assert list(stats["model"]) == ["gpt-image-2"] and list(stats["attempts"]) == [2]
    assert list(at.dataframe[2].value["provider"]) == ["openai"]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # timeline, latency and spend per day; no errors for openai, so no error chart
    spend = at.get("vega_lite_chart")[2]
    assert "Estimated spend per day (UTC days)" in str(spend.proto)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Attempts"] == "2" and metrics["Attempt success"] == "100%" and metrics["Run success"] == "100%"
    assert metrics["Cost (estimate)"].startswith("~$")


def test_odd_links_say_what_was_ignored_and_still_show_the_page(seeded, history):
    at = history({"status": "exploded", "page": "-3", "model": "x' OR 1=1 --", "utm_source": "mail"})
    texts = " ".join(t.value for t in at.text)
    assert "status 'exploded' is not one of" in texts and "page '-3' is not a page number" in texts
    assert "Unknown filter 'utm_source' ignored" in texts
    assert len(at.dataframe) == 0 or len(table(at)) == 0  # the odd model matches nothing
    assert any("No attempts match" in i.value for i in at.info)
    at.multiselect(key="hist_model").set_value([]).run()  # a filter change rewrites the link: the notes go
    assert not at.text and dict(at.query_params) == {}
    assert len(table(at)) == 3


def test_attempt_detail_shows_the_error_card_and_the_raw_answer(seeded, history):
    failed = seeded.recent_attempts()[1]
    assert failed["error_type"] == "rate_limited"
    at = history({"attempt": str(failed["id"])})
    assert at.subheader[0].value == f"Attempt #{failed['id']}"
    card = " ".join(e.value for e in at.error)
    assert "rate_limited" in card and "HTTP 429" in card and "Checklist step 5" in card
    codes = [c.value for c in at.code]
    assert any(c.startswith("HTTP 429") and "Rate limit reached" in c for c in codes)  # the raw answer
    assert any(c.startswith("POST http://127.0.0.1:1/v1/images/generations") for c in codes)  # the request
    links = [(link.proto.page, link.proto.label) for link in at.get("page_link")]
    assert any(page.endswith("diagnostics") and "step 5" in label for page, label in links), links  # the card's checklist step


def test_selecting_a_row_opens_the_attempt_and_back_returns_to_the_list(seeded, history):
    at = history({"since": "7d"})
    first_id = int(table(at)["id"].iloc[0])
    at.number_input(key="hist_open_id").set_value(first_id).run()
    assert dict(at.query_params) == {"attempt": str(first_id)}
    assert at.subheader[0].value == f"Attempt #{first_id}"
    at.button(key="history_back").click().run()
    assert dict(at.query_params) == {} and len(table(at)) == 3
    # from a filtered list, back returns to that list and the address bar says so
    at = history({"model": "gpt-image-2", "since": "all"})
    one = int(table(at)["id"].iloc[0])
    at.number_input(key="hist_open_id").set_value(one).run()
    assert dict(at.query_params) == {"attempt": str(one), "model": "gpt-image-2", "since": "all"}
    at.button(key="history_back").click().run()
    assert dict(at.query_params) == {"model": "gpt-image-2", "since": "all"}
    assert list(table(at)["prompt"]) == ["a paper boat", TRICKY]
    assert at.multiselect(key="hist_model").value == ["gpt-image-2"]


def test_unknown_attempt_is_a_clear_message(seeded, history):
    at = history({"attempt": "999999"})
    assert any("no attempt #999999" in w.value for w in at.warning)


def test_a_prompt_with_markdown_or_html_is_shown_literally(seeded, history):
    tricky_id = [r for r in seeded.recent_attempts() if r["prompt"] == TRICKY][0]["id"]
    at = history({"since": "7d"})
    assert TRICKY in list(table(at)["prompt"])
    at = history({"attempt": str(tricky_id)})
    assert TRICKY in [c.value for c in at.code]
    for md in [*at.markdown, *at.caption]:  # never interpreted as Markdown anywhere
        assert "**bold**" not in md.value and "<b>" not in md.value and "evil.example" not in md.value


def test_rerun_prefills_generate_and_the_new_run_points_at_the_attempt(seeded, history):
    failed = [r for r in seeded.recent_attempts() if r["error_type"] == "rate_limited"][0]
    at = history({"attempt": str(failed["id"])})
    at.button(key="rerun").click().run()
    assert not at.exception
    assert at.text_area(key="prompt").value == failed["prompt"]
    assert at.selectbox(key="size_choice").value == "1536x1024"
    assert at.selectbox(key="quality").value == "high"
    assert at.selectbox(key="output_format").value == "webp"
    assert at.number_input(key="n").value == 2
    assert at.selectbox(key="moderation").value == "low"
    assert at.sidebar.selectbox(key="provider").value == "wisgate"
    assert at.sidebar.selectbox(key="model_choice").value == "gpt-image-1.5"
    assert any(f"Re-running attempt #{failed['id']}" in i.value for i in at.info)
    # send it on the sandbox: the run is kind 'rerun' and names the attempt it came from
    at.switch_page("pages/generate.py")  # AppTest keeps running the page it was told, not the one switched to
    at.sidebar.selectbox(key="provider").set_value("sandbox").run()
    at.sidebar.selectbox(key="sandbox_latency").set_value("none").run()
    at.button(key="generate").click().run()
    wait_for_job(at, timeout=40, message="the re-run did not finish")
    assert any(c.value.startswith("Estimated cost: ~$") and "estimate" in c.value for c in at.caption)  # the result card
    runs = list(seeded.db.query("SELECT kind, rerun_of FROM runs ORDER BY created_at DESC LIMIT 1"))
    assert runs == [{"kind": "rerun", "rerun_of": failed["id"]}]
    latest = seeded.recent_attempts()[0]
    assert latest["prompt"] == failed["prompt"] and latest["params"]["quality"] == "high"
    kinds = history({"kind": "rerun"})
    assert len(table(kinds)) == 1


def test_a_bad_rerun_link_leaves_generate_as_it_was(new_app):
    at = new_app(query={"rerun": "12abc"})
    assert any("does not point at a recorded attempt" in w.value for w in at.warning)


def test_alert_banners_on_history_and_generate_link_to_the_cause(store, history, new_app):
    now = time.time()
    add(store, at=now - 60, provider="evolink", status="failed", error_type="quota_exceeded")
    at = history()
    banner = " ".join(e.value for e in at.error)
    assert "Out of quota on evolink" in banner
    # on History itself the alert opens its view in place: the address bar shows it
    at.button(key="alert-open-quota-0").click().run()
    assert dict(at.query_params) == {"provider": "evolink", "error_type": "quota_exceeded", "since": "1h"}
    assert at.multiselect(key="hist_error_type").value == ["quota_exceeded"]
    assert list(table(at)["provider"]) == ["evolink"]
    generate = new_app()
    assert "Out of quota on evolink" in " ".join(e.value for e in generate.error)
    links = [p for p in generate.get("page_link") if "Show these attempts" in p.proto.label]
    assert links and "error_type=quota_exceeded" in links[0].proto.query_string


def test_export_buttons_are_offered(seeded, history):
    at = history()
    keys = {b.key for b in at.get("download_button")}
    assert {"export_csv", "export_json"} <= keys


def caption_text(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_probes_are_hidden_until_the_run_kind_filter_asks_for_them(seeded, history):
    add(seeded, at=time.time() - 50, kind="probe", prompt="probe", status="failed", error_type="auth")
    at = history({"since": "7d"})
    assert len(table(at)) == 3 and "3 attempts match" in caption_text(at)
    at = history({"since": "7d", "kind": ["probe", "generate"]})
    assert len(table(at)) == 4 and "4 attempts match" in caption_text(at)
    at = history({"kind": "probe"})
    assert list(table(at)["prompt"]) == ["probe"] and "1 attempts match" in caption_text(at)


def test_refused_attempts_count_in_no_rate_and_runs_beside_attempts(store, history):
    now = time.time()
    add(store, at=now - 90, status="failed", error_type="invalid_input", latency_ms=None, prompt="refused")
    run = store.start_run(kind="generate", label="hops", settings={})
    add(store, at=now - 80, run_id=run, status="failed", error_type="server_error", latency_ms=900)
    add(store, at=now - 79, run_id=run, attempt_no=2, status="succeeded", latency_ms=12_000)
    add(store, at=now - 70, status="failed", error_type="timeout", latency_ms=120_000)
    at = history()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Attempts"] == "4"
    assert metrics["Attempt success"] == "33%"  # 1 of the 3 sent attempts
    assert metrics["Run success"] == "50%"  # 1 of the 2 runs that reached the provider
    per_model = at.dataframe[1].value
    assert list(per_model["refused before sending"]) == [1]


def test_wait_is_shown_beside_latency_and_unknown_waits_are_a_dash(store, history):
    now = time.time()
    old = add(store, at=now - 60, latency_ms=8_000)
    new = add(store, at=now - 30, latency_ms=9_000, wait_ms=4_200)
    at = history()
    rows = table(at)
    waits = dict(zip(rows["id"], rows["wait (s)"], strict=True))
    assert waits == {new: "4.2", old: "—"}
    assert "None" not in list(rows["image"])
    at = history({"attempt": str(new)})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Latency"] == "9.0 s" and metrics["Wait"] == "4.2 s"
    at = history({"attempt": str(old)})
    assert {m.label: m.value for m in at.metric}["Wait"] == "—"


def test_an_export_past_its_cap_says_so_on_the_page(seeded, history, monkeypatch):
    from lib import constants as C

    monkeypatch.setattr(C, "HISTORY_EXPORT_MAX_ROWS", 2)
    at = history()
    assert any("Cut at 2 rows" in w.value for w in at.warning)
    monkeypatch.setattr(C, "HISTORY_EXPORT_MAX_ROWS", 3)
    at = history()
    assert not any("Cut at" in w.value for w in at.warning)
