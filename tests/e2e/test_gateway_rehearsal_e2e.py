"""End to end in Chromium, as a user rehearses a gateway: from the sandbox's box to the Custom provider with the
README's dialect file against the sandbox's task API, then an EvoLink edit with two reference files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.dialect_support import README_DIALECT_NAME, install_readme_dialect
from tests.support.e2e_support import ARTIFACTS, attach_references, open_sandbox_behaviour, pick, settle
from tests.support.media_support import image_bytes

pytestmark = pytest.mark.e2e


def test_a_dialect_then_an_evolink_edit_rehearsed_from_the_sidebar(page, tmp_path: Path):
    install_readme_dialect(tmp_path / "data")  # the page fixture's data directory
    ARTIFACTS.mkdir(exist_ok=True)
    open_sandbox_behaviour(page)
    page.get_by_role("button", name="Rehearse a dialect file").click()
    settle(page)
    pick(page, "Gateway dialect", README_DIALECT_NAME, settle_after=True)
    routes = page.get_by_text("Through the dialect 'sandbox jobs', requests go to").first
    routes.wait_for(timeout=10_000)
    assert "recordInfo?taskId={task_id}" in routes.inner_text()
    assert page.get_by_text(re.compile("^Requests go to")).count() == 0  # one caption: the dialect's routes
    page.get_by_text("Reference images (edit)").first.click()
    settle(page)
    page.get_by_text("reference images are refused before sending").first.wait_for(timeout=10_000)
    page.get_by_role("textbox", name="Prompt").fill("a paper boat on a pond")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Done in").first.wait_for(timeout=60_000)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "e2e-dialect-rehearsal.png"), full_page=True)

    pick(page, "Provider", "EvoLink", settle_after=True)
    page.get_by_text("EvoLink: references, callbacks, rehearsal").first.click()
    settle(page)
    page.get_by_role("button", name="Rehearse on the sandbox").click()
    settle(page)
    page.get_by_text("first uploaded to the provider's file host").first.wait_for(state="attached", timeout=10_000)
    fox, owl = tmp_path / "fox.png", tmp_path / "owl.jpg"
    fox.write_bytes(image_bytes((320, 200), colour=(30, 160, 90)))
    owl.write_bytes(image_bytes((64, 64), fmt="JPEG"))
    attach_references(page, [fox, owl])
    page.get_by_role("textbox", name="Prompt").fill("the fox and the owl, together")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Edited from 2 reference image(s): fox.png, owl.jpg.").first.wait_for(timeout=60_000)
    settle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "e2e-evolink-rehearsal-two-files.png"), full_page=True)
