"""Compare: axes and templates -> cells, plans, judging records."""

from __future__ import annotations

import pytest

from lib import compare as K
from lib import constants as C
from lib.compare import CompareInputError, Target

# --------------------------------------------------------------------------
# Templates


def test_template_expands_to_every_combination_last_variable_fastest():
    rows = K.expand_template("a {animal} in {style} style", {"animal": ["fox", "owl"], "style": ["ink", "oil", "pixel"]})
    assert [r.prompt for r in rows] == [
        "a fox in ink style",
        "a fox in oil style",
        "a fox in pixel style",
        "a owl in ink style",
        "a owl in oil style",
        "a owl in pixel style",
    ]
    assert [r.index for r in rows] == list(range(6))
    assert rows[4].vars == {"animal": "owl", "style": "oil"}


def test_a_variable_used_twice_takes_the_same_value_and_braces_can_be_literal():
    rows = K.expand_template("{x} and {x} {{literal}}", {"x": ["a", "b"]})
    assert [r.prompt for r in rows] == ["a and a {literal}", "b and b {literal}"]


@pytest.mark.parametrize(
    "template, values, words",
    [
        ("a {animal in ink", {"animal": ["fox"]}, "never closed"),
        ("a animal} in ink", {}, "no '{' before it"),
        ("a {} in ink", {}, "empty {}"),
        ("a {two words}", {}, "not a variable name"),
        ("a {a{b}}", {}, "never closed"),
        ("a {animal} in {style}", {"animal": ["fox"]}, "no values were given for it: add a line like style = "),
        ("a {animal}", {"animal": ["fox"], "colour": ["red"]}, "colour, which the template does not use"),
        ("a plain prompt", {}, "no variables"),
        ("   ", {}, "Write a template"),
        ("{a}", {"a": [""]}, "comes out empty"),
    ],
)
def test_malformed_templates_say_what_to_fix(template, values, words):
    with pytest.raises(CompareInputError) as err:
        K.expand_template(template, values)
    assert words in str(err.value)


def test_the_row_cap_is_a_named_constant_with_a_clear_message():
    cap = C.COMPARE_MAX_ROWS
    values = {"a": [str(i) for i in range(cap)], "b": ["x", "y"]}
    assert K.template_row_count("{a}{b}", values) == 2 * cap
    with pytest.raises(CompareInputError, match=rf"{2 * cap} rows, more than the {cap} one grid allows"):
        K.expand_template("{a}{b}", values)
    ok = K.expand_template("{a}", {"a": [str(i) for i in range(cap)]})
    assert len(ok) == cap
    with pytest.raises(CompareInputError, match=f"more than the {cap}"):
        K.prompts_from_lines("\n".join(f"p{i}" for i in range(cap + 1)))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("animal=fox,owl", ("animal", ["fox", "owl"])),
        (" style : ink , oil ,, ink", ("style", ["ink", "oil"])),
        ("x = a big one, small", ("x", ["a big one", "small"])),
    ],
)
def test_value_lists(text, expected):
    assert K.parse_var(text) == expected


@pytest.mark.parametrize(
    "text, words", [("animal", "not a value list"), ("2x=a", "not a variable name"), ("a=", "no values"), ("a= , ,", "no values")]
)
def test_bad_value_lists(text, words):
    with pytest.raises(CompareInputError, match=words):
        K.parse_var(text)


def test_a_variable_given_twice_is_refused():
    with pytest.raises(CompareInputError, match="given twice"):
        K.parse_vars(["a=1", "", "a=2"])


def test_prompts_one_per_line_blank_lines_skipped():
    rows = K.prompts_from_lines("  a fox \n\n an owl\n")
    assert [(r.index, r.prompt) for r in rows] == [(0, "a fox"), (1, "an owl")]
    with pytest.raises(CompareInputError, match="at least one prompt"):
        K.prompts_from_lines(" \n ")
    with pytest.raises(CompareInputError, match="at most"):
        K.prompts_from_lines("x" * (C.MAX_PROMPT_CHARS + 1))


# --------------------------------------------------------------------------
# Targets, the third axis, the plan


@pytest.mark.parametrize(
    "text, target",
    [
        ("openai:gpt-image-2", Target("openai", "gpt-image-2")),
        ("gpt-image-2 @ WisGate", Target("wisgate", "gpt-image-2")),
        ("seedream-4-5 @ evolink", Target("evolink", "seedream-4-5")),
        ("sandbox:m1", Target("sandbox", "m1")),
    ],
)
def test_targets_parse_from_cli_and_page_labels(text, target):
    assert K.parse_target(text) == target
    assert K.parse_target(target.label) == target


def test_target_labels():
    assert Target("openai", "gpt-image-2").label == "gpt-image-2 @ OpenAI"
    assert Target("sandbox", "gpt-image-1.5").label == "gpt-image-1.5 @ Sandbox"
    assert "gpt-image-2 @ EvoLink" in K.target_options()


@pytest.mark.parametrize(
    "text, words", [("nowhere:gpt-image-2", "no known provider"), ("openai:", "names no model"), ("gpt-image-2", "not a target")]
)
def test_bad_targets(text, words):
    with pytest.raises(CompareInputError, match=words):
        K.parse_target(text)


