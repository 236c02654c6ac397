"""End to end in Chromium: generate on the sandbox, "Edit this image", generate the edit with a
new prompt, and see History's two-step chain with the prompt diff."""

from __future__ import annotations

import pytest

from lib.store import Store
from tests.support.e2e_support import APP_IDLE, ARTIFACTS

pytestmark = pytest.mark.e2e


def test_an_edit_of_a_result_shows_as_a_two_step_chain_in_history(page, tmp_path):
    page.get_by_label("Prompt", exact=True).fill("a red kite over dunes")
    page.get_by_role("button", name="Generate").click()
    page.locator("[data-testid='stImage'] img").first.wait_for(state="visible", timeout=30_000)
    page.get_by_role("button", name="Edit this image").first.click()
    page.get_by_text("is the reference image below").wait_for(timeout=30_000)
    prompt = page.get_by_label("Prompt", exact=True)
    assert prompt.input_value() == "a red kite over dunes"
    prompt.fill("a red kite over dunes at night")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Prompt of this generation").wait_for(timeout=30_000)
    page.locator("[data-testid='stImage'] img").first.wait_for(state="visible", timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0

    store = Store(data_dir=tmp_path / "data")
    try:
        edit = store.recent_runs(limit=1)[0]
        assert edit["parent_run_id"] and edit["prompt"] == "a red kite over dunes at night"
        attempt = store.run(edit["id"])["attempts"][-1]
        assert attempt["url"].endswith("/images/edits")
    finally:
        store.close()

    url = page.url.split("/?")[0].rstrip("/")
    page.goto(f"{url}/history?attempt={attempt['id']}")
    page.wait_for_selector(APP_IDLE, timeout=30_000)
    page.get_by_text("How this image came to be").wait_for(timeout=30_000)
    page.get_by_text("Step 2").wait_for(timeout=15_000)
    assert page.get_by_text("edit of the step before").is_visible()
    page.get_by_text("Prompt against step 1: 2 word(s) added, 0 removed").wait_for(timeout=15_000)
    assert page.locator(".st-key-lineage-2").get_by_text("at night").is_visible()
    for step in (1, 2):  # each step with its image
        page.locator(f".st-key-lineage-{step} [data-testid='stImage'] img").first.wait_for(state="visible", timeout=15_000)
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-lineage.png"), full_page=True)
