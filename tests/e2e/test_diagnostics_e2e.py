"""Diagnostics in real Chromium: a report permalink, and the HTML export opened from disk."""

from __future__ import annotations

import pytest

from lib import diagnostics as D
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.store import Store
from tests.support.e2e_support import APP_IDLE, ARTIFACTS, running_app, wait_for_http

pytestmark = pytest.mark.e2e


def test_report_permalink_and_html_export(browser, sandbox, tmp_path):
    data = tmp_path / "data"
    store = Store(data_dir=data)
    settings = ClientSettings(
        provider="sandbox", base_url=sandbox.base_url, extra_headers={"X-Sandbox-Scenario": "rate_limited_always"}, max_retries=1
    )
    with ImageClient(settings=settings, recorder=store, keeper=store.keeper) as client:
        client.generate(GenerationRequest(prompt="a lighthouse <b>in</b> the rain"))
    healthy = ClientSettings(provider="sandbox", base_url=sandbox.base_url)
    report = D.run_checks(healthy, "gpt-image-2", store=store, spend=True)
    report_id = D.save_report(store, report)
    store.close()

    with running_app(data) as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
        page.goto(f"{url}/diagnostics?report={report_id}&step=5")
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        page.get_by_role("heading", name="Diagnostics snapshot").wait_for(timeout=30_000)
        body = page.locator("[data-testid='stMain']").inner_text()
        assert (
            "read-only" in body
            and "5. Limits" in body
            and "Earlier requests met rate limits or quota; the provider accepts requests now." in body
        )  # live beats old
        assert page.get_by_role("button", name="Run checks").count() == 0
        assert page.locator("[data-testid='stException']").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "e2e-diagnostics-report.png"), full_page=True)

        with page.expect_download() as info:
            page.get_by_role("button", name="Download HTML").click()
        exported = tmp_path / "report.html"
        info.value.save_as(exported)
        with page.expect_download() as info:
            page.get_by_role("button", name="Download JSON").click()
        as_json = tmp_path / "report.json"
        info.value.save_as(as_json)

        # A teammate uploads the JSON on their Diagnostics page: the same view, read-only.
        page.goto(f"{url}/diagnostics")
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        page.get_by_text("Open a teammate's report (JSON)").click()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(as_json))
        page.get_by_text("An uploaded report, read-only").wait_for(timeout=30_000)
        assert "the provider accepts requests now" in page.locator("[data-testid='stMain']").inner_text()
        page.close()

    # The export opens offline, from disk, with nothing fetched from anywhere.
    offline = browser.new_page(viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    offline.on("request", lambda r: requests.append(r.url))
    offline.goto(exported.as_uri())
    assert offline.title().startswith("Diagnostics: Sandbox")
    text = offline.locator("body").inner_text()
    assert "5. Limits" in text and "Fix:" in text and "a lighthouse <b>in</b> the rain" in text
    assert offline.locator("img.thumb").count() == 1 and offline.locator("img.thumb").evaluate("i => i.naturalWidth") > 0
    assert [r for r in requests if not r.startswith(("file:", "data:"))] == []
    offline.screenshot(path=str(ARTIFACTS / "e2e-diagnostics-export.png"), full_page=True)
    offline.close()


def test_a_permalink_survives_the_app_password(browser, tmp_path, monkeypatch):
    """With a password set, the permalink asks for it first, then shows the same snapshot."""
    data = tmp_path / "data"
    store = Store(data_dir=data)
    report = D.run_checks(
        ClientSettings(provider="openai", api_key="sk-permalinkKey3Gh7Jk1Lm9Nb2Vc5Xz8Qw4Er6Ty0Ui", read_timeout_s=30.0),
        "gpt-image-2",
        store=store,
        probe=False,
    )
    report_id = D.save_report(store, report)
    store.close()
    monkeypatch.setenv("IMAGELAB_PASSWORD", "correct horse battery")
    with running_app(data) as (url, proc):
        wait_for_http(url, proc)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/diagnostics?report={report_id}")  # the first page the server is asked for
        page.get_by_label("Password", exact=True).wait_for(timeout=30_000)
        assert page.get_by_text("Diagnostics snapshot").count() == 0  # nothing of the report before the password
        page.get_by_label("Password", exact=True).fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Diagnostics snapshot").wait_for(timeout=30_000)
        page.get_by_text("30 s is too short").first.wait_for(timeout=30_000)
        assert "read-only" in page.locator("[data-testid='stMain']").inner_text()
        page.close()
