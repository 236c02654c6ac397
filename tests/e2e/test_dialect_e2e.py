"""End to end in Chromium: a gateway described by the README's dialect file, chosen in the sidebar for the
Custom provider, generates from Generate against the sandbox's task API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.dialect_support import README_DIALECT_NAME, install_readme_dialect
from tests.support.e2e_support import pick, settle

pytestmark = pytest.mark.e2e


def test_a_gateway_dialect_chosen_in_the_sidebar_generates(page, sandbox, tmp_path: Path):
    install_readme_dialect(tmp_path / "data")  # the data directory the page fixture's app uses; read on every page run
    pick(page, "Provider", "Custom", settle_after=True)
    base = page.get_by_role("textbox", name="Base URL").first
    base.fill(sandbox.base_url)
    base.press("Enter")
    settle(page)
    pick(page, "Gateway dialect", README_DIALECT_NAME, settle_after=True)
    page.get_by_text("/api/v1/jobs/recordInfo?taskId=").first.wait_for(timeout=10_000)  # where requests go through it

    def jobs_tasks() -> int:
        return sum(1 for task in list(sandbox.sandbox._tasks.values()) if task.get("dialect") == "jobs")

    before = jobs_tasks()
    page.get_by_role("textbox", name="Prompt").fill("a paper boat on a pond")
    page.get_by_role("button", name="Generate").click()
    page.locator("[data-testid='stImage'] img").first.wait_for(state="visible", timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0
    assert jobs_tasks() == before + 1  # one task, created on the sandbox's task API
