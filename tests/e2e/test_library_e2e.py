"""The prompt library and Compare's "Edit and re-run" in real Chromium: a prompt saved twice
from Generate shows its two versions' diff on the Library page; a finished grid opened with
"Edit and re-run" fills the builder in; at 390 px every cell names its target."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.e2e_support import APP_IDLE, pick, save_to_library, settle

pytestmark = pytest.mark.e2e


def test_a_prompt_saved_twice_shows_its_diff_and_a_grid_reopens_in_the_builder(page):
    base = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))  # the app's address, without the page's query
    pick(page, "Latency", "none", settle_after=True)
    save_to_library(page, "Lighthouse", "a lighthouse on a basalt cliff at dusk")
    page.get_by_text("Saved to the library as Lighthouse, version 1.").wait_for(timeout=15_000)
    save_to_library(page, "Lighthouse", "a red lighthouse on a basalt cliff at dawn")
    page.get_by_text("Saved to the library as Lighthouse, version 2.").wait_for(timeout=15_000)

    page.goto(base + "/library")
    page.wait_for_selector(APP_IDLE, timeout=30_000)
    page.get_by_text("From version 1 to version 2:").wait_for(timeout=15_000)
    assert page.get_by_text("2 words added, 1 removed").count() == 1  # red and dawn in, dusk out
    expect(page.locator(".imagelab-diff ins").filter(has_text="red")).to_have_count(1)  # the diff's HTML comes after the counts
    expect(page.locator(".imagelab-diff del").filter(has_text="dusk")).to_have_count(1)

    # both versions as Compare rows, run, then Edit and re-run
    page.get_by_role("button", name="Versions 1 and 2 as Compare rows").click()
    page.get_by_label("Prompts, one per line").wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_label("Prompts, one per line").input_value() == (
        "a lighthouse on a basalt cliff at dusk\na red lighthouse on a basalt cliff at dawn"
    )
    page.get_by_text("2 rows x 2 targets = 4 cells").wait_for(timeout=10_000)
    page.get_by_role("button", name="Run the grid").click()
    page.get_by_text("4 succeeded").first.wait_for(timeout=60_000)
    settle(page)

    page.set_viewport_size({"width": 390, "height": 900})  # phone width: the columns stack
    settle(page)
    label = page.locator("[class*='st-key-celltarget-r0c1']")
    assert label.is_visible() and "gpt-image-1.5 @ Sandbox" in label.inner_text()
    page.set_viewport_size({"width": 1400, "height": 1000})
    settle(page)
    assert not page.locator("[class*='st-key-celltarget-r0c1']").is_visible()  # wide: the column headers say it

    page.get_by_role("button", name="Edit and re-run").click()
    page.get_by_label("Prompts, one per line").wait_for(timeout=30_000)
    settle(page)
    assert "comparison=" not in page.url
    assert page.get_by_label("Prompts, one per line").input_value() == (
        "a lighthouse on a basalt cliff at dusk\na red lighthouse on a basalt cliff at dawn"
    )
    page.get_by_text("2 rows x 2 targets = 4 cells").first.wait_for(timeout=10_000)  # the past grid lists it too
