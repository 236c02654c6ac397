"""History's figures and the alerts count image requests; moderation checks and judge calls
stay in the list, and in spend."""

from __future__ import annotations

import pytest

from lib import constants as C
from lib import history as H
from lib import monitoring as M
from lib.store import Store
from tests.support.history_seed import add

NOW = 1_800_000_000.0
CHECK = {"kind": "moderation", "images": 0}
JUDGE = {"kind": "judge"}


@pytest.fixture
def store(tmp_path):
    return Store(data_dir=tmp_path / "data")


def checked_run(store, at, **image):
    """A run whose moderation check passed, then its image attempt."""
    run = store.start_run(kind="generate", label="x", settings={})
    add(store, run_id=run, at=at, model="omni-moderation-latest", attempt_no=0, params=CHECK, latency_ms=250, cost_usd=0.0)
    return add(store, run_id=run, at=at + 1, attempt_no=1, **image)


def judge(store, at, **kw):
    kw.setdefault("params", JUDGE)
    return add(store, at=at, kind="judge", model="gpt-4o-mini", **kw)


def test_stats_and_charts_count_image_attempts_and_cost_counts_everything(store):
    checked_run(store, NOW - 60, latency_ms=30_000, cost_usd=0.04)
    checked_run(store, NOW - 50, status="failed", error_type="server_error", latency_ms=5_000, cost_usd=0.0)
    judge(store, NOW - 40, latency_ms=900, cost_usd=0.003, images=0)
    judge(store, NOW - 30, status="failed", error_type="rate_limited", latency_ms=100, cost_usd=0.0)
    view = H.HistoryView(since="1h")
    flt = view.stats_filter(NOW)
    stats = H.group_stats(store, flt, "model")
    assert [g["model"] for g in stats] == ["gpt-image-2"]
    (g,) = stats
    assert (g["attempts"], g["succeeded"], g["failed"], g["p50_ms"]) == (2, 1, 1, 30_000)
    t = H.totals(stats, store.run_outcomes(flt), store.spend_by_kind(view.to_filter(NOW)))
    assert (t["attempts"], t["success_rate"], t["runs_succeeded"], t["runs_ended"]) == (2, 0.5, 1, 2)
    assert t["cost_usd"] == pytest.approx(0.043) and t["checks_cost_usd"] == pytest.approx(0.003)
    assert t["cost_per_image"] == pytest.approx(0.04)
    assert [p["provider"] for p in H.group_stats(store, flt, "provider")] == ["sandbox"]
    bins, _ = H.latency_bins(store, flt, read_timeout_s=120)
    assert {b["model"] for b in bins} == {"gpt-image-2"}
    assert H.errors_by_provider(store, flt) == [{"provider": "sandbox", "error_type": "server_error", "n": 1}]
    timeline, _ = H.timeline(store, flt, now=NOW)
    assert sum(r["n"] for r in timeline) == 2
    # the list still holds every attempt, the checks included
    assert H.table_page(store, view.to_filter(NOW), page=1)[1] == 6


def test_a_failing_judge_raises_no_error_rate_alert_for_image_generation(store):
    for i in range(40):  # a quiet baseline of image requests
        add(store, at=NOW - 2 * 86400 - 60 * i)
    for i in range(10):
        add(store, at=NOW - 60 * (i + 1))
        judge(store, NOW - 60 * (i + 1), status="failed", error_type="server_error")
    for i in range(C.MONITOR_429_COUNT + 2):
        judge(store, NOW - 30 * (i + 1), status="failed", error_type="rate_limited")
        judge(store, NOW - 30 * (i + 1), status="failed", error_type="quota_exceeded")
    assert M.check(store, now=NOW) == []


def test_the_moderation_model_has_no_latency_of_its_own_in_the_alerts(store):
    for i in range(30):
        checked_run(store, NOW - 60 * (i + 1), latency_ms=20_000)
    assert set(store.latencies_by_model_since(NOW - 3600)) == {"gpt-image-2"}
    assert store.errors_by_provider_since("rate_limited", NOW - 3600) == []


def test_a_re_run_of_a_moderation_check_sends_its_runs_image_request_again(store):
    image = checked_run(store, NOW, model="gpt-image-1.5", params={"size": "1536x1024", "quality": "high", "n": 1})
    (check,) = [a["id"] for a in store.recent_attempts() if a["attempt_kind"] == "moderation"]
    found = H.rerun_request(store, check)
    assert found["attempt_id"] == image and found["model"] == "gpt-image-1.5"
    assert (found["request"].size, found["request"].quality) == ("1536x1024", "high")
    assert f"attempt #{image}" in found["note"]
    assert H.rerun_request(store, image)["note"] == ""


def test_a_re_run_of_a_judge_call_without_its_judged_attempt_is_not_offered(store):
    orphan = judge(store, NOW, params={"kind": "judge", "judged_attempt": 424242})
    source, why = H.rerun_source(store, store.attempt(orphan))
    assert source is None and "judge call" in why
    assert H.rerun_request(store, orphan) is None


def test_the_request_as_sent_of_a_check_is_the_check_not_an_image_request(store):
    run = store.start_run(kind="generate", label="x", settings={})
    check = add(
        store, run_id=run, at=NOW, model="omni-moderation-latest", attempt_no=0, params={"kind": "moderation", "images": 2}, prompt="a fox"
    )
    sent = H.attempt_detail(store, check)["request"]
    assert sent["body"] == {
        "model": "omni-moderation-latest",
        "input": [
            {"type": "text", "text": "a fox"},
            {"type": "image_url", "image_url": {"url": "(reference image 1, sent as a data: URL)"}},
        ],
    }
    assert "first of 2 requests" in sent["note"]
    called = H.attempt_detail(store, judge(store, NOW))["request"]
    assert called["body"] is None and "judge call" in called["note"]
    image = H.attempt_detail(store, add(store, at=NOW))["request"]
    assert image["body"]["model"] == "gpt-image-2" and image["note"] == ""
