"""The size check: size, format and background as asked, judged on the bytes."""

from __future__ import annotations

import pytest
from PIL import Image

from lib.checks import CheckRequest, parse_spec, run_checks
from lib.checks.size import check_size, transparent_share
from tests.checks.support import encode


def opened(data: bytes) -> Image.Image:
    from lib.checks._base import open_image

    return open_image(data)


@pytest.mark.parametrize(
    ("asked", "got", "passed"),
    [
        ("1024x1024", (1024, 1024), True),
        ("1536x1024", (1024, 1536), False),
        ("1024x1024", (1024, 768), False),
        ("auto", (1536, 1024), True),
        ("16:9", (1920, 1088), True),  # 1.765 vs 1.778: within 2 %
        ("16:9", (1024, 1024), False),
        ("2:3", (1024, 1536), True),
        ("2K", (2048, 2048), True),  # a resolution tier: no size asked
    ],
)
def test_size_aspect(asked, got, passed):
    image = opened(encode(Image.new("RGB", got, "white")))
    result = check_size(image, CheckRequest(size=asked))
    assert result.passed is passed
    assert result.score == (1.0 if passed else 0.0)
    if not passed:
        assert f"{got[0]}x{got[1]}" in result.summary


def test_format_is_read_from_the_bytes():
    jpeg = opened(encode(Image.new("RGB", (64, 64), "red"), "JPEG"))
    result = check_size(jpeg, CheckRequest(size="64x64", output_format="png"))
    assert not result.passed and result.score == 0.5
    row = next(r for r in result.detail["aspects"] if r["aspect"] == "format")
    assert row == {"aspect": "format", "asked": "png", "got": "jpeg", "passed": False}
    assert check_size(jpeg, CheckRequest(output_format="jpeg")).passed


def test_transparent_needs_see_through_pixels():
    opaque_rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 255))  # has an alpha channel, all of it opaque
    assert transparent_share(opaque_rgba) == 0.0
    result = check_size(opened(encode(opaque_rgba)), CheckRequest(background="transparent"))
    assert not result.passed and "no see-through pixels" in result.summary

    holed = opaque_rgba.copy()
    holed.paste((0, 0, 0, 0), (0, 0, 10, 40))  # a quarter transparent
    assert transparent_share(holed) == pytest.approx(0.25)
    assert check_size(opened(encode(holed)), CheckRequest(background="transparent")).passed
    assert not check_size(opened(encode(holed)), CheckRequest(background="opaque")).passed


def test_palette_transparency_counts():
    pal = Image.new("P", (20, 20), 0)
    pal.info["transparency"] = 0
    assert check_size(opened(encode(pal)), CheckRequest(background="transparent")).passed


def test_nothing_asked_passes_and_says_so():
    result = check_size(opened(encode(Image.new("RGB", (30, 20)))), CheckRequest())
    assert result.passed and result.score == 1.0 and "nothing specific" in result.summary


def test_request_from_stored_params():
    req = CheckRequest.from_params("p", {"size": "1024x1536", "output_format": "WEBP", "background": "transparent", "n": 2})
    assert (req.size, req.output_format, req.background) == ("1024x1536", "webp", "transparent")
    assert CheckRequest.from_params("p", None).size == "auto"


def test_not_an_image_fails_every_check_with_a_reason():
    results = run_checks(b"<html>no</html>", CheckRequest(prompt='"HI"'), [parse_spec("size"), parse_spec("text")])
    assert [r.name for r in results] == ["size", "text"]
    assert all(not r.passed and r.score == 0.0 and "not an image" in r.summary for r in results)
