"""Checks in real Chromium: a two-row grid on the sandbox, one prompt whose quoted text it letters
right and one tagged #misspell, with the text check ticked; the cells show a pass and a fail with
what was read beside what was asked, and the summary the pass rate."""

from __future__ import annotations

import pytest

from tests.support.e2e_support import APP_IDLE, ARTIFACTS, pick, running_app, set_targets, settle, wait_for_http

pytestmark = pytest.mark.e2e
GOOD = 'a bakery window with a sign that says "GRAND OPENING"'


def test_a_grid_with_the_text_check_shows_pass_and_fail_with_the_text_read(browser, tmp_path):
    with running_app(tmp_path / "data") as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1500, "height": 1200})
        page.goto(url + "/compare")
        page.get_by_label("Prompts, one per line").wait_for(timeout=30_000)
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        pick(page, "Latency", "none", settle_after=True)

        page.get_by_label("Prompts, one per line").fill(f"{GOOD}\n{GOOD} #misspell")
        page.keyboard.press("Control+Enter")
        settle(page)
        set_targets(page, remove=("gpt-image-1.5 @ Sandbox",))
        page.get_by_text("2 rows x 1 target = 2 cells").wait_for(timeout=10_000)

        page.locator("[data-testid='stExpander']").filter(has_text="Checks").get_by_text("Checks", exact=True).click()
        judge = page.get_by_role("checkbox", name="Judge with a vision model (billed)")
        judge.wait_for(timeout=10_000)
        assert not judge.is_checked()  # never on by default
        page.get_by_text("Quoted text is in the image (OCR)").click()
        settle(page)
        page.get_by_role("button", name="Run the grid").click()

        try:
            page.get_by_text("Text failed (0.92)").first.wait_for(timeout=90_000)
            page.get_by_text("Text passed (1.00)").first.wait_for(timeout=30_000)
        except Exception:
            page.screenshot(path="/tmp/checks-e2e-fail.png", full_page=True)
            raise
        page.get_by_text("checks 1/2 pass (50%)", exact=False).wait_for(timeout=30_000)
        assert page.get_by_text("asked \u201cGRAND OPENING\u201d · read \u201cgrand opening\u201d").first.is_visible()
        assert page.get_by_text("Asked \u201cGRAND OPENING\u201d, read \u201c", exact=False).first.is_visible()
        assert page.locator("[data-testid='stException']").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "e2e-checks-grid.png"), full_page=True)
        page.close()
