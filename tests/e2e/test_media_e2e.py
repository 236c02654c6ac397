"""Streaming in real Chromium: a streamed generation, with a screenshot while a partial image is on screen."""

from __future__ import annotations

import pytest

from tests.support.e2e_support import APP_IDLE, ARTIFACTS, open_sandbox_behaviour

pytestmark = pytest.mark.e2e


def test_streamed_generation_shows_a_partial_then_the_final(page):
    open_sandbox_behaviour(page)
    box = page.get_by_role("combobox", name="Latency")  # at the foot of the sidebar: typed, not clicked
    box.click()
    page.keyboard.type("5 s")
    page.get_by_role("option", name="5 s").wait_for()
    page.keyboard.press("Enter")
    page.wait_for_selector(APP_IDLE)
    page.get_by_text("Stream partial images").click()
    page.wait_for_selector(APP_IDLE)
    page.get_by_label("Prompt", exact=True).fill("a paper lantern drifting over a night market")
    page.get_by_role("button", name="Generate").click()
    preview = page.locator(".st-key-partial_preview [data-testid='stImage'] img")
    preview.first.wait_for(state="visible", timeout=30_000)
    assert "rough preview" in page.locator(".st-key-partial_preview").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-stream-partial.png"), full_page=True)
    # the final image replaces the partial
    page.get_by_text("Streamed: 2 partial image(s)").wait_for(timeout=30_000)
    assert page.locator(".st-key-partial_preview").count() == 0
    assert page.locator("[data-testid='stImage'] img").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "e2e-stream-final.png"), full_page=True)
