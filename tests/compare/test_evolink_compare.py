"""Compare with an EvoLink target rehearsed on the sandbox: every cell uploads the grid's references and sends links."""

from __future__ import annotations

import pytest

from lib import compare as K
from lib.compare import Target
from lib.generation import ClientSettings, ReferenceImage
from lib.providers import REHEARSAL_KEY
from tests.support.media_support import image_bytes

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")


def test_evolink_cells_beside_sandbox_cells(tmp_path, sandbox):
    from lib.jobs import JobRunner
    from lib.store import Store

    store = Store(tmp_path / "data" / "imagelab.db")
    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=4)

    def settings_for(provider: str) -> ClientSettings:
        if provider == "evolink":
            return ClientSettings(provider="evolink", base_url=sandbox.evolink_base_url, api_key=REHEARSAL_KEY, key_source="typed")
        return ClientSettings(provider="sandbox", base_url=sandbox.base_url)

    plan = K.build_plan(
        prompts="the fox at dawn\nthe fox at dusk", targets=[Target("evolink", "gpt-image-2"), Target("sandbox", "gpt-image-2")]
    )
    plan.references = [ReferenceImage("fox.png", image_bytes((96, 64))), ReferenceImage("owl.png", image_bytes((64, 96)))]
    assert not plan.problems()
    uploads = sandbox.sandbox.uploads
    try:
        cid, batch = K.start(store, runner, plan, settings_for)
        assert batch.wait(60), "the grid did not finish"
    finally:
        runner.shutdown(5)
    view = K.load(store, cid)
    assert all(c.ok for c in view.cells.values()), {k: c.error_type for k, c in view.cells.items()}
    evolink = [c for c in view.cells.values() if c.col == 0]
    for cell in evolink:
        row = store.attempt(cell.attempts[0].id)
        assert row["url"].endswith("/evolink/v1/images/generations") and row["task_id"].startswith("task-unified-")
    others = [store.attempt(c.attempts[0].id) for c in view.cells.values() if c.col == 1]
    assert all(r["url"].endswith("/v1/images/edits") for r in others)
    # each cell is a run of its own; the two files are uploaded once or, when both cells start together, once each
    assert 2 <= sandbox.sandbox.uploads - uploads <= 2 * len(evolink)
