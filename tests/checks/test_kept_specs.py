"""A check spec as a grid keeps it: to JSON and back, the reference by its kept path (never its
bytes), and kept entries that are damaged or lost read back safely."""

from __future__ import annotations

import json

import pytest

from lib.checks import CheckRequest, CheckSpec, kept_reader, kept_specs, run_checks, spec_from_dict
from lib.images import ImageKeeper
from tests.checks.support import encode, scene


def test_specs_round_trip_with_the_reference_kept_in_the_data_directory(tmp_path):
    keeper = ImageKeeper(tmp_path)
    reference = encode(scene(1))
    specs = [
        CheckSpec("size"),
        CheckSpec("text", 0.9),
        CheckSpec("similar", 0.8, reference, "ref.png"),
        CheckSpec("judge", rubric="a red fox"),
    ]
    kept = kept_specs(keeper, specs)
    assert "base64" not in json.dumps(kept) and kept[2]["reference_path"].startswith("images/")
    back = [spec_from_dict(e, read_file=kept_reader(keeper)) for e in json.loads(json.dumps(kept))]
    assert [(s.name, s.threshold) for s in back] == [("size", None), ("text", 0.9), ("similar", 0.8), ("judge", None)]
    assert back[2].reference == reference and back[2].reference_name == "ref.png" and back[3].rubric == "a red fox"
    [same] = run_checks(reference, CheckRequest(), [back[2]])
    assert same.passed and same.score == pytest.approx(1.0)


@pytest.mark.parametrize(
    "entry",
    [None, "size", {}, {"name": "colour"}, {"name": 3}],
)
def test_an_entry_that_is_not_a_check_is_left_out(entry):
    assert spec_from_dict(entry) is None


def test_a_bad_threshold_falls_back_to_the_default_and_a_lost_reference_fails_saying_so(tmp_path):
    assert spec_from_dict({"name": "text", "threshold": 7}).threshold is None
    assert spec_from_dict({"name": "text", "threshold": True}).threshold is None
    lost = spec_from_dict(
        {"name": "similar", "reference_path": "images/ab/gone.png", "reference_name": "ref.png"},
        read_file=kept_reader(ImageKeeper(tmp_path)),
    )
    assert lost.reference is None
    outside = spec_from_dict({"name": "similar", "reference_path": "../../etc/passwd"}, read_file=kept_reader(ImageKeeper(tmp_path)))
    assert outside.reference is None  # the keeper reads inside its images folder only
    [result] = run_checks(encode(scene(2)), CheckRequest(), [lost])
    assert not result.passed and "reference image cannot be opened" in result.summary
