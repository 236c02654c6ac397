"""Compare for iterating, without Streamlit: the builder's values from a plan, rows labelled by
their template values, repeats, rows ordered and filtered, the spread of a cell's samples, and
comparison.json written while cells still run."""

from __future__ import annotations

import pytest

from lib import compare as K
from lib.store.records import AttemptRecord

SANDBOX = [K.Target("sandbox", "gpt-image-2"), K.Target("sandbox", "gpt-image-1.5")]


def template_plan(**kw) -> K.GridPlan:
    return K.build_plan(
        template="a {animal} in {style} style",
        variables={"animal": ["fox", "owl"], "style": ["ink"]},
        targets=SANDBOX,
        vary=K.make_vary("quality", ["low", "high"]),
        shared={"size": "1024x1536", "output_format": "webp", "n": 2},
        use_fallback=True,
        title="Foxes and owls",
        **kw,
    )


def rebuild(values: dict) -> K.GridPlan:
    """What the builder does with its inputs (pages/compare.py read_plan)."""
    template = values["template"] if values["rows_mode"] == "Template" else None
    return K.build_plan(
        prompts=values["prompts"] or None,
        template=template,
        variables=K.parse_vars(values["vars"].splitlines()) if template else None,
        targets=[K.parse_target(label) for label in values["targets"]],
        vary=K.make_vary(values["vary"], values["vary_values"]) if values["vary"] else None,
        shared={name: values[name] for name in K.SHARED_DEFAULTS},
        use_fallback=values["fallback"],
        title=values["title"],
        repeats=values["repeats"],
    )


@pytest.mark.parametrize(
    "plan",
    [
        template_plan(repeats=3),
        K.build_plan(prompts="a red fox\nan owl at night", targets=SANDBOX[:1]),
    ],
    ids=["template, third axis, repeats", "prompts per line"],
)
def test_the_builder_values_of_a_plan_build_the_same_plan_again(plan):
    values = plan.builder_values()
    again = rebuild(values)
    assert again.axes() == plan.axes() and again.title == plan.title


def test_a_template_row_is_labelled_by_its_values_and_a_typed_prompt_is_not():
    plan = template_plan()
    assert [r.values_label() for r in plan.rows] == ["animal: fox · style: ink", "animal: owl · style: ink"]
    assert K.build_plan(prompts="a fox", targets=SANDBOX).rows[0].values_label() == ""


def test_repeats_make_one_run_per_sample_keyed_after_the_cell():
    plan = K.build_plan(prompts="a fox", targets=SANDBOX[:1], repeats=3)
    assert [c.key for c in plan.cells()] == ["r0c0", "r0c0s1", "r0c0s2"]
    assert [c.cell()["repeat"] for c in plan.cells()] == [0, 1, 2]
    assert plan.n_cells == 3 and plan.shape() == "1 row x 1 target x 3 samples = 3 cells"
    assert K.GridPlan.from_axes(plan.axes()).repeats == 3
    assert K.GridPlan.from_axes({**plan.axes(), "repeats": "lots"}).repeats == 1  # a stored plan read back, never refused
    for bad in (0, 6, 2.5, "x"):
        with pytest.raises(K.CompareInputError, match="Samples per cell"):
            K.build_plan(prompts="a fox", targets=SANDBOX[:1], repeats=bad)


def cell(key: str, status: str, *, latency: int | None = None, cost: float | None = None, repeat: int = 0) -> K.CellState:
    row, col = int(key[1]), int(key[3])
    attempts = [AttemptRecord(id=1, model="gpt-image-2", status=status, latency_ms=latency, cost_usd=cost)] if status != "running" else []
    return K.CellState(
        key=key,
        row=row,
        col=col,
        variant=None,
        target=SANDBOX[col].label,
        provider="sandbox",
        model=SANDBOX[col].model,
        run_id=key,
        status=status,
        created_at=1.0,
        latency_ms=latency,
        attempts=attempts,
        images=[{"path": "x.png", "format": "PNG"}] if status == "succeeded" else [],
        cost_usd=cost,
        repeat=repeat,
    )


