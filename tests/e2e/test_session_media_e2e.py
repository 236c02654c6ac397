"""In real Chromium: what the pages show comes through the session. Every /media/ URL the browser
used is collected; pages that show results, thumbnails and attempts use none, and a download's
URL, made only by the click, no longer answers once the app has moved on."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.e2e_support import APP_IDLE, ARTIFACTS, running_app, wait_for_http

pytestmark = pytest.mark.e2e

IMAGES = "[data-testid='stMain'] [data-testid='stImage'] img"


def _sources(page) -> list[str]:
    return page.locator(IMAGES).evaluate_all("els => els.map(e => e.getAttribute('src') || '')")


# This generation's result is drawn: the link names another run than before, the page is idle, the
# Generate button is back and "Done in" shows, all of it for 0.6 s on end. A previous result stays on
# screen while the next run starts, and the page is idle between the progress' ticks (every 0.5 s).
FINISHED = """before => {
  const run = new URLSearchParams(location.search).get("run");
  const idle = document.querySelector("[data-testid='stApp'][data-test-script-state='notRunning']");
  const button = Array.from(document.querySelectorAll("button")).find(b => b.innerText.includes("Generate"));
  const done = document.querySelector("[data-testid='stMain']")?.innerText.includes("Done in");
  if (!(run && run !== before && idle && button && !button.disabled && done)) {
    window.__finishedSince = null;
    return false;
  }
  window.__finishedSince = window.__finishedSince || performance.now();
  return performance.now() - window.__finishedSince >= 600;
}"""


def _generate(page, prompt: str) -> None:
    before = parse_qs(urlsplit(page.url).query).get("run", [""])[0]
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function(FINISHED, arg=before, timeout=30_000)


def test_pages_use_no_media_url_and_a_download_url_does_not_last(browser, tmp_path):
    media: list[str] = []
    with running_app(tmp_path / "data") as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.on("request", lambda r: media.append(r.url) if urlsplit(r.url).path.startswith("/media/") else None)
        try:
            page.goto(url)
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.get_by_role("heading", name="Generate").wait_for(timeout=30_000)
            _generate(page, "a lighthouse on a basalt cliff at dusk")
            _generate(page, "a tide pool with one red starfish")
            page.get_by_text("Recent generations").wait_for(timeout=15_000)
            page.locator(IMAGES).nth(1).wait_for(timeout=30_000)
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            shown = _sources(page)
            assert len(shown) >= 2  # the result, and the first generation's thumbnail under Recent generations
            assert all(src.startswith("data:image/") for src in shown), shown

            page.goto(url + "/history?attempt=1")
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.get_by_role("heading", name="Attempt #1").wait_for(timeout=30_000)
            page.locator(IMAGES).first.wait_for(state="visible", timeout=15_000)
            assert all(src.startswith("data:image/") for src in _sources(page))
            page.goto(url + "/history")
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.get_by_text("attempts match").wait_for(timeout=30_000)
            page.locator("[data-testid='stDataFrame']").first.wait_for(state="visible", timeout=15_000)
            assert media == []  # results, thumbnails, the attempt and the table: none came through /media/

            page.goto(url + "/history?attempt=1")
            page.wait_for_selector(APP_IDLE, timeout=30_000)
            page.get_by_role("heading", name="Attempt #1").wait_for(timeout=30_000)
            assert media == []  # a download button alone makes no URL
            with page.expect_download(timeout=30_000) as pending:
                page.get_by_role("button", name="Download").first.click()
            download = pending.value
            assert open(download.path(), "rb").read(4) == b"\x89PNG"
            assert media, "the download came from the media endpoint"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "e2e-session-media.png"), full_page=True)

            # Two more finished page runs (here: two page loads) and the download's file is gone.
            for path in ("/history", "/"):
                page.goto(url + path)
                page.wait_for_selector(APP_IDLE, timeout=30_000)
                page.locator("[data-testid='stMain'] h1").first.wait_for(timeout=30_000)
            with httpx.Client(timeout=10) as outsider:  # no cookie, no session: anyone holding the URL
                for used in set(media):
                    assert outsider.get(used).status_code == 404, used
        finally:
            page.close()
