"""End to end in real Chromium (Debian's), driven by Playwright: the app as `make run` starts it."""

from __future__ import annotations

import pytest

from tests.support.e2e_support import APP_IDLE, ARTIFACTS, pick, running_app, wait_for_http

pytestmark = pytest.mark.e2e


def test_generate_then_rate_limit_recovery(page):
    assert page.get_by_role("heading", name="Generate").is_visible()

    page.get_by_label("Prompt", exact=True).fill("a lighthouse on a basalt cliff at dusk")
    page.get_by_role("button", name="Generate").click()
    image = page.locator("[data-testid='stImage'] img").first
    image.wait_for(state="visible", timeout=30_000)
    assert page.locator("[data-testid='stMetricValue']").first.inner_text() == "gpt-image-2"

    pick(page, "Scenario", "Rate limited, then fine")
    page.get_by_label("Prompt", exact=True).fill("the same lighthouse, in the rain")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Retrying in").first.wait_for(timeout=30_000)  # live progress
    page.locator("[data-testid='stMetricValue']").filter(has_text="2").first.wait_for(timeout=30_000)
    page.locator("[data-testid='stImage'] img").first.wait_for(state="visible", timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-generate.png"), full_page=True)
    assert (ARTIFACTS / "e2e-generate.png").stat().st_size > 10_000


def test_error_card_in_the_browser(page):
    pick(page, "Scenario", "Out of credits")
    page.get_by_label("Prompt", exact=True).fill("anything")
    page.get_by_role("button", name="Generate").click()
    card = page.locator(".st-key-error_card")
    card.wait_for(timeout=30_000)
    text = card.inner_text()
    assert "Out of credits or quota" in text and "HTTP 429" in text and "Checklist step 5" in text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-error-card.png"), full_page=True)


def test_a_section_opened_before_the_first_view_has_settled_leaves_the_form_as_it_was(browser, tmp_path):
    """Budget is clicked the moment it shows, while the first run still draws the page: the number
    boxes keep their values (a browser drawing one afresh used to show 0 Images, and refuse to send)."""
    with running_app(tmp_path / "data") as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.locator("[data-testid='stSidebar'] [data-testid='stExpander'] summary").filter(has_text="Budget").click()
        page.get_by_label("Daily budget", exact=False).first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        assert page.locator("[data-testid='stNumberInputField'][aria-label='Images']").input_value() == "1"
        assert page.get_by_role("button", name="Generate").is_enabled()
        page.close()