def test_vary_axis_checks_its_values():
    assert K.make_vary(None, []) is None
    axis = K.make_vary("quality", ["low", "high", "low"])
    assert axis.values == ("low", "high") and axis.label("high") == "quality high"
    with pytest.raises(CompareInputError, match="at least two"):
        K.make_vary("quality", ["low"])
    with pytest.raises(CompareInputError, match="not a quality"):
        K.make_vary("quality", ["low", "ultra"])
    with pytest.raises(CompareInputError, match="not a size"):
        K.make_vary("size", ["1024x1024", "big"])
    with pytest.raises(CompareInputError, match="cannot be varied"):
        K.make_vary("prompt", ["a", "b"])


def test_plan_cells_requests_and_keys():
    plan = K.build_plan(
        prompts="a fox\nan owl",
        targets=[Target("sandbox", "gpt-image-2"), Target("openai", "gpt-image-1.5")],
        vary=K.make_vary("quality", ["low", "high"]),
        shared={"size": "1024x1024"},
    )
    assert plan.n_cells == 8 and plan.shape() == "2 rows x 2 targets x 2 quality values = 8 cells"
    cells = plan.cells()
    assert len({c.key for c in cells}) == 8
    first = cells[0]
    assert first.key == "r0c0v0" and first.request.model == "gpt-image-2" and first.request.quality == "low"
    assert first.request.size == "1024x1024" and first.request.n == 1 and not plan.use_fallback
    assert cells[1].target == Target("openai", "gpt-image-1.5")  # row by row, target by target
    assert first.cell() == {
        "key": "r0c0v0",
        "row": 0,
        "col": 0,
        "variant": 0,
        "target": "gpt-image-2 @ Sandbox",
        "provider": "sandbox",
        "model": "gpt-image-2",
        "param": "quality",
        "value": "low",
        "repeat": 0,
    }
    again = K.GridPlan.from_axes(plan.axes())
    assert [(c.key, c.request) for c in again.cells()] == [(c.key, c.request) for c in cells]


def test_plan_caps_cells_and_reports_problems():
    many = [Target("sandbox", m) for m in ("gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini")]
    with pytest.raises(CompareInputError, match=f"more than the {C.COMPARE_MAX_CELLS} cells"):
        K.build_plan(prompts=[f"p{i}" for i in range(C.COMPARE_MAX_ROWS)], targets=many, vary=K.make_vary("quality", ["low", "high"]))
    with pytest.raises(CompareInputError, match="at least one target"):
        K.build_plan(prompts="a", targets=[])
    with pytest.raises(CompareInputError, match="listed twice"):
        K.build_plan(prompts="a", targets=[Target("sandbox", "m"), Target("sandbox", "m")])
    with pytest.raises(CompareInputError, match="need a template"):
        K.build_plan(prompts="a", variables={"a": ["1"]}, targets=many[:1])
    plan = K.build_plan(prompts="a", targets=[Target("sandbox", "gpt-image-1")], shared={"size": "2048x1152"})
    assert any("gpt-image-1 @ Sandbox" in p for p in plan.problems())


# --------------------------------------------------------------------------
# The record and judging


@pytest.fixture
def store(tmp_path):
    from lib.store import Store

    return Store(tmp_path / "imagelab.db")


def test_a_comparison_is_recorded_without_the_key(store):
    from lib.generation import ClientSettings

    plan = K.build_plan(template="a {animal}", variables={"animal": ["fox", "owl"]}, targets=[Target("openai", "gpt-image-2")])
    secret = "sk-cmpREC-q7Xw2Lr9Vt4Nb8Ks3Jd6Hf1Gy5Mc0PaZe"
    cid = K.create_comparison(store, plan, {"openai": ClientSettings(provider="openai", api_key=secret, key_source="typed")})
    row = K.comparison_row(store, cid)
    assert row["status"] == "running" and row["axes"]["rows"][1]["prompt"] == "a owl"
    assert row["settings"]["targets"]["openai"]["base_url"] == "https://api.openai.com/v1"
    dumped = store.db.execute("SELECT * FROM comparisons").fetchall()
    assert secret not in repr(dumped) and secret[-8:] not in repr(dumped)
    listed = K.list_comparisons(store)
    assert listed[0]["id"] == cid and listed[0]["cells"] == 2 and listed[0]["shape"] == "2 rows x 1 target = 2 cells"


def test_judging_is_stored_and_one_winner_per_row(store):
    plan = K.build_plan(prompts="a\nb", targets=[Target("sandbox", "gpt-image-2"), Target("sandbox", "gpt-image-1.5")])
    cid = K.create_comparison(store, plan)
    K.set_winner(store, cid, "r0c0")
    K.set_winner(store, cid, "r0c1")  # moves the star within row 0
    K.set_winner(store, cid, "r1c0")
    K.set_thumb(store, cid, "r0c0", -1)
    K.set_note(store, cid, "r0c0", "  hands look wrong  ")
    view = K.load(store, cid)
    assert view.winners() == {(0, -1): "r0c1", (1, -1): "r1c0"}
    assert view.ratings["r0c0"]["thumb"] == -1 and view.ratings["r0c0"]["note"] == "hands look wrong"
    K.set_winner(store, cid, "r1c0", False)
    K.set_thumb(store, cid, "r0c0", None)
    view = K.load(store, cid)
    assert view.winners() == {(0, -1): "r0c1"} and view.ratings["r0c0"]["thumb"] is None
    with pytest.raises(ValueError):
        K.set_thumb(store, cid, "r0c0", 5)
