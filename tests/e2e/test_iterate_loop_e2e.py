"""The iterate loop in one browser session of real Chromium, against the sandbox (and a second
sandbox as a Custom gateway): generate, "Edit this image", reload with the reference kept, edit
with a new prompt, see History's two-step chain; save a prompt twice and see the two versions'
diff; run both versions as Compare rows and open the grid with "Edit and re-run" to find the
builder filled in; Generate -> Compare -> Generate and a reload find the prompt, the Custom base
URL and Compare's builder as they were."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from lib.sandbox import SandboxServer
from lib.store import Store
from tests.support.e2e_support import APP_IDLE, ARTIFACTS, go_to, pick, running_app, save_to_library, settle, sidebar_box, wait_for_http

pytestmark = pytest.mark.e2e
KITE = "a red kite over dunes"
EDIT = "a red kite over dunes at night"
V1, V2 = "a lighthouse on a basalt cliff at dusk", "a red lighthouse on a basalt cliff at dawn"
DRAFT = "a paper boat on a pond, morning light"


def idle(page) -> None:
    page.wait_for_selector(APP_IDLE, timeout=30_000)


def reload(page) -> None:
    page.reload()
    page.get_by_label("Prompt", exact=True).or_(page.get_by_label("Prompts, one per line")).wait_for(timeout=30_000)
    idle(page)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"e2e-loop-{name}.png"), full_page=True)


def first_image(page, timeout: int = 30_000) -> None:
    page.locator("[data-testid='stMain'] [data-testid='stImage'] img").first.wait_for(state="visible", timeout=timeout)


def test_the_iterate_loop_in_one_browser_session(browser, tmp_path):
    gateway = SandboxServer().start()  # the Custom gateway
    data = tmp_path / "data"
    try:
        with running_app(data) as (url, proc):
            wait_for_http(url, proc)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(url)
            page.get_by_label("Prompt", exact=True).wait_for(timeout=30_000)
            idle(page)
            base = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
            pick(page, "Latency", "none", settle_after=True)

            # 1. Generate, "Edit this image": the result is the reference, and it says so
            page.get_by_label("Prompt", exact=True).fill(KITE)
            page.get_by_role("button", name="Generate").click()
            first_image(page)
            page.get_by_role("button", name="Edit this image").first.click()
            page.get_by_text("is the reference image below").wait_for(timeout=30_000)
            idle(page)
            page.get_by_text("Image 1 of the result being edited: result-").wait_for(timeout=10_000)
            assert page.get_by_text("From the attempt being re-run").count() == 0

            # ... a reload keeps the reference (a file on the server, not a cookie) and the prompt
            reload(page)
            page.get_by_text("Image 1 of the result being edited: result-").wait_for(timeout=10_000)
            page.locator(".st-key-media_queued_refs img").first.wait_for(state="visible", timeout=10_000)  # in sight
            prompt = page.get_by_label("Prompt", exact=True)
            expect(prompt).to_have_value(KITE)
            prompt.fill(EDIT)
            page.get_by_role("button", name="Generate").click()
            page.get_by_text("Prompt of this generation").wait_for(timeout=30_000)
            first_image(page)
            shot(page, "edit")
            store = Store(data_dir=data)
            edit = store.recent_runs(limit=1)[0]
            attempt = store.run(edit["id"])["attempts"][-1]
            assert edit["prompt"] == EDIT and edit["parent_run_id"] and attempt["url"].endswith("/images/edits")

            # 2. History: the two-step chain, with the prompt's diff
            page.goto(f"{base}/history?attempt={attempt['id']}")
            idle(page)
            page.get_by_text("How this image came to be").wait_for(timeout=30_000)
            page.get_by_text("Prompt against step 1: 2 word(s) added, 0 removed").wait_for(timeout=15_000)
            for step in (1, 2):
                page.locator(f".st-key-lineage-{step} [data-testid='stImage'] img").first.wait_for(state="visible", timeout=15_000)
            assert page.locator(".st-key-lineage-2").get_by_text("at night").is_visible()
            shot(page, "lineage")

            # 3. A prompt saved twice: the Library shows the two versions' diff
            go_to(page, "Generate")
            page.get_by_role("button", name="Don't send these").click()  # this is a new prompt, not an edit
            settle(page)
            save_to_library(page, "Lighthouse", V1)
            page.get_by_text("Saved to the library as Lighthouse, version 1.").wait_for(timeout=15_000)
            save_to_library(page, "Lighthouse", V2)
            page.get_by_text("Saved to the library as Lighthouse, version 2.").wait_for(timeout=15_000)
            go_to(page, "Library")
            page.get_by_text("From version 1 to version 2:").wait_for(timeout=15_000)
            assert page.get_by_text("2 words added, 1 removed").count() == 1
            expect(page.locator(".imagelab-diff ins").filter(has_text="red")).to_have_count(1)  # the diff's HTML comes after the counts
            expect(page.locator(".imagelab-diff del").filter(has_text="dusk")).to_have_count(1)
            shot(page, "library")

            # 4. Both versions as Compare rows, run; "Edit and re-run" fills the builder in
            page.get_by_role("button", name="Versions 1 and 2 as Compare rows").click()
            rows = page.get_by_label("Prompts, one per line")
            rows.wait_for(timeout=30_000)
            settle(page)
            assert rows.input_value() == f"{V1}\n{V2}"
            page.get_by_role("button", name="Run the grid").click()
            page.get_by_text("4 succeeded").first.wait_for(timeout=60_000)
            settle(page)
            page.get_by_role("button", name="Edit and re-run").click()
            rows.wait_for(timeout=30_000)
            settle(page)
            assert "comparison=" not in page.url and rows.input_value() == f"{V1}\n{V2}"
            page.get_by_text("2 rows x 2 targets = 4 cells").first.wait_for(timeout=10_000)
            shot(page, "edit-and-rerun")

            # 5. Generate -> Compare -> Generate, then a reload: the prompt, the Custom base URL and the builder kept
            go_to(page, "Generate")
            pick(page, "Provider", "Custom", settle_after=True)
            sidebar_box(page, "Base URL").fill(gateway.base_url)
            sidebar_box(page, "Base URL").press("Enter")
            settle(page)
            page.get_by_label("Prompt", exact=True).fill(DRAFT)
            page.get_by_label("Prompt", exact=True).press("Tab")
            settle(page)
            go_to(page, "Compare")
            assert sidebar_box(page, "Base URL").input_value() == gateway.base_url
            expect(page.get_by_label("Prompts, one per line")).to_have_value(f"{V1}\n{V2}")
            go_to(page, "Generate")
            expect(page.get_by_label("Prompt", exact=True)).to_have_value(DRAFT)
            assert sidebar_box(page, "Base URL").input_value(timeout=10_000) == gateway.base_url
            reload(page)
            expect(page.get_by_label("Prompt", exact=True)).to_have_value(DRAFT)
            assert sidebar_box(page, "Base URL").input_value(timeout=10_000) == gateway.base_url
            assert page.get_by_text("result-").count() == 0  # "Don't send these" was kept too
            go_to(page, "Compare")
            expect(page.get_by_label("Prompts, one per line")).to_have_value(f"{V1}\n{V2}")
            assert page.locator("[data-testid='stException']").count() == 0
            shot(page, "kept")
            store.close()
    finally:
        gateway.stop()
