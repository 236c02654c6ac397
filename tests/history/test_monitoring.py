"""lib/monitoring.py: each of the five alert rules, triggered and not triggered."""

from __future__ import annotations

import pytest

from lib import constants as C
from lib import history as H
from lib import monitoring as M
from lib.store import Store
from tests.support.history_seed import add

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path):
    return Store(data_dir=tmp_path / "data")


def rules(store, **kw):
    return [a.rule for a in M.check(store, now=NOW, **kw)]


def test_a_quiet_history_raises_nothing(store):
    for i in range(30):
        add(store, at=NOW - 60 * i, latency_ms=20_000)
    assert M.check(store, now=NOW) == []


# 1. sustained 429s


def test_sustained_429s_for_one_provider(store):
    for i in range(C.MONITOR_429_COUNT):
        add(store, at=NOW - 60 * (i + 1), provider="wisgate", status="failed", error_type="rate_limited")
    alerts = M.rate_limited(store, NOW)
    assert len(alerts) == 1 and alerts[0].params == {"provider": "wisgate", "error_type": "rate_limited", "since": "1h"}
    assert "3 requests to wisgate" in alerts[0].message


def test_429s_below_the_count_spread_over_providers_or_too_old_do_not_alert(store):
    add(store, at=NOW - 60, provider="wisgate", status="failed", error_type="rate_limited")
    add(store, at=NOW - 60, provider="wisgate", status="failed", error_type="rate_limited")
    add(store, at=NOW - 60, provider="openai", status="failed", error_type="rate_limited")
    add(store, at=NOW - C.MONITOR_429_WINDOW_S - 5, provider="wisgate", status="failed", error_type="rate_limited")
    assert M.rate_limited(store, NOW) == []


def test_429s_of_probes_do_not_count(store):
    for _ in range(5):
        add(store, at=NOW - 60, provider="wisgate", status="failed", error_type="rate_limited", kind="probe")
    assert M.rate_limited(store, NOW) == []


# 2. failure rate above its baseline


def baseline(store, *, failed: int, total: int, provider="openai"):
    for i in range(total):
        ok = i >= failed
        add(
            store,
            at=NOW - 2 * 86400 - 60 * i,
            provider=provider,
            status="succeeded" if ok else "failed",
            error_type=None if ok else "server_error",
        )


def test_failure_rate_above_baseline(store):
    baseline(store, failed=2, total=40)  # 5%
    for i in range(6):
        add(
            store,
            at=NOW - 60 * (i + 1),
            status="failed" if i < 3 else "succeeded",
            error_type="server_error" if i < 3 else None,
            provider="openai",
        )
    alerts = M.failure_rate(store, NOW)
    assert [a.params for a in alerts] == [{"provider": "openai", "status": "failed", "since": "1h"}]
    assert "3 of 6" in alerts[0].message and "5%" in alerts[0].message


def test_failure_rate_at_its_usual_level_does_not_alert(store):
    baseline(store, failed=16, total=40)  # 40% is normal for this provider
    for i in range(6):
        add(
            store,
            at=NOW - 60 * (i + 1),
            status="failed" if i < 3 else "succeeded",
            error_type="server_error" if i < 3 else None,
            provider="openai",
        )
    assert M.failure_rate(store, NOW) == []


def test_failure_rate_needs_enough_recent_attempts_and_ignores_cancelled(store):
    baseline(store, failed=0, total=40)
    for i in range(C.MONITOR_FAILURE_MIN_ATTEMPTS - 1):
        add(store, at=NOW - 60 * (i + 1), status="failed", error_type="server_error")
    for _ in range(10):
        add(store, at=NOW - 30, status="cancelled", error_type=None)
    assert M.failure_rate(store, NOW) == []


def test_failure_rate_without_a_baseline_uses_the_absolute_threshold(store):
    for i in range(6):
        add(store, at=NOW - 60 * (i + 1), status="failed" if i < 4 else "succeeded", error_type="auth" if i < 4 else None)
    alerts = M.failure_rate(store, NOW)
    assert len(alerts) == 1 and "too little history" in alerts[0].message


def test_attempts_refused_before_sending_are_no_failure_of_the_provider(store):
    for i in range(10):  # a malformed key refused by the app, ten times: the provider never saw a request
        add(store, at=NOW - 60 * (i + 1), status="failed", error_type="invalid_input", latency_ms=None)
    add(store, at=NOW - 30, status="succeeded")
    assert M.failure_rate(store, NOW) == [] and M.check(store, now=NOW) == []
    for i in range(5):  # the same with real provider failures beside them: counted over the sent attempts only
        add(store, at=NOW - 20 - i, status="failed", error_type="server_error")
    alerts = M.failure_rate(store, NOW)
    assert len(alerts) == 1 and "5 of 6 attempts" in alerts[0].message


