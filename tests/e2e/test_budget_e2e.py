"""Spend guardrails in real Chromium: a double click on Generate above the confirmation threshold
sends nothing, one click on the confirmation sends once, and the next send over the operator's
daily budget is refused before anything goes out."""

from __future__ import annotations

import pytest

from lib.store import Store
from tests.support.e2e_support import APP_IDLE, ARTIFACTS, running_app, settle, wait_for_http

pytestmark = pytest.mark.e2e


@pytest.fixture
def budget_page(browser, tmp_path, monkeypatch):
    """The app with the operator's threshold at $0.01 and a sandbox budget of $0.06 a day."""
    monkeypatch.setenv("IMAGELAB_CONFIRM_ABOVE_USD", "0.01")
    monkeypatch.setenv("IMAGELAB_DAILY_BUDGET_USD_SANDBOX", "0.06")
    data = tmp_path / "data"
    with running_app(data) as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        yield page, data
        page.close()


def run_count(data) -> int:
    return len(Store(data / "imagelab.db").recent_runs(limit=20))


def test_a_double_click_only_asks_and_one_confirmation_sends_once(budget_page):
    page, data = budget_page
    page.get_by_label("Prompt", exact=True).fill("a lighthouse on a basalt cliff at dusk")
    settle(page)
    assert page.get_by_text("Estimated cost of this generation: ~$0.053 (estimate)").first.is_visible()
    page.get_by_role("button", name="Generate").dblclick()  # two clicks before the page settles
    settle(page)
    confirm = page.get_by_role("button", name="Confirm and send")
    confirm.wait_for(timeout=30_000)
    assert confirm.count() == 1 and run_count(data) == 0
    assert page.get_by_text("Send it?").first.is_visible()

    confirm.click()
    page.locator("[data-testid='stImage'] img").first.wait_for(state="visible", timeout=30_000)
    assert run_count(data) == 1 and page.locator("[data-testid='stException']").count() == 0

    # $0.053 of the $0.06 is spent: the next one is refused at once, not asked for
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Not sent: this generation is estimated at").first.wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Confirm and send").count() == 0 and run_count(data) == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-budget-refused.png"), full_page=True)
