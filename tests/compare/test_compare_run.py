"""Compare: grids run on the real sandbox through the engine's JobRunner;
cell bookkeeping, fallback, retry, cancel, contact sheet and ZIP export."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image

from lib import compare as K
from lib import constants as C
from lib.compare import Target
from lib.errors import ERROR_INFO
from lib.generation import ClientSettings
from tests.support.wait_until import wait_until

GPT2, GPT15 = Target("sandbox", "gpt-image-2"), Target("sandbox", "gpt-image-1.5")


def settings_for(sandbox, **changes):
    def build(provider: str) -> ClientSettings:
        assert provider == "sandbox"
        return ClientSettings(provider="sandbox", base_url=sandbox.base_url, rate_per_s=100.0, max_concurrency=8, **changes)

    return build


def run_grid(store, runner, sandbox, plan, **changes):
    cid, batch = K.start(store, runner, plan, settings_for(sandbox, **changes))
    assert batch.wait(30), "the grid did not finish"
    return cid, batch


def two_by_two(**kw):
    # '#fallback' makes the sandbox refuse gpt-image-2 only: exactly one failing cell
    return K.build_plan(prompts="a red fox in the snow\nan owl at night #fallback", targets=[GPT2, GPT15], **kw)


def test_a_grid_runs_every_cell_as_a_compare_run_and_reads_back(store, runner, sandbox):
    cid, batch = run_grid(store, runner, sandbox, two_by_two())
    assert len(batch.jobs) == 4
    runs = list(store.db.query("SELECT kind, comparison_id, cell FROM runs ORDER BY created_at"))
    assert {r["kind"] for r in runs} == {"compare"} and {r["comparison_id"] for r in runs} == {cid}
    assert sorted(json.loads(r["cell"])["key"] for r in runs) == ["r0c0", "r0c1", "r1c0", "r1c1"]

    view = K.load(store, cid)
    assert view.status == "done" and view.finished_at is not None and not view.running
    ok = {k for k, c in view.cells.items() if c.ok}
    assert ok == {"r0c0", "r0c1", "r1c1"}
    bad = view.cells["r1c0"]
    assert bad.status == "failed" and bad.error_type == "model_not_found" and bad.error_title == ERROR_INFO["model_not_found"].title
    assert not bad.images and bad.error().error_type == "model_not_found"
    for key in ok:
        c = view.cells[key]
        assert len(c.images) == 1 and c.latency_ms is not None and c.cost_usd and c.cost_usd > 0
        assert c.model_used == c.model and not c.fell_back and len(c.attempts) == 1
    assert view.counts() == {"queued": 0, "running": 0, "succeeded": 3, "failed": 1, "cancelled": 0, "interrupted": 0, "planned": 4}

    K.set_winner(store, cid, "r0c1")
    summary = {s.label: s for s in K.summary(K.load(store, cid))}
    assert summary["gpt-image-2 @ Sandbox"].succeeded == 1 and summary["gpt-image-2 @ Sandbox"].cells == 2
    assert summary["gpt-image-2 @ Sandbox"].error_types == {"model_not_found": 1}
    assert summary["gpt-image-1.5 @ Sandbox"].succeeded == 2 and summary["gpt-image-1.5 @ Sandbox"].winners == 1
    cost = sum(c.cost_usd for c in view.cells.values() if c.col == 1)
    assert summary["gpt-image-1.5 @ Sandbox"].cost_usd == pytest.approx(cost)
    lat = sorted(view.cells[k].latency_ms for k in ("r0c1", "r1c1"))
    assert summary["gpt-image-1.5 @ Sandbox"].median_latency_ms == pytest.approx(sum(lat) / 2)
    assert "1/2 succeeded" in summary["gpt-image-2 @ Sandbox"].line()

    listed = K.list_comparisons(store)[0]
    assert listed["id"] == cid and listed["counts"]["succeeded"] == 3 and listed["counts"]["failed"] == 1


def test_with_fallback_on_the_cell_says_which_model_answered(store, runner, sandbox):
    cid, _ = run_grid(store, runner, sandbox, two_by_two(use_fallback=True))
    cell = K.load(store, cid).cells["r1c0"]
    assert cell.ok and cell.model == "gpt-image-2" and cell.model_used == "gpt-image-1.5" and cell.fell_back
    assert [a.status for a in cell.attempts] == ["failed", "succeeded"]


def test_fallback_is_off_by_default_even_when_the_provider_settings_have_it(store, runner, sandbox):
    cid, batch = run_grid(store, runner, sandbox, two_by_two(), use_fallback=True)
    assert all(not job.spec.settings.use_fallback for job in batch.jobs)
    assert K.load(store, cid).cells["r1c0"].error_type == "model_not_found"


def test_retry_runs_the_failed_cells_only(store, runner, sandbox):
    cid, _ = run_grid(store, runner, sandbox, two_by_two())
    batch = K.retry_cells(store, runner, cid, settings_for(sandbox))
    assert [job.spec.cell["key"] for job in batch.jobs] == ["r1c0"]
    assert batch.wait(30)
    view = K.load(store, cid)
    assert view.cells["r1c0"].tries == 2 and view.cells["r1c0"].error_type == "model_not_found"
    assert all(view.cells[k].tries == 1 for k in ("r0c0", "r0c1", "r1c1"))
    assert K.retry_cells(store, runner, cid, settings_for(sandbox), keys=["r0c0"]) is not None  # a chosen cell may run again
    assert view.status == "done"


def test_rerun_makes_a_new_comparison_with_the_same_axes(store, runner, sandbox):
    cid, _ = run_grid(store, runner, sandbox, two_by_two())
    new_id, batch = K.rerun(store, runner, cid, settings_for(sandbox))
    assert batch.wait(30) and new_id != cid
    old, new = K.load(store, cid), K.load(store, new_id)
    assert new.plan.axes() == old.plan.axes() and new.title.endswith("(again)")
    assert {k for k, c in new.cells.items() if c.ok} == {"r0c0", "r0c1", "r1c1"}


def test_cancel_leaves_every_cell_cancelled_not_pending(store, runner, sandbox):
    plan = K.build_plan(prompts="one\ntwo\nthree", targets=[GPT2, GPT15])
    cid, batch = K.start(
        store,
        runner,
        plan,
        lambda pid: ClientSettings(
            provider="sandbox", base_url=sandbox.base_url, max_concurrency=1, rate_per_s=100.0, extra_headers={"X-Sandbox-Latency": "20"}
        ),
    )
    wait_until(
        lambda: any(job.status == "running" and job.events for job in batch.jobs), timeout=10, interval=0.02, message="no cell started"
    )
    states = K.load(store, cid).cells
    assert {c.status for c in states.values()} <= {"queued", "running"}
    asked = K.cancel(store, runner, cid)
    assert asked == 6
    assert batch.wait(15), "cancel did not stop the grid"
    view = K.load(store, cid)
    assert {c.status for c in view.cells.values()} == {"cancelled"}
    assert all(c.error_type is None for c in view.cells.values())
    rows = list(
        store.db.query("SELECT status, error_type FROM attempts WHERE run_id IN (SELECT id FROM runs WHERE comparison_id = ?)", [cid])
    )
    assert rows and all(r["status"] == "cancelled" and r["error_type"] is None for r in rows)
    assert not list(store.db.query("SELECT id FROM runs WHERE comparison_id = ? AND status NOT IN ('cancelled')", [cid]))
    assert view.status == "cancelled" and view.finished_at is not None
    assert K.summary(view)[0].failed == 0  # cancelled is no failure


def test_one_cell_can_be_cancelled_alone(store, runner, sandbox):
    plan = K.build_plan(prompts="one\ntwo", targets=[GPT2])
    cid, batch = K.start(
        store,
        runner,
        plan,
        lambda pid: ClientSettings(
            provider="sandbox", base_url=sandbox.base_url, max_concurrency=1, rate_per_s=100.0, extra_headers={"X-Sandbox-Latency": "0.5"}
        ),
    )
    assert K.cancel(store, runner, cid, keys=["r1c0"]) == 1
    assert batch.wait(15)
    view = K.load(store, cid)
    assert view.cells["r0c0"].ok and view.cells["r1c0"].status == "cancelled" and view.status == "done"


def test_queued_cells_say_how_many_wait_ahead_on_which_provider(store, runner, sandbox):
    plan = K.build_plan(prompts="\n".join(f"p{i}" for i in range(4)), targets=[GPT2])
    cid, batch = K.start(
        store,
        runner,
        plan,
        lambda pid: ClientSettings(
            provider="sandbox", base_url=sandbox.base_url, max_concurrency=1, rate_per_s=100.0, extra_headers={"X-Sandbox-Latency": "2"}
        ),
    )
    try:
        notes: list[str] = []

        def one_sends_three_wait() -> bool:  # one cell sends, three wait for the provider's one slot
            notes[:] = [K.live_note(job) for job in batch.jobs]
            return "queued: 2 ahead on Sandbox" in notes and any(n.startswith("running") for n in notes)

        wait_until(one_sends_three_wait, timeout=5, interval=0.02, message=lambda: f"the cells say {notes}")
    finally:
        batch.cancel()
        batch.wait(10)


# --------------------------------------------------------------------------
# Exports


def test_contact_sheet_has_the_grid_dimensions_labels_images_and_chips(store, runner, sandbox):
    cid, _ = run_grid(store, runner, sandbox, two_by_two(title="Foxes and owls"))
    K.set_winner(store, cid, "r0c0")
    view = K.load(store, cid)
    sheet, layout = K.contact_sheet(store, view)
    cell, pad = C.COMPARE_SHEET_CELL_PX, C.COMPARE_SHEET_PAD_PX
    assert sheet.size == (layout.width, layout.height)
    assert layout.width == C.COMPARE_SHEET_LABEL_PX + pad + 2 * (cell + pad)
    assert layout.height == C.COMPARE_SHEET_HEADER_PX + pad + 2 * (cell + pad)
    assert [label for label, _ in layout.columns] == ["gpt-image-2 @ Sandbox", "gpt-image-1.5 @ Sandbox"]
    assert [label for label, _ in layout.rows] == ["a red fox in the snow", "an owl at night #fallback"]
    assert {k: kind for k, (kind, _) in layout.cells.items()} == {"r0c0": "image", "r0c1": "image", "r1c0": "error", "r1c1": "image"}
    assert "model_not_found" in layout.texts and ERROR_INFO["model_not_found"].title in layout.texts and "Foxes and owls" in layout.texts
    # the chip is drawn in its cell, the image fills its own
    x0, y0, x1, y1 = layout.cells["r1c0"][1]
    colours = {sheet.getpixel((x, (y0 + y1) // 2)) for x in range(x0, x1)}
    assert K.CHIP_FILL in colours and K.CHIP_EDGE in colours
    x0, y0, x1, y1 = layout.cells["r0c1"][1]
    assert len({sheet.getpixel((x, (y0 + y1) // 2)) for x in range(x0, x1, 4)}) > 3
    assert K.CHIP_FILL not in {sheet.getpixel((x, (y0 + y1) // 2)) for x in range(x0, x1)}
    # the winner's star in the corner of its cell
    x0, y0, x1, _ = layout.cells["r0c0"][1]
    assert sheet.getpixel((x1 - 18, y0 + 18)) == K.STAR_FILL
    png = Image.open(io.BytesIO(K.contact_sheet_png(store, view)))
    assert png.format == "PNG" and png.size == sheet.size


def test_contact_sheet_with_a_third_axis_has_a_column_per_target_and_value(store, runner, sandbox):
    plan = K.build_plan(prompts="a fox", targets=[GPT2, GPT15], vary=K.make_vary("quality", ["low", "high"]))
    cid, _ = run_grid(store, runner, sandbox, plan)
    sheet, layout = K.contact_sheet(store, K.load(store, cid))
    assert len(layout.columns) == 4 and len(layout.rows) == 1
    assert layout.width == C.COMPARE_SHEET_LABEL_PX + C.COMPARE_SHEET_PAD_PX + 4 * (C.COMPARE_SHEET_CELL_PX + C.COMPARE_SHEET_PAD_PX)
    assert "quality low" in layout.texts and "quality high" in layout.texts
    assert set(layout.cells) == {"r0c0v0", "r0c1v0", "r0c0v1", "r0c1v1"}


def test_zip_holds_the_images_and_comparison_json_never_the_key(store, runner, sandbox):
    secret = "sk-cmpZIP-Wq4Rt7Yu2Io9Pa3Sd6Fg1Hj8Kl5ZxCvBn"
    cid, _ = run_grid(store, runner, sandbox, two_by_two(), api_key=secret, key_source="typed")
    K.set_thumb(store, cid, "r0c0", 1)
    K.set_note(store, cid, "r0c0", f"nice, key was {secret}")
    K.set_winner(store, cid, "r1c1")
    view = K.load(store, cid)
    data = K.export_zip(store, view)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = zf.namelist()
    images = [n for n in names if n.startswith("images/")]
    assert len(images) == 3 and "comparison.json" in names and "contact_sheet.png" in names
    for name in images:
        Image.open(io.BytesIO(zf.read(name))).verify()
    doc = json.loads(zf.read("comparison.json"))
    assert doc["format"] == "imagelab-comparison/1" and doc["id"] == cid
    assert doc["axes"]["targets"] == ["gpt-image-2 @ Sandbox", "gpt-image-1.5 @ Sandbox"]
    assert doc["models_used"] == ["gpt-image-1.5", "gpt-image-2"]
    cells = {c["cell"]: c for c in doc["cells"]}
    assert cells["r1c0"]["error_type"] == "model_not_found" and cells["r1c0"]["ok"] is False and cells["r1c0"]["images"] == []
    assert cells["r0c0"]["model_used"] == "gpt-image-2" and cells["r0c0"]["latency_ms"] > 0 and cells["r0c0"]["cost_usd"] > 0
    assert cells["r0c0"]["thumb"] == 1 and set(cells["r0c0"]["images"]) <= set(names)
    assert doc["winners"] == [{"row": 2, "variant": None, "cell": "r1c1", "target": "gpt-image-1.5 @ Sandbox"}]
    for blob in [data, *(zf.read(n) for n in names)]:
        assert secret.encode() not in blob and secret[-12:].encode() not in blob
