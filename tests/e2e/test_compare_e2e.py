"""Compare in real Chromium: a 3x2 grid with a slow target fills in live, then opens
again from its permalink. The slow target is a second sandbox (fixed 6 s latency) used as a
Custom gateway, with its own base URL and key typed in the sidebar."""

from __future__ import annotations

import re

import pytest

from lib.sandbox import SandboxConfig, SandboxServer
from tests.support.e2e_support import APP_IDLE, ARTIFACTS, pick, running_app, set_targets, settle, wait_for_http

pytestmark = pytest.mark.e2e
SLOW_S = 6.0


def idle(page) -> None:
    page.wait_for_selector(APP_IDLE, timeout=30_000)


def test_a_3x2_grid_with_a_slow_target_fills_in_live_and_reopens_from_its_permalink(browser, tmp_path):
    slow = SandboxServer(SandboxConfig(latency_s=(SLOW_S, SLOW_S))).start()
    try:
        with running_app(tmp_path / "data") as (url, proc):
            wait_for_http(url, proc)
            page = browser.new_page(viewport={"width": 1500, "height": 1200})
            page.goto(url + "/compare")
            page.get_by_role("heading", name="Compare").wait_for(timeout=30_000)
            page.get_by_label("Prompts, one per line").wait_for(timeout=30_000)

            # The slow gateway: Custom, its base URL and a typed key (kept for this session only)
            pick(page, "Provider", "Custom", settle_after=True)
            sidebar = page.locator("[data-testid='stSidebar']")
            sidebar.get_by_role("textbox", name="Base URL").fill(slow.base_url)
            sidebar.get_by_role("textbox", name="Base URL").press("Enter")
            settle(page)
            sidebar.get_by_role("textbox", name="API key").fill("slow-gateway-key-0001")
            sidebar.get_by_role("textbox", name="API key").press("Enter")
            settle(page)
            pick(page, "Provider", "Sandbox", settle_after=True)
            pick(page, "Latency", "none", settle_after=True)

            page.get_by_label("Prompts, one per line").fill("a red fox in the snow\nan owl at night\na paper boat on a pond")
            page.keyboard.press("Control+Enter")
            settle(page)
            set_targets(page, remove=("gpt-image-1.5 @ Sandbox",), add=("gpt-image-2 @ Custom",))
            page.get_by_text("3 rows x 2 targets = 6 cells").wait_for(timeout=10_000)
            page.get_by_role("button", name="Run the grid").click()

            # Fast cells land first; the slow column is still running
            page.locator("[data-testid='stImage'] img").first.wait_for(state="visible", timeout=30_000)
            try:
                page.get_by_text(re.compile(r"running \d+ s|queued: ")).first.wait_for(timeout=10_000)
            except Exception:
                page.screenshot(path="/tmp/compare-e2e-fail.png", full_page=True)
                raise
            assert page.locator("[data-testid='stImage'] img").count() < 6
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "e2e-compare-running.png"), full_page=True)
            assert "comparison=" in page.url
            permalink = page.url

            page.get_by_text(re.compile(r"6 succeeded")).first.wait_for(timeout=60_000)
            idle(page)
            assert page.locator("[data-testid='stImage'] img").count() == 6
            assert page.get_by_text("gpt-image-2 @ Custom: 3/3 succeeded").is_visible()
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "e2e-compare-done.png"), full_page=True)

            # The permalink in a fresh page shows the finished grid
            other = browser.new_page(viewport={"width": 1500, "height": 1200})
            other.goto(permalink)
            idle(other)
            other.get_by_text(re.compile(r"6 succeeded")).first.wait_for(timeout=30_000)
            other.locator("[data-testid='stImage'] img").nth(5).wait_for(state="visible", timeout=30_000)
            assert other.locator("[data-testid='stImage'] img").count() == 6
            assert other.get_by_role("button", name="Contact sheet (PNG)").is_visible()
            other.close()
            page.close()
    finally:
        slow.stop()
