"""Cancel under a flood: a provider streaming endless partial images does not keep the page from
taking the click, and the run ends cancelled (its figure: benchmarks/cancel.py)."""

from __future__ import annotations

import pytest

from tests.support.e2e_support import ARTIFACTS, cancel_and_wait, flood_generation
from tests.support.hostile_provider import HostileProvider

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hostile():
    server = HostileProvider(bomb_inflated=1024 * 1024).start()
    yield server
    server.stop()


def test_cancel_during_a_partial_image_flood_ends_the_run_cancelled(page, hostile):
    flood_generation(page, hostile.base_url("stream_endless_partials"))
    page.get_by_text("Partial image").first.wait_for(timeout=30_000)  # the flood is arriving
    cancel_and_wait(page)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator(".st-key-error_card").count() == 0  # cancelled is not an error
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e-cancel-flood.png"), full_page=True)
