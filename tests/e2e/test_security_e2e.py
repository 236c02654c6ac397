"""Security in real Chromium: the password gate, and hostile markup that stays text."""

from __future__ import annotations

import pytest

from tests.support.e2e_support import APP_IDLE, ARTIFACTS, pick, running_app, wait_for_http

pytestmark = pytest.mark.e2e


def test_password_gate_then_hostile_markup_stays_text(browser, hostile, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGELAB_PASSWORD", "e2e-secret-password")
    requests: list[str] = []
    with running_app(tmp_path / "data") as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        page.get_by_label("Password", exact=True).wait_for(timeout=30_000)
        assert page.get_by_role("heading", name="Generate").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "e2e-password.png"))
        assert page.locator("[data-testid='stSidebarNav'] a").count() == 0  # no page is listed, nor reachable
        for path in ("/history", "/generate", "/diagnostics"):
            page.goto(url + path)
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.get_by_label("Password", exact=True).wait_for(timeout=30_000)
            assert page.get_by_role("heading", name="History").count() == 0
        page.screenshot(path=str(ARTIFACTS / "e2e-password-deep-link.png"))
        page.goto(url)
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        page.get_by_label("Password", exact=True).wait_for(timeout=30_000)
        page.get_by_label("Password", exact=True).fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("not the password").wait_for(timeout=15_000)
        page.get_by_label("Password", exact=True).fill("e2e-secret-password")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Generate").wait_for(timeout=30_000)

        pick(page, "Provider", "Custom")
        page.get_by_role("textbox", name="Base URL").fill(hostile.base_url("md_error"))
        page.get_by_role("textbox", name="Base URL").press("Enter")
        page.wait_for_selector(APP_IDLE)
        page.get_by_role("textbox", name="API key").fill("sk-e2e-" + "Bb4" * 14)
        page.get_by_role("textbox", name="API key").press("Enter")
        page.wait_for_selector(APP_IDLE)
        page.get_by_label("Prompt", exact=True).fill("![p](http://127.0.0.1:9/prompt.png) :red[prompt]")
        page.get_by_role("button", name="Generate").click()
        card = page.locator(".st-key-error_card")
        card.wait_for(timeout=30_000)
        page.wait_for_selector(APP_IDLE)
        card.locator("[data-testid='stCode']").first.wait_for(timeout=15_000)  # its code block loads its own script first
        text = card.inner_text()
        assert "bad_request" in text and "![x](" in text and ":red[RED]" in text  # shown, literally
        main = page.locator("[data-testid='stMain']")
        assert main.locator("img[src*='127.0.0.1:9']").count() == 0
        assert main.locator("a[href*='127.0.0.1:9']").count() == 0 and main.locator(".katex").count() == 0
        assert not [r for r in requests if "127.0.0.1:9/" in r]  # no tracking pixel was loaded
        page.screenshot(path=str(ARTIFACTS / "e2e-hostile-card.png"), full_page=True)
        page.close()