def test_the_apps_own_failures_are_not_the_providers(store):
    for i in range(6):  # the app stopped mid-flight, or failed itself: the provider is not blamed
        add(store, at=NOW - 60 * (i + 1), status="interrupted", error_type="interrupted")
        add(store, at=NOW - 60 * (i + 1) - 5, status="failed", error_type="app_error")
    add(store, at=NOW - 30, status="succeeded")
    assert M.failure_rate(store, NOW) == []


# 3. image downloads below 100%


def test_download_failures_alert(store):
    aid = add(store, at=NOW - 600, status="succeeded")
    store.db.execute(
        "INSERT INTO images (attempt_id, sha256, path, source, created_at) VALUES (?, 'x', 'images/x', 'url', ?)", [aid, NOW - 590]
    )
    add(store, at=NOW - 300, status="failed", error_type="image_fetch_failed")
    alerts = M.downloads(store, NOW)
    assert len(alerts) == 1 and "1 of 2" in alerts[0].message and "50%" in alerts[0].message
    assert alerts[0].params == {"error_type": "image_fetch_failed", "since": "24h"}


def test_downloads_all_fine_or_failure_too_old(store):
    add(store, at=NOW - C.MONITOR_DOWNLOAD_WINDOW_S - 10, status="failed", error_type="image_fetch_failed")
    add(store, at=NOW - 60)
    assert M.downloads(store, NOW) == []


# 4. p95 latency near the read timeout


def test_p95_latency_close_to_the_read_timeout(store):
    for i in range(20):
        add(store, at=NOW - 60 * i, model="gpt-image-2", latency_ms=150_000 if i < 2 else 40_000)
    for i in range(20):
        add(store, at=NOW - 60 * i, model="gpt-image-1-mini", latency_ms=10_000)
    alerts = M.latency(store, NOW, read_timeout_s=180)
    assert [a.params["model"] for a in alerts] == ["gpt-image-2"]
    assert "150 s" in alerts[0].message and "83%" in alerts[0].message
    assert M.latency(store, NOW, read_timeout_s=300) == []  # a longer timeout: no alert


def test_latency_needs_samples(store):
    for i in range(C.MONITOR_LATENCY_MIN_SAMPLES - 1):
        add(store, at=NOW - 60 * i, latency_ms=170_000)
    assert M.latency(store, NOW, read_timeout_s=180) == []


# 5. quota


def test_quota_error_in_the_last_hour(store):
    add(store, at=NOW - 120, provider="evolink", status="failed", error_type="quota_exceeded")
    alerts = M.quota(store, NOW)
    assert len(alerts) == 1 and alerts[0].severity == "error"
    assert alerts[0].params == {"provider": "evolink", "error_type": "quota_exceeded", "since": "1h"}


def test_old_quota_error_does_not_alert(store):
    add(store, at=NOW - C.MONITOR_QUOTA_WINDOW_S - 60, provider="evolink", status="failed", error_type="quota_exceeded")
    assert M.quota(store, NOW) == []


def test_check_orders_errors_first_and_links_open_the_filtered_view(store):
    add(store, at=NOW - 120, provider="evolink", status="failed", error_type="quota_exceeded")
    for _ in range(3):
        add(store, at=NOW - 60, provider="wisgate", status="failed", error_type="rate_limited")
    alerts = M.check(store, now=NOW)
    assert alerts[0].rule == "quota"
    assert set(a.rule for a in alerts) >= {"quota", "rate_limited"}
    for alert in alerts:  # every link is a valid History permalink showing the cause
        parsed = H.parse_view(alert.params)
        assert parsed.problems == []
        assert store.count_attempts(parsed.view.to_filter(NOW)) >= 1


def test_downloads_of_probe_runs_count_on_neither_side(store):
    for kind in ("generate", "probe"):  # a real download and the test image of a diagnostics run
        aid = add(store, at=NOW - 600, status="succeeded", kind=kind)
        store.db.execute(
            "INSERT INTO images (attempt_id, sha256, path, source, created_at) VALUES (?, ?, 'images/x', 'url', ?)", [aid, kind, NOW - 590]
        )
    add(store, at=NOW - 300, status="failed", error_type="image_fetch_failed")
    add(store, at=NOW - 200, status="failed", error_type="image_fetch_failed", kind="probe")
    (alert,) = M.downloads(store, NOW)
    assert "for 1 of 2 attempts" in alert.message and "50%" in alert.message
