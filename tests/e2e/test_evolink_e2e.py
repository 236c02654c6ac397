"""EvoLink rehearsed on the sandbox in real Chromium: one click onto the rehearsal, then an edit with two files."""

from __future__ import annotations

import pytest

from tests.support.e2e_support import APP_IDLE, ARTIFACTS, attach_references, pick, settle
from tests.support.media_support import image_bytes

pytestmark = pytest.mark.e2e


def test_an_edit_with_two_files_on_the_evolink_rehearsal(page, tmp_path):
    fox, owl = tmp_path / "fox.png", tmp_path / "owl.png"
    fox.write_bytes(image_bytes((320, 200)))
    owl.write_bytes(image_bytes((200, 320), colour=(20, 20, 200)))
    pick(page, "Provider", "EvoLink", settle_after=True)
    page.get_by_text("EvoLink: references, callbacks, rehearsal").click()
    page.get_by_role("button", name="Rehearse on the sandbox").click()
    settle(page)
    page.get_by_text("Rehearsing: requests go to the local sandbox").wait_for()
    page.get_by_text("Reference images (edit)").click()
    attach_references(page, [fox, owl])
    page.get_by_label("Prompt", exact=True).fill("the fox meets the owl")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Edited from 2 reference image(s): fox.png, owl.png").wait_for(timeout=40_000)
    page.wait_for_selector(APP_IDLE)
    page.get_by_text("What was sent").first.click()
    settle(page)
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "/evolink/v1/images/generations" in text and "image_urls" in text and "/images/edits" not in text.split("What was sent")[1]
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-evolink-edit.png"), full_page=True)
