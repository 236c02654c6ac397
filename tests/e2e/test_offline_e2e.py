"""Offline by default: loading any page of the app makes no request to another host."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.e2e_support import APP_IDLE, running_app, wait_for_http

pytestmark = pytest.mark.e2e

PAGES = ("/", "/compare", "/history", "/diagnostics")


def test_no_page_reaches_outside_this_machine(browser, tmp_path):
    with running_app(tmp_path / "data") as (url, proc):
        wait_for_http(url, proc)
        own = urlsplit(url).netloc
        seen: list[str] = []
        outside: list[str] = []

        def watch(route):  # every request of the page, answered only if it stays on the app's own host
            address = route.request.url
            seen.append(address)
            parts = urlsplit(address)
            if parts.scheme in ("data", "blob") or parts.netloc == own:
                route.continue_()
            else:
                outside.append(address)
                route.abort()

        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", watch)
        page = context.new_page()
        for path in PAGES:
            page.goto(url + path)
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.get_by_role("heading").first.wait_for(timeout=30_000)
            page.wait_for_load_state("networkidle")
            favicon = page.locator("link[rel='shortcut icon']").get_attribute("href") or ""
            assert favicon.startswith("data:") or urlsplit(favicon).netloc in ("", own), favicon
        context.close()
    assert any(urlsplit(u).netloc == own for u in seen)  # the log did see the app's own requests
    assert outside == []
