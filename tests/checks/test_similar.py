"""The similar check: SSIM at 64x64 greyscale, threshold the user's."""

from __future__ import annotations

from PIL import Image, ImageEnhance, ImageOps

from lib.checks import CheckRequest, parse_spec, run_checks
from lib.checks.similar import check_similar, dhash, ssim
from tests.checks.support import encode, scene


def test_same_picture_scores_one():
    img = scene(1)
    assert ssim(img, img) > 0.999
    assert dhash(img) == dhash(img.copy())


def test_reencoded_resized_and_brightened_stays_similar():
    img = scene(2, (512, 512))
    from lib.checks._base import open_image

    jpeg = open_image(encode(img, "JPEG"))
    assert ssim(img, jpeg) > 0.9
    assert ssim(img, img.resize((300, 300))) > 0.9
    assert ssim(img, ImageEnhance.Brightness(img).enhance(1.1)) > 0.8


def test_different_pictures_score_low():
    scores = [ssim(scene(a), scene(b)) for a, b in [(3, 4), (5, 6), (7, 8)]]
    assert max(scores) < 0.5, scores
    flat = Image.new("RGB", (256, 256), (128, 128, 128))
    assert ssim(scene(9), flat) < 0.6  # smooth parts of a gradient look alike to SSIM; the shapes do not
    assert ssim(scene(9), ImageOps.invert(scene(9))) < 0.05


def test_threshold_decides():
    a, b = scene(10), scene(10).rotate(8)
    score = ssim(a, b)
    assert 0.0 < score < 1.0
    assert check_similar(a, b, threshold=score - 0.01).passed
    higher = min(1.0, score + 0.01)
    result = check_similar(a, b, threshold=higher, reference_name="ref.png")
    assert not result.passed and "less similar" in result.summary
    assert result.detail["reference"] == "ref.png" and result.detail["threshold"] == higher


def test_transparent_image_flattened_on_white():
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    white = Image.new("RGB", (64, 64), "white")
    assert ssim(rgba, white) > 0.99


def test_through_a_spec_with_a_reference_file(tmp_path):
    ref = tmp_path / "ref.png"
    ref.write_bytes(encode(scene(11)))
    spec = parse_spec(f"similar={ref}@0.9")
    assert spec.threshold == 0.9 and spec.reference_name == "ref.png"
    [same] = run_checks(encode(scene(11)), CheckRequest(), [spec])
    [other] = run_checks(encode(scene(12)), CheckRequest(), [spec])
    assert same.passed and not other.passed
