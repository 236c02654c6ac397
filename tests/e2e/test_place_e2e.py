"""Your place is kept, in real Chromium: Generate -> Compare -> Generate finds the prompt and the
Custom base URL as they were, Compare's Custom cells reach that base URL, a reload mid-run finds
the form filled; Ctrl+Enter in the prompt generates; six alerts fold into one line above the form."""

from __future__ import annotations

import re
import time

import pytest

from lib.sandbox import SandboxConfig, SandboxServer
from lib.store import Store
from tests.support.e2e_support import APP_IDLE, ARTIFACTS, go_to, pick, running_app, set_targets, settle, sidebar_box, wait_for_http

pytestmark = pytest.mark.e2e
PROMPT = "a lighthouse on a basalt cliff at dusk, soft fog"


def idle(page) -> None:
    page.wait_for_selector(APP_IDLE, timeout=30_000)


def test_generate_compare_generate_and_a_reload_mid_run_keep_the_place(browser, tmp_path):
    gateway = SandboxServer(SandboxConfig(latency_s=(4.0, 4.0))).start()  # the Custom gateway: slow enough to reload mid-run
    data = tmp_path / "data"
    try:
        with running_app(data) as (url, proc):
            wait_for_http(url, proc)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_label("Prompt", exact=True).wait_for(timeout=30_000)

            pick(page, "Provider", "Custom", settle_after=True)
            sidebar_box(page, "Base URL").fill(gateway.base_url)
            sidebar_box(page, "Base URL").press("Enter")
            settle(page)
            key_box = page.locator("[data-testid='stSidebar']").get_by_role("textbox", name="API key")
            key_box.fill("custom-gateway-key-0001")
            key_box.press("Enter")
            settle(page)
            page.get_by_label("Prompt", exact=True).fill(PROMPT)
            pick(page, "Quality", "high", settle_after=True)

            # Generate -> Compare: the sidebar's Custom base URL is there, and a Custom cell reaches it
            go_to(page, "Compare")
            assert sidebar_box(page, "Base URL").input_value() == gateway.base_url
            page.get_by_label("Prompts, one per line").fill("a red fox in the snow")
            page.keyboard.press("Control+Enter")
            settle(page)
            set_targets(page, remove=("gpt-image-1.5 @ Sandbox",), add=("gpt-image-2 @ Custom",))
            page.get_by_role("button", name="Run the grid").click()
            page.locator("[data-testid='stImage'] img").nth(1).wait_for(state="visible", timeout=60_000)
            store = Store(data_dir=data)
            custom = list(store.db.query("SELECT url, status, error_type FROM attempts WHERE provider = 'custom'"))
            assert custom and all(r["url"].startswith(gateway.base_url) for r in custom), custom
            assert all(r["error_type"] != "invalid_input" for r in custom), custom

            # ... -> Generate: the prompt, the quality and the base URL as they were
            go_to(page, "Generate")
            assert page.get_by_label("Prompt", exact=True).input_value() == PROMPT
            assert sidebar_box(page, "Base URL").input_value(timeout=10_000) == gateway.base_url  # the sidebar stayed on Custom

            # Ctrl+Enter in the prompt generates; a reload mid-run finds the form filled
            page.get_by_label("Prompt", exact=True).fill(PROMPT + ", at night")
            page.get_by_label("Prompt", exact=True).press("Control+Enter")
            page.wait_for_url(re.compile(r"[?&]run="), timeout=30_000)
            page.reload()
            page.get_by_label("Prompt", exact=True).wait_for(timeout=30_000)
            idle(page)
            assert page.get_by_label("Prompt", exact=True).input_value() == PROMPT + ", at night"
            assert sidebar_box(page, "Base URL").input_value(timeout=10_000) == gateway.base_url
            page.locator("[data-testid='stImage'] img").first.wait_for(state="visible", timeout=60_000)
            runs = list(store.db.query("SELECT prompt FROM attempts WHERE prompt = ?", [PROMPT + ", at night"]))
            assert len(runs) == 1  # Ctrl+Enter sent it once, with the text just typed
            assert b"custom-gateway-key-0001" not in (data / "imagelab.db").read_bytes()

            # A teammate opening the same run's link in another browser gets the run, not this draft
            other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            other.goto(page.url)
            other.get_by_label("Prompt", exact=True).wait_for(timeout=30_000)
            idle(other)
            assert other.get_by_label("Prompt", exact=True).input_value() == ""
            assert sidebar_box(other, "Base URL").count() == 0  # their sidebar is on the Sandbox, as for anyone new
            other.context.close()
            store.close()
    finally:
        gateway.stop()


def test_six_alerts_leave_the_prompt_on_the_first_screen(browser, tmp_path):
    data = tmp_path / "data"
    store = Store(data_dir=data)
    from tests.support.history_seed import add

    now = time.time()
    for provider in ("openai", "wisgate", "evolink", "custom"):
        add(store, at=now - 60, provider=provider, status="failed", error_type="quota_exceeded")
    for provider in ("openai", "wisgate"):
        for s in range(3):
            add(store, at=now - 50 + s, provider=provider, status="failed", error_type="rate_limited", http_status=429)
    store.close()
    with running_app(data) as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.get_by_label("Prompt", exact=True).wait_for(timeout=30_000)
        idle(page)
        fold = page.locator("[data-testid='stExpander']").filter(has_text=re.compile(r"\d+ alerts: "))
        assert fold.count() == 1
        label = fold.first.locator("summary").inner_text()
        count = int(re.search(r"(\d+) alerts", label).group(1))
        assert count >= 6
        box = page.get_by_label("Prompt", exact=True).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900  # the prompt box on the first screen
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "e2e-alerts-folded.png"))
        fold.first.locator("summary").click()
        page.get_by_role("button", name="Dismiss").first.click()
        settle(page)
        assert (
            f"{count - 1} alert"
            in page.locator("[data-testid='stExpander']").filter(has_text="alert").first.locator("summary").inner_text()
        )
        page.close()
