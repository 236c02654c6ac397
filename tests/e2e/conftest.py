"""The Chromium every end-to-end test shares, and the app opened in a page of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.e2e_support import APP_IDLE, CHROMIUM, launch_browser, running_app, wait_for_http


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's) for every browser test; CI must have it."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI and was not found at {CHROMIUM}")
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    """A fresh app, started as `make run` starts it, open in a new page."""
    with running_app(tmp_path / "data") as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        yield page
        page.close()
