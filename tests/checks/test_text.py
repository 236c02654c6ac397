"""The text check: quoted pieces of the prompt, normalised, found by edit distance in what OCR read."""

from __future__ import annotations

import pytest

from lib.checks import CheckRequest, parse_spec, run_checks
from lib.checks.ocr import OcrUnavailable, Reading, TesseractEngine, read_text
from lib.checks.text import best_match, check_text, edit_distance, normalise, piece_score, quoted_texts, without_quoted
from tests.checks.support import encode, sign


@pytest.mark.parametrize(
    ("prompt", "pieces"),
    [
        ('a shop sign that says "OPEN" in neon', ["OPEN"]),
        ("a poster: \u201cCaf\u00e9 Noir\u201d and \u201cJazz Night\u201d", ["Caf\u00e9 Noir", "Jazz Night"]),
        ("don't forget the cat's hat", []),
        ("a banner 'SALE' above the door, it's big", ["SALE"]),
        (
            "\u00ab Bonjour \u00bb and \u201eHallo\u201c and \u300c\u3053\u3093\u306b\u3061\u306f\u300d",
            ["Bonjour", "Hallo", "\u3053\u3093\u306b\u3061\u306f"],
        ),
        ('twice "A" then "A" again, and an empty "" and "  !  "', ["A"]),
        ("no quotes at all", []),
        ('an unclosed "quote', []),
    ],
)
def test_quoted_texts(prompt, pieces):
    assert quoted_texts(prompt) == pieces


def test_without_quoted():
    assert without_quoted('a sign "OPEN" and \u201cCLOSED\u201d') == "a sign \u2026 and \u2026"


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Grand  Opening!", "grand opening"),
        ("\uff27\uff32\uff21\uff2e\uff24", "grand"),
        ("50% OFF\n-today-", "50 off today"),
        ("STRASSE", "strasse"),
    ],
)
def test_normalise(raw, norm):
    assert normalise(raw) == norm


@pytest.mark.parametrize(("a", "b", "d"), [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("same", "same", 0)])
def test_edit_distance(a, b, d):
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_best_match_finds_the_stretch_anywhere():
    assert best_match("grand opening", "sandbox poster grand openinq today") == (1, "grand openinq")
    assert best_match("open", "") == (4, "")
    assert best_match("", "anything")[0] == 0


def test_piece_score_takes_the_best_reading():
    score, read = piece_score("GRAND OPENING", ["gr4nd 0pening", "xx GRAND OPENING xx"])
    assert score == 1.0 and read == "grand opening"
    score, read = piece_score("GRAND OPENING", ["GRAND OPENINN"])
    assert score == pytest.approx(1 - 1 / 13) and read == "grand openinn"


class ReadsWhatItIsTold:
    """An OCR engine whose readings the test fixes, to pin the scoring apart from Tesseract."""

    name = "fixed"

    def __init__(self, *texts: str) -> None:
        self.texts = texts

    def read(self, image):
        return [Reading(t, self.name) for t in self.texts]


def test_check_text_scores_the_worst_piece_and_shows_what_was_read():
    req = CheckRequest(prompt='a poster "GRAND OPENING" and "Fresh Bread"')
    result = check_text(sign("x"), req, engine=ReadsWhatItIsTold("GRAND OPENINN\nFresh Bread"))
    assert not result.passed
    assert result.score == pytest.approx(1 - 1 / 13, abs=1e-4)
    assert [(p["asked"], p["read"], p["passed"]) for p in result.detail["pieces"]] == [
        ("GRAND OPENING", "grand openinn", False),
        ("Fresh Bread", "fresh bread", True),
    ]
    assert "Asked \u201cGRAND OPENING\u201d, read \u201cgrand openinn\u201d" in result.summary
    tolerant = check_text(sign("x"), req, threshold=0.9, engine=ReadsWhatItIsTold("GRAND OPENINN\nFresh Bread"))
    assert tolerant.passed


def test_no_quoted_text_passes_without_reading():
    class MustNotRead:
        def read(self, image):
            raise AssertionError("nothing to read")

    result = check_text(sign("x"), CheckRequest(prompt="a quiet lake"), engine=MustNotRead())
    assert result.passed and result.score == 1.0 and "nothing to read" in result.summary


def test_tesseract_reads_a_rendered_sign():
    readings = read_text(sign("GRAND OPENING"))
    assert "GRAND OPENING" in readings[0].text.upper()
    assert readings[0].engine == "tesseract"


def test_tesseract_reads_light_text_on_dark():
    image = sign("Jazz Night", ground=(20, 25, 60), ink=(255, 230, 120))
    result = check_text(image, CheckRequest(prompt='a flyer "Jazz Night"'))
    assert result.passed, result.detail


def test_misspelled_sign_fails_through_run_checks():
    prompt = 'a shop window with "Fresh Coffee"'
    [good] = run_checks(encode(sign("Fresh Coffee")), CheckRequest(prompt=prompt), [parse_spec("text")])
    [bad] = run_checks(encode(sign("Fresh Caffee")), CheckRequest(prompt=prompt), [parse_spec("text")])
    assert good.passed and good.score == 1.0
    assert not bad.passed and bad.detail["pieces"][0]["read"] == "fresh caffee"


def test_missing_tesseract_is_a_failed_check_that_says_so():
    engine = TesseractEngine(binary=None)
    engine.binary = None  # as on a machine without tesseract-ocr
    with pytest.raises(OcrUnavailable, match="apt-get install tesseract-ocr"):
        engine.read(sign("A"))
    [result] = run_checks(encode(sign("HI")), CheckRequest(prompt='"HI"'), [parse_spec("text")], engine=engine)
    assert not result.passed and "could not be read" in result.summary


def test_tesseract_failure_is_reported(tmp_path):
    broken = tmp_path / "tesseract"
    broken.write_text("#!/bin/sh\necho 'Error opening data file eng.traineddata' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(OcrUnavailable, match="exit 1.*eng.traineddata"):
        TesseractEngine(str(broken)).read(sign("A"))
