"""End to end in Chromium: a filtered History permalink opened first shows the filtered table and a chart."""

from __future__ import annotations

import time

import pytest

from lib.store import Store
from tests.support.e2e_support import APP_IDLE, running_app, wait_for_http
from tests.support.history_seed import add

pytestmark = pytest.mark.e2e


def test_a_filtered_permalink_shows_the_table_and_a_chart(browser, tmp_path):
    data = tmp_path / "data"
    store = Store(data_dir=data)
    now = time.time()
    for i in range(12):
        add(
            store,
            at=now - 600 * i,
            provider="openai",
            model="gpt-image-2",
            prompt=f"openai prompt {i}",
            status="failed" if i % 4 == 0 else "succeeded",
            error_type="rate_limited" if i % 4 == 0 else None,
        )
    for i in range(5):
        add(store, at=now - 700 * i, provider="wisgate", model="gpt-image-1.5", prompt=f"wisgate prompt {i}")
    store.close()

    with running_app(data) as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(url + "/history?provider=openai&status=succeeded&since=24h")  # the first page this server sees
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            # the first "notRunning" can come before the script ran: wait for the page itself
            page.get_by_role("heading", name="History").wait_for(timeout=30_000)
            page.get_by_text("9 attempts match").wait_for(timeout=15_000)
            # the filter widgets say what the link said, and the sidebar is the app's own navigation
            assert page.locator("[data-testid='stSidebarNav']").get_by_text("Generate").is_visible()
            page.locator("[data-testid='stDataFrame']").first.wait_for(state="visible")
            provider = page.locator("[data-testid='stMultiSelect']").filter(has_text="Provider")
            provider.get_by_text("openai").wait_for(timeout=10_000)
            assert "wisgate" not in provider.inner_text()
            page.screenshot(path=str(tmp_path / "history-table.png"), full_page=True)
            page.get_by_role("tab", name="Charts").click()
            chart = page.locator("[data-testid='stVegaLiteChart']").first
            chart.wait_for(state="visible", timeout=15_000)
            chart.locator("canvas, svg").first.wait_for(timeout=15_000)
            page.screenshot(path=str(tmp_path / "history-chart.png"), full_page=True)
            assert page.url.endswith("/history?provider=openai&status=succeeded&since=24h")
            assert (tmp_path / "history-chart.png").stat().st_size > 10_000
        finally:
            page.close()


def address(page, search: str) -> None:
    """Wait until the address bar's query string is ``search`` (set by the app, no page load)."""
    page.wait_for_function("s => window.location.search === s", arg=search, timeout=15_000)
    assert page.url.endswith("/history" + search)


def test_opening_an_attempt_and_going_back_keep_the_address_bar_in_step(browser, tmp_path):
    data = tmp_path / "data"
    store = Store(data_dir=data)
    now = time.time()
    ids = [add(store, at=now - 300 * i, provider="openai", prompt=f"prompt {i}", wait_ms=1500 if i else None) for i in range(3)]
    add(store, at=now - 100, provider="wisgate", status="failed", error_type="timeout", latency_ms=180_000)
    add(store, at=now - 50, provider="wisgate", status="failed", error_type="invalid_input", latency_ms=None)
    store.close()

    with running_app(data) as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(url + "/history?provider=openai&since=24h")
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.get_by_text("3 attempts match").wait_for(timeout=30_000)
            box = page.get_by_label("Open attempt #")
            box.fill(str(ids[1]))
            box.press("Enter")
            page.get_by_role("heading", name=f"Attempt #{ids[1]}").wait_for(timeout=15_000)
            address(page, f"?attempt={ids[1]}&since=24h&provider=openai")
            page.screenshot(path=str(tmp_path / "history-attempt.png"), full_page=True)
            page.get_by_role("button", name="Back to the list").click()
            page.get_by_text("3 attempts match").wait_for(timeout=15_000)
            address(page, "?since=24h&provider=openai")
            page.reload()  # the address bar opens the same view
            page.get_by_text("3 attempts match").wait_for(timeout=30_000)
            page.goto(url + "/history?since=24h&by=error_type")
            page.get_by_text("5 attempts match").wait_for(timeout=30_000)
            page.get_by_role("tab", name="Charts").click()
            page.locator("[data-testid='stVegaLiteChart']").first.locator("canvas, svg").first.wait_for(timeout=15_000)
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.screenshot(path=str(tmp_path / "history-charts.png"), full_page=True)
        finally:
            page.close()
