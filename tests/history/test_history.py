"""lib/history.py: permalinks (query parameters) round trip, odd URLs, filters, stats, charts, exports, detail."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib import constants as C
from lib import history as H
from lib import redact
from lib.client import ImageClient
from lib.errors import ERROR_TYPES
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import ATTEMPT_STATUSES, RUN_KINDS, AttemptFilter, Store
from lib.ui import charts
from tests.support.history_seed import add

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path):
    return Store(data_dir=tmp_path / "data")


# --------------------------------------------------------------------------
# Query parameters


VIEWS = [
    H.HistoryView(),
    H.HistoryView(since="1h", models=["gpt-image-2"], error_types=["rate_limited"]),
    H.HistoryView(since="30d", providers=["openai", "wisgate"], statuses=["failed", "cancelled"], kinds=["rerun", "probe"]),
    H.HistoryView(since="custom", date_from="2026-11-01", date_to="2026-11-07T12:30", text="paper boat", page=3, chart_by="error_type"),
    H.HistoryView(since="all", models=["seedream-4-5"], attempt=42),
]


@pytest.mark.parametrize("view", VIEWS)
def test_every_filter_round_trips_through_the_url(view):
    params = H.params_from_view(view)
    parsed = H.parse_view(params)
    assert parsed.problems == []
    assert parsed.view == view
    # and through a real query string with repeated keys
    from urllib.parse import parse_qs

    again = H.parse_view(parse_qs(H.query_string(params)))
    assert again.view == view and again.problems == []


def test_the_documented_permalink():
    parsed = H.parse_view({"model": "gpt-image-2", "error_type": "rate_limited", "since": "7d"})
    assert parsed.problems == []
    flt = parsed.view.to_filter(NOW)
    assert flt.models == ["gpt-image-2"] and flt.error_types == ["rate_limited"]
    assert flt.since == NOW - 7 * 86400 and flt.until is None
    assert H.params_from_view(parsed.view) == {"model": "gpt-image-2", "error_type": "rate_limited"}  # 7d is the default


def test_commas_and_repeated_keys_both_give_several_values():
    a = H.parse_view({"status": "failed,interrupted"}).view
    b = H.parse_view({"status": ["failed", "interrupted", "failed"]}).view
    assert a.statuses == b.statuses == ["failed", "interrupted"]


@given(
    since=st.sampled_from(["1h", "24h", "7d", "30d", "all"]),
    statuses=st.lists(st.sampled_from(ATTEMPT_STATUSES), unique=True, max_size=3),
    errors=st.lists(st.sampled_from(ERROR_TYPES), unique=True, max_size=3),
    kinds=st.lists(st.sampled_from(RUN_KINDS), unique=True, max_size=2),
    models=st.lists(
        st.text(
            st.characters(min_codepoint=33, max_codepoint=0x2FFF, blacklist_characters=",", blacklist_categories=("Cc", "Cs", "Zs")),
            min_size=1,
            max_size=20,
        )
        .map(str.strip)
        .filter(bool),
        unique=True,
        max_size=3,
    ),
    text=st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cc", "Cs")), max_size=30).map(str.strip),
    page=st.integers(1, 9999),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_property(since, statuses, errors, kinds, models, text, page):
    view = H.HistoryView(since=since, statuses=statuses, error_types=errors, kinds=kinds, models=models, text=text, page=page)
    parsed = H.parse_view(H.params_from_view(view))
    assert parsed.problems == [] and parsed.view == view


ODD = [
    ({"status": "exploded"}, "status 'exploded' is not one of"),
    ({"error_type": "rate-limited"}, "error_type 'rate-limited' is not one of"),
    ({"kind": "batch"}, "kind 'batch' is not one of"),
    ({"since": "3 weeks"}, "since '3 weeks' is not one of"),
    ({"page": "-1"}, "page '-1' is not a page number"),
    ({"page": "1e9"}, "page '1e9' is not a page number"),
    ({"page": "2", "since": ["1h", "24h"]}, "since was given 2 times"),
    ({"attempt": "12 OR 1=1"}, "attempt '12 OR 1=1' is not an attempt number"),
    ({"from": "yesterday"}, "from 'yesterday' is not a date"),
    ({"since": "custom", "from": "2026-11-05", "to": "2026-11-01"}, "ends before it starts"),
    ({"utm_source": "mail"}, "Unknown filter 'utm_source' ignored"),
    ({"model": "x" * 500}, "is not a usable value"),
    ({"provider": "open\x00ai"}, "is not a usable value"),
    ({"by": "colour"}, "by 'colour' is not one of"),
    ({"q": "fox\nbox"}, "cleaned of control characters"),
]


@pytest.mark.parametrize("params, message", ODD)
def test_odd_urls_give_a_clear_message_and_a_usable_view(params, message, store):
    parsed = H.parse_view(params)
    assert any(message in p for p in parsed.problems), parsed.problems
    flt = parsed.view.to_filter(NOW)
    store.recent_attempts(flt)  # the query still runs
    assert parsed.view.page >= 1


def test_injection_attempts_are_plain_values(store):
    add(store, at=NOW - 60, prompt="a red fox")
    evil = "gpt-image-2' OR '1'='1"
    parsed = H.parse_view({"model": evil, "q": "%' OR 1=1 --", "provider": "<script>alert(1)</script>", "since": "all"})
    assert parsed.problems == []
    assert parsed.view.models == [evil]
    assert store.count_attempts(parsed.view.to_filter(NOW)) == 0
    assert store.count_attempts(AttemptFilter()) == 1  # nothing dropped


def test_streamlit_own_parameters_are_ignored_silently():
    assert H.parse_view({"embed": "true", "embed_options": "dark_theme"}).problems == []


def test_custom_range_with_a_date_only_end_includes_that_day():
    view = H.parse_view({"from": "2026-11-01", "to": "2026-11-01"}).view
    assert view.since == "custom"
    since, until = view.time_range(NOW)
    assert until - since == 86400


def test_params_from_filter_round_trip():
    flt = AttemptFilter(
        models=["gpt-image-1"], statuses=["failed"], since=1_763_000_000.0, until=1_763_086_400.0, text="boat", kinds=["compare"]
    )
    back = H.filter_from_params(H.params_from_filter(flt), NOW)
    assert (back.models, back.statuses, back.text, back.kinds, back.since, back.until) == (
        flt.models,
        flt.statuses,
        flt.text,
        flt.kinds,
        flt.since,
        flt.until,
    )
    everything = H.filter_from_params(H.params_from_filter(AttemptFilter()), NOW)
    assert everything.since is None and everything.until is None


# --------------------------------------------------------------------------
# Filters, stats and charts over a seeded store


@pytest.fixture
def seeded(store):
    add(store, at=NOW - 120, model="gpt-image-2", provider="openai", latency_ms=10_000, prompt="A **bold** fox")
    add(store, at=NOW - 110, model="gpt-image-2", provider="openai", latency_ms=30_000, images=2)
    add(store, at=NOW - 100, model="gpt-image-2", provider="openai", status="failed", error_type="rate_limited", latency_ms=500)
    add(store, at=NOW - 90, model="gpt-image-1.5", provider="wisgate", status="failed", error_type="timeout", latency_ms=180_000)
    add(store, at=NOW - 80, model="gpt-image-1.5", provider="wisgate", status="cancelled", latency_ms=3000)
    add(store, at=NOW - 70, model="gpt-image-2", provider="openai", kind="probe", latency_ms=900, prompt="probe")
    add(store, at=NOW - 3 * 86400, model="seedream-4-5", provider="evolink", kind="rerun", latency_ms=60_000, prompt="old paper boat")
    add(store, at=NOW - 40 * 86400, model="gpt-image-2", provider="openai", prompt="ancient")
    return store


def count(store, **params):
    return store.count_attempts(H.parse_view(params).view.to_filter(NOW))


def test_filters_narrow_the_table(seeded):
    assert count(seeded, since="all") == 7  # the probe is hidden
    assert count(seeded) == 6  # 7 days by default
    assert count(seeded, since="1h") == 5
    assert count(seeded, since="1h", provider="openai") == 3
    assert count(seeded, since="1h", model="gpt-image-1.5", status="cancelled") == 1
    assert count(seeded, error_type="rate_limited") == 1
    assert count(seeded, kind="probe") == 1
    assert count(seeded, kind=["probe", "generate"], since="1h") == 6
    assert count(seeded, kind="rerun") == 1
    assert count(seeded, q="PAPER") == 1
    assert count(seeded, since="custom", **{"from": "2026-01-01"}) >= 6


def test_the_list_its_count_and_the_export_show_the_same_attempts(seeded):
    for view in (
        H.HistoryView(since="all"),
        H.HistoryView(since="all", kinds=["probe"]),
        H.HistoryView(since="1h", kinds=["generate", "probe"]),
    ):
        flt = view.to_filter(NOW)
        rows, total = H.table_page(seeded, flt, page=1)
        exported = H.export(seeded, flt)
        assert total == len(rows) == len(exported.rows)
        assert {r["id"] for r in rows} == {r["id"] for r in exported.rows}
        assert ("probe" in view.kinds) == any(r["kind"] == "probe" for r in exported.rows)


def test_group_stats_per_model_and_provider(seeded):
    view = H.HistoryView(since="7d")
    models = {g["model"]: g for g in H.group_stats(seeded, view.stats_filter(NOW), "model")}
    g2 = models["gpt-image-2"]
    assert g2["attempts"] == 3  # the probe is left out
    assert g2["success_rate"] == pytest.approx(2 / 3)
    assert g2["error_rates"] == {"rate_limited": pytest.approx(1 / 3)}
    assert (g2["p50_ms"], g2["p95_ms"]) == (10_000, 30_000)
    assert g2["images"] == 3
    assert g2["cost_usd"] == pytest.approx(3 * 0.006)  # size_quality: 1024x1024 low
    assert g2["cost_per_image"] == pytest.approx(0.006)
    g15 = models["gpt-image-1.5"]
    assert g15["cancelled"] == 1 and g15["finished"] == 1  # cancelled counts in no rate
    assert g15["error_rates"] == {"timeout": 1.0} and g15["success_rate"] == 0
    providers = {g["provider"]: g for g in H.group_stats(seeded, view.stats_filter(NOW), "provider")}
    assert set(providers) == {"openai", "wisgate", "evolink"}
    assert providers["evolink"]["success_rate"] == 1.0
    with_probes = H.HistoryView(kinds=["probe"]).stats_filter(NOW)
    assert H.group_stats(seeded, with_probes, "model")[0]["attempts"] == 1
    rows = H.stats_table(H.group_stats(seeded, view.stats_filter(NOW), "provider"), "provider")
    assert {
        "provider",
        "attempts",
        "refused before sending",
        "attempt success",
        "p50 (s)",
        "p95 (s)",
        "errors (of finished)",
        "images",
        "cost (est.)",
        "per image (est.)",
    } == set(rows[0])
    total = H.totals(list(providers.values()))
    assert total["attempts"] == 6 and total["images"] == 4


def test_chart_queries_follow_the_filter(seeded):
    flt = H.HistoryView(since="1h").stats_filter(NOW)
    rows, bucket = H.timeline(seeded, flt, by="status", now=NOW)
    assert bucket == 300
    assert sum(r["n"] for r in rows) == 5
    err_rows, _ = H.timeline(seeded, flt, by="error_type", now=NOW)
    assert {r["key"] for r in err_rows} == {"rate_limited", "timeout"}
    bins, width = H.latency_bins(seeded, flt, read_timeout_s=180)
    assert width == 6.0
    assert sum(b["n"] for b in bins) == 4  # succeeded + failed; cancelled left out
    assert max(b["latency_s"] for b in bins) == 180.0
    errors = H.errors_by_provider(seeded, flt)
    assert sorted((e["provider"], e["error_type"]) for e in errors) == [("openai", "rate_limited"), ("wisgate", "timeout")]
    # the Altair specs build and carry the read timeout rule
    assert charts.timeline_chart(rows, by="status", bucket_s=bucket).to_dict()
    spec = json.dumps(charts.latency_chart(bins, width_s=width, read_timeout_s=180).to_dict())
    assert "read timeout" in spec and "180" in spec
    assert charts.errors_chart(errors).to_dict()


def test_bucket_sizes_follow_the_span():
    assert H.bucket_seconds(3600) == 300
    assert H.bucket_seconds(86400) == 3600
    assert H.bucket_seconds(7 * 86400) == 6 * 3600
    assert H.bucket_seconds(30 * 86400) == 86400


def test_table_page_is_newest_first_and_clamped(seeded):
    rows, total = H.table_page(seeded, H.HistoryView(since="all").to_filter(NOW), page=1, page_size=3)
    assert total == 7 and len(rows) == 3  # the probe is hidden
    assert [r["status"] for r in rows] == ["cancelled", "failed", "failed"]
    assert rows[0]["time (UTC)"] < "2030" and rows[0]["cost (est.)"] is not None
    last, _ = H.table_page(seeded, H.HistoryView(since="all").to_filter(NOW), page=99, page_size=3)
    assert [r["prompt"] for r in last] == ["ancient"]


# --------------------------------------------------------------------------
# Export


def test_export_never_holds_the_key_and_quotes_formulas(store):
    key = "sk-proj-" + "Q7x" * 15
    redact.register(key)
    add(
        store,
        at=NOW,
        prompt=f"=HYPERLINK('x') and my key {key}",
        status="failed",
        error_type="auth",
        error_message=f"Incorrect API key provided: {key}",
    )
    store.db.execute("UPDATE attempts SET key_hint = ?, url = ?", [key[-4:], "https://h.example/v1/images/generations?token=abc123"])
    rows = H.export_rows(store, AttemptFilter())
    text_json, text_csv = H.to_json(rows), H.to_csv(rows)
    for text in (text_json, text_csv):
        assert key not in text and key[8:30] not in text
        assert "abc123" not in text
    assert "key_hint" not in text_json and "key_hint" not in text_csv
    parsed = list(csv.DictReader(io.StringIO(text_csv)))
    assert parsed[0]["prompt"].startswith("'=")
    assert json.loads(text_json)["attempts"][0]["error_type"] == "auth"
    assert json.loads(text_json)["format"] == "imagelab-attempts/1"


# --------------------------------------------------------------------------
# One attempt, from a real exchange with the sandbox


# Registered for redaction for the rest of the process (ClientSettings does it): no repeated
# characters, or a flat-colour image elsewhere in the suite could look like it.
TEST_KEY = "sk-test-H1st0ryQ7mLz3Vp9Xc2Nw5Rb8Ty4Ud6Kf0Sg"


def client_for(sandbox, store, **kw) -> ImageClient:
    s = ClientSettings(provider="sandbox", base_url=sandbox.base_url, read_timeout_s=2, api_key=TEST_KEY, max_retries=1, **kw)
    return ImageClient(settings=s, recorder=store, keeper=store.keeper, limiter=ProviderLimiter(rate_per_s=1000, burst=1000))


def test_attempt_detail_has_request_raw_answer_images_and_the_run(sandbox, store):
    with client_for(sandbox, store, fallbacks=("gpt-image-1.5",)) as client:
        outcome = client.generate(GenerationRequest(prompt="a lighthouse #fallback", model="gpt-image-2", size="1024x1024", quality="low"))
    assert outcome.ok and len(outcome.attempts) == 2
    last = outcome.attempts[-1].attempt_id
    detail = H.attempt_detail(store, last)
    a = detail["attempt"]
    assert a["status"] == "succeeded" and a["cost_usd"] is not None and a["cost_basis"] == "usage"
    assert "<base64," in detail["raw_response"] and len(detail["raw_response"]) < 5000
    assert detail["request"]["url"].endswith("/images/generations")
    assert detail["request"]["headers"]["Authorization"] == f"Bearer {redact.MASK}{TEST_KEY[-4:]}"
    assert detail["request"]["body"]["model"] == "gpt-image-1.5" and detail["request"]["body"]["quality"] == "low"
    assert [s["model"] for s in detail["siblings"]] == ["gpt-image-2", "gpt-image-1.5"]
    assert a["images"][0]["abs_path"].endswith(".png")
    first = H.attempt_detail(store, outcome.attempts[0].attempt_id)
    assert first["error"].error_type == "model_not_found"
    assert first["raw_response"] and "HTTP 404" in first["raw_response"]
    again = H.rerun_request(store, last)
    assert again["request"].prompt == "a lighthouse #fallback" and again["model"] == "gpt-image-1.5" and again["provider"] == "sandbox"
    assert H.attempt_detail(store, 999_999) is None


def test_run_events_are_read_from_the_table(store):
    run = store.start_run(kind="generate", label="x", settings={})
    store.db["run_events"].insert_all(
        [
            {"run_id": run, "seq": 2, "at": 2.0, "elapsed_s": 1.5, "kind": "saved", "message": "Saved", "data": "{}"},
            {"run_id": run, "seq": 1, "at": 1.0, "elapsed_s": 0.1, "kind": "started", "message": "Attempt 1", "data": '{"a": 1}'},
        ]
    )
    events = H.run_events(store, run)
    assert [e["kind"] for e in events] == ["started", "saved"] and events[0]["data"] == {"a": 1}
    assert H.run_events(store, None) == []


def test_request_of_keeps_unknown_params_as_extra():
    req = H.request_of({"prompt": "p", "model": "m", "params": {"size": "2048x1152", "n": "2", "quality": "high", "style": "vivid"}})
    assert (req.size, req.n, req.quality, req.extra) == ("2048x1152", 2, "high", {"style": "vivid"})


def test_run_kind_follows_the_run_by_trigger(store):
    aid = add(store, at=NOW, kind="generate")
    run_id = store.attempt(aid)["run_id"]
    assert store.attempt(aid)["run_kind"] == "generate"
    H.mark_rerun(store, run_id, 7)
    assert store.attempt(aid)["run_kind"] == "rerun"
    assert store.count_attempts(AttemptFilter(kinds=["rerun"])) == 1
    assert store.count_attempts(AttemptFilter(exclude_kinds=["rerun"])) == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ox", 2),
        ("FOX", 2),
        ('say "hi"', 1),
        ("50%", 1),
        ("don't", 1),
        ("renard", 1),
        ("*", 0),
        ("fox OR owl", 0),
    ],
)
def test_text_filter_is_a_plain_substring_match(store, text, expected):
    for prompt in ("a red fox", "A FOX again", 'they say "hi"', "50% off", "don't panic", "le renard rusé"):
        add(store, at=NOW, prompt=prompt)
    assert store.count_attempts(AttemptFilter(text=text)) == expected


def test_timeline_chart_spans_the_range_asked_for(store):
    add(store, at=NOW - 60)
    flt = H.HistoryView(since="24h").stats_filter(NOW)
    rows, bucket = H.timeline(store, flt, now=NOW)
    spec = charts.timeline_chart(rows, by="status", bucket_s=bucket, start=flt.since, end=NOW).to_dict()
    assert spec["encoding"]["x"]["scale"]["domain"][0].startswith(datetime_utc(NOW - 86400)[:13])


def datetime_utc(ts):
    from datetime import datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_binned_percentiles_match_nearest_rank_to_the_resolution(store):
    import math
    import random

    rng = random.Random(3)
    values = [rng.randint(300, 200_000) for _ in range(257)]
    for v in values:
        add(store, at=NOW - 60, latency_ms=v)
    g = H.group_stats(store, H.HistoryView(since="1h").stats_filter(NOW), "model")[0]
    ordered = sorted(values)
    for p, got in ((50, g["p50_ms"]), (95, g["p95_ms"])):
        exact = ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]
        assert exact <= got < exact + C.HISTORY_LATENCY_RESOLUTION_MS and got in values


# --------------------------------------------------------------------------
# What the figures count


def test_refused_attempts_count_apart_and_in_no_rate_chart_or_error_count(store):
    add(store, at=NOW - 60, status="failed", error_type="invalid_input", latency_ms=None, provider="openai")
    add(store, at=NOW - 50, status="failed", error_type="rate_limited", latency_ms=400, provider="openai")
    add(store, at=NOW - 40, status="succeeded", latency_ms=10_000, provider="openai")
    flt = H.HistoryView(since="1h").stats_filter(NOW)
    (g,) = H.group_stats(store, flt, "provider")
    assert (g["attempts"], g["refused"], g["finished"], g["failed"]) == (3, 1, 2, 1)
    assert g["success_rate"] == 0.5 and g["error_rates"] == {"rate_limited": 0.5}
    t = H.totals([g], store.run_outcomes(flt))
    assert (t["refused"], t["success_rate"], t["runs_ended"], t["run_success_rate"]) == (1, 0.5, 2, 0.5)
    rows, _ = H.timeline(store, flt, by="status", now=NOW)
    assert sorted((r["key"], r["n"]) for r in rows) == [("failed", 1), ("refused", 1), ("succeeded", 1)]
    assert [e["error_type"] for e in H.errors_by_provider(store, flt)] == ["rate_limited"]
    bins, _ = H.latency_bins(store, flt, read_timeout_s=180)
    assert sum(b["n"] for b in bins) == 2


def test_run_success_counts_runs_not_attempts(store):
    for _ in range(3):  # three runs that each took a retry and then succeeded
        run = store.start_run(kind="generate", label="r", settings={})
        add(store, at=NOW - 100, run_id=run, status="failed", error_type="server_error")
        add(store, at=NOW - 90, run_id=run, attempt_no=2, status="succeeded")
    failed_run = store.start_run(kind="generate", label="f", settings={})
    add(store, at=NOW - 80, run_id=failed_run, status="failed", error_type="timeout")
    stopped = store.start_run(kind="generate", label="s", settings={})  # a failure, then the user stopped it
    add(store, at=NOW - 70, run_id=stopped, status="failed", error_type="rate_limited")
    add(store, at=NOW - 69, run_id=stopped, attempt_no=2, status="cancelled")
    flt = H.HistoryView(since="1h").stats_filter(NOW)
    t = H.totals(H.group_stats(store, flt, "model"), store.run_outcomes(flt))
    assert (t["succeeded"], t["finished"]) == (3, 8)  # attempt success 38%
    assert (t["runs_succeeded"], t["runs_ended"]) == (3, 4)  # run success 75%: the stopped run is no one's failure
    assert H.percent(t["succeeded"], t["finished"]) == "38%" and H.percent(t["runs_succeeded"], t["runs_ended"]) == "75%"
    assert H.percent(0, 0) == "—"


@pytest.mark.parametrize(
    "view",
    [H.HistoryView(), H.HistoryView(since="all"), H.HistoryView(since="30d")],
    ids=["default", "all time", "30 days"],
)
def test_run_success_reads_its_covering_index_alone(store, view):
    """The views that read every run of a time range (a filter on an indexed column such as a
    model, a status or a kind may search that column's own index instead)."""
    from lib.store.history import run_outcomes_query

    for i in range(30):
        add(store, at=NOW - 60 * i, status="failed" if i % 3 else "succeeded", error_type=None if i % 3 == 0 else "timeout")
    sql, params = run_outcomes_query(view.stats_filter(NOW))
    plan = " | ".join(r[3] for r in store.db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
    assert "COVERING INDEX idx_attempts_run_outcomes" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_run_success_leaves_out_probe_runs_and_refused_attempts(store):
    add(store, at=NOW - 100, status="succeeded")
    add(store, at=NOW - 90, status="failed", error_type="endpoint_not_found", kind="probe")  # Diagnostics' own
    add(store, at=NOW - 80, status="failed", error_type="invalid_input", latency_ms=None)  # never sent
    flt = H.HistoryView(since="1h").stats_filter(NOW)
    assert store.run_outcomes(flt) == (1, 1)
    t = H.totals(H.group_stats(store, flt, "model"), store.run_outcomes(flt))
    assert (t["attempts"], t["finished"], t["refused"]) == (2, 1, 1)
    probes = H.HistoryView(since="1h", kinds=["probe"]).stats_filter(NOW)  # asked for by name, they are counted
    assert store.run_outcomes(probes) == (0, 1)


def test_wait_is_apart_from_latency(store):
    add(store, at=NOW - 60, latency_ms=10_000, wait_ms=50_000)
    add(store, at=NOW - 50, latency_ms=20_000)
    flt = H.HistoryView(since="1h").stats_filter(NOW)
    (g,) = H.group_stats(store, flt, "model")
    assert (g["p50_ms"], g["p95_ms"]) == (10_000, 20_000)  # the wait is in neither
    bins, width = H.latency_bins(store, flt, read_timeout_s=180)
    assert sorted(b["latency_s"] for b in bins) == [(10_000 // (width * 1000)) * width, (20_000 // (width * 1000)) * width]
    rows, _ = H.table_page(store, flt, page=1)
    assert [(r["latency (s)"], r["wait (s)"]) for r in rows] == [(20.0, "—"), (10.0, "50.0")]
    assert H.export_rows(store, flt)[1]["wait_ms"] == 50_000


def test_an_export_cut_at_its_cap_says_so_in_the_file(store):
    for i in range(3):
        add(store, at=NOW - i)
    flt = AttemptFilter()
    cut = H.export(store, flt, limit=2)
    assert cut.cut and len(cut.rows) == 2
    doc = json.loads(H.to_json(cut))
    assert doc["complete"] is False and doc["row_cap"] == 2 and "Cut at 2 rows" in doc["note"] and doc["count"] == 2
    lines = list(csv.reader(io.StringIO(H.to_csv(cut))))
    assert len(lines) == 4 and lines[-1][0].startswith("Cut at 2 rows")
    whole = H.export(store, flt, limit=3)
    assert not whole.cut and json.loads(H.to_json(whole))["complete"] is True
    assert "Cut at" not in H.to_csv(whole) and len(list(csv.reader(io.StringIO(H.to_csv(whole))))) == 4


def test_rows_without_an_image_have_an_empty_image_cell(store):
    add(store, at=NOW - 60, status="failed", error_type="timeout")
    rows, _ = H.table_page(store, AttemptFilter(), page=1)
    assert rows[0]["image"] == ""


def test_each_error_type_keeps_one_colour_and_the_legend_is_whole():
    assert set(charts.ERROR_COLORS) == set(ERROR_TYPES) and len(ERROR_TYPES) == 18
    assert len(set(charts.ERROR_COLORS.values())) == 18
    rows = [{"time": __import__("datetime").datetime.fromtimestamp(NOW, UTC), "key": "timeout", "n": 2}]
    specs = [
        charts.timeline_chart(rows, by="error_type", bucket_s=300).to_dict(),
        charts.errors_chart([{"provider": "openai", "error_type": "rate_limited", "n": 1}]).to_dict(),
    ]
    for spec in specs:
        color = spec["encoding"]["color"]
        assert color["scale"]["domain"] == list(ERROR_TYPES)
        assert color["scale"]["range"] == [charts.ERROR_COLORS[t] for t in ERROR_TYPES]
        assert color["legend"]["values"] == list(ERROR_TYPES)


def test_the_timeline_is_drawn_in_utc(store):
    add(store, at=NOW - 60)
    flt = H.HistoryView(since="24h").stats_filter(NOW)
    rows, bucket = H.timeline(store, flt, now=NOW)
    for spec in (
        charts.timeline_chart(rows, by="status", bucket_s=bucket, start=flt.since, end=NOW).to_dict(),
        charts.timeline_chart(rows, by="status", bucket_s=bucket).to_dict(),
    ):
        assert spec["encoding"]["x"]["scale"]["type"] == "utc"
        assert "UTC" in spec["encoding"]["x"]["title"]
        assert all(d["when"].endswith(" UTC") for d in next(iter(spec["datasets"].values())))
