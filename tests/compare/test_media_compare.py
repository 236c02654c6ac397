"""Streaming and edits in Compare (lib): reference images apply to the whole grid, streaming to every cell."""

from __future__ import annotations

import pytest

from lib import compare as K
from lib.client import ImageClient
from lib.compare import Target
from lib.generation import ClientSettings, ReferenceImage
from lib.limits import ProviderLimiter
from lib.store import Store
from tests.support.media_support import image_bytes, mask_bytes

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

REF = image_bytes((96, 64))


def plan_with_refs(targets=None):
    plan = K.build_plan(prompts="a fox\nan owl", targets=targets or [Target("sandbox", "gpt-image-2"), Target("sandbox", "gpt-image-1.5")])
    plan.references = [ReferenceImage("ref.png", REF)]
    plan.reference_mask = ReferenceImage("m.png", mask_bytes((96, 64)), "mask")
    plan.stream, plan.partial_images = True, 1
    return plan


def test_every_cell_carries_the_grid_references_and_streaming():
    cells = plan_with_refs().cells()
    assert len(cells) == 4
    for cell in cells:
        assert [r.filename for r in cell.request.images] == ["ref.png"] and cell.request.mask.filename == "m.png"
        assert cell.request.stream and cell.request.partial_images == 1


def test_problems_name_targets_that_cannot_take_the_grid():
    problems = plan_with_refs([Target("sandbox", "gpt-image-2"), Target("sandbox", "seedream-4-5")]).problems()
    assert any("seedream-4-5 does not stream" in p for p in problems)
    assert any("seedream-4-5 takes no mask" in p for p in problems)
    assert not any("gpt-image-2" in p and "cannot" in p for p in problems)


def test_axes_keep_descriptions_and_load_the_files_back(sandbox, tmp_path):
    plan = plan_with_refs()
    axes = plan.axes()
    assert axes["references"][0]["filename"] == "ref.png" and "data" not in axes["references"][0] and axes["stream"] is True
    shown = K.GridPlan.from_axes(axes)  # no loader: described, not sendable
    assert shown.references == [] and shown.reference_entries[0]["filename"] == "ref.png"
    store = Store(tmp_path / "db.sqlite")
    with pytest.raises(ValueError, match="ref.png"):
        K.GridPlan.from_axes(axes, load=store.input_bytes)  # nothing kept yet
    settings = ClientSettings(provider="sandbox", base_url=sandbox.base_url, use_fallback=False)
    with ImageClient(
        settings=settings, recorder=store, keeper=store.keeper, limiter=ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4)
    ) as client:
        out = client.generate(plan.cells()[0].request)
    assert out.ok and out.partial_count == 1
    again = K.GridPlan.from_axes(axes, load=store.input_bytes)
    assert again.references[0].data == REF and again.reference_mask is not None
    assert [(c.key, c.request.images[0].data) for c in again.cells()] == [(c.key, REF) for c in plan.cells()]
