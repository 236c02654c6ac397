"""Check specs as the CLI and the pages take them; bad ones say what to write."""

from __future__ import annotations

import pytest

from lib.checks import CheckSpec, SpecError, parse_spec
from tests.checks.support import encode, scene


def test_plain_specs():
    assert parse_spec("size") == CheckSpec("size")
    assert parse_spec(" TEXT ") == CheckSpec("text")
    assert parse_spec("text=0.8") == CheckSpec("text", 0.8)
    assert parse_spec("judge=the fox is red").rubric == "the fox is red"


def test_similar_reads_its_reference(tmp_path):
    path = tmp_path / "my ref@2x.png"
    path.write_bytes(encode(scene(1)))
    spec = parse_spec(f"similar={path}")  # an @ inside the name is not a threshold
    assert spec.threshold is None and spec.reference_name == "my ref@2x.png" and spec.reference
    assert parse_spec(f"similar={path}@0.7").threshold == 0.7


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sharpness", "Unknown check"),
        ("size=1024x1024", "takes no value"),
        ("text=high", "not a number"),
        ("text=1.5", "outside 0 to 1"),
        ("similar", "needs a reference"),
        ("judge", "needs a rubric"),
        ("similar=/no/such/file.png", "Cannot read the reference"),
    ],
)
def test_bad_specs(spec, words):
    with pytest.raises(SpecError, match=words):
        parse_spec(spec)


def test_reference_that_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(SpecError, match="not an image"):
        parse_spec(f"similar={path}")