def view_of(plan: K.GridPlan, cells: list[K.CellState], ratings: dict | None = None) -> K.ComparisonView:
    return K.ComparisonView("c1", "t", 1.0, None, "running", plan, {c.key: c for c in cells}, ratings or {}, {})


def test_rows_are_ordered_and_filtered_by_rating_cost_and_latency():
    plan = K.build_plan(prompts="slow\ncheap\nstarred\nrunning", targets=SANDBOX)
    cells = [
        cell("r0c0", "succeeded", latency=9000, cost=0.2),
        cell("r0c1", "succeeded", latency=8000, cost=0.2),
        cell("r1c0", "succeeded", latency=3000, cost=0.01),
        cell("r1c1", "failed", cost=0.0),
        cell("r2c0", "succeeded", latency=1000, cost=0.1),
        cell("r2c1", "succeeded", latency=2000, cost=0.1),
        cell("r3c0", "running"),
    ]
    ratings = {"r2c1": {"row": 2, "variant": -1, "winner": 1, "thumb": None}, "r0c0": {"row": 0, "variant": -1, "winner": 0, "thumb": -1}}
    view = view_of(plan, cells, ratings)
    columns = view.all_columns()
    order = {name: [r.index for r in K.arrange_rows(view, columns, order=name)] for name in K.ROW_ORDERS}
    assert order["grid"] == [0, 1, 2, 3]
    assert order["rating"] == [2, 1, 3, 0]  # a winner first, a thumbs down last
    assert order["cost"] == [1, 2, 0, 3]  # a row with no cost known comes last
    assert order["latency"] == [2, 1, 0, 3]  # the median of its succeeded cells
    show = {name: [r.index for r in K.arrange_rows(view, columns, show=name)] for name in K.ROW_FILTERS}
    assert show == {"all": [0, 1, 2, 3], "rated": [2], "failed": [1], "checks_failed": [], "unfinished": [3]}
    with pytest.raises(ValueError):
        K.arrange_rows(view, columns, order="colour")


def test_the_spread_of_a_cells_samples():
    plan = K.build_plan(prompts="a fox", targets=SANDBOX[:1], repeats=4)
    samples = [
        cell("r0c0", "succeeded", latency=2000, cost=0.04),
        cell("r0c0s1", "succeeded", latency=4000, cost=0.04, repeat=1),
        cell("r0c0s2", "failed", cost=0.0, repeat=2),
        cell("r0c0s3", "running", repeat=3),
    ]
    view = view_of(plan, samples)
    assert [c.key for c in view.samples("r0c0")] == ["r0c0", "r0c0s1", "r0c0s2", "r0c0s3"]
    got = K.spread(view.samples("r0c0"))
    assert (got.samples, got.done, got.succeeded) == (4, 3, 2)
    assert (got.latency_mean_ms, got.latency_stdev_ms) == (3000.0, 1000.0)  # the failed sample has no latency
    assert got.cost_mean_usd == pytest.approx(0.08 / 3)
    assert got.line().startswith("2/4 samples succeeded, 1 running · latency 3.0 s ± 1.0")


def test_comparison_json_written_while_cells_run_lists_them():
    plan = K.build_plan(prompts="a fox\nan owl", targets=SANDBOX)
    view = view_of(plan, [cell("r0c0", "succeeded", latency=1000, cost=0.04), cell("r0c1", "running"), cell("r1c0", "failed")])
    data = K.export_dict(view)
    assert data["still_running"] == ["r0c1", "r1c1"]  # running, and not started yet
    assert [c["status"] for c in data["cells"]] == ["succeeded", "running", "failed", "not started"]
    done = view_of(plan, [cell(k, "succeeded") for k in ("r0c0", "r0c1", "r1c0", "r1c1")])
    assert K.export_dict(done)["still_running"] == []
