"""Diagnostics' "Open a teammate's report": hostile files through the real page (AppTest). Each is
refused with a clear message or shown cut, and says so; the page never raises and draws a bounded
number of elements."""

from __future__ import annotations

import json

import pytest

from lib import constants as C
from tests.support.apptest import all_rendered_text
from tests.support.report_files import SVG, body, bomb_png, picture, thumb

PAGE = "pages/diagnostics.py"


@pytest.fixture
def at(new_app):
    return new_app(PAGE)


def upload(at, content: bytes):
    at.file_uploader(key="diag_upload").set_value(("report.json", content, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_deeply_nested_file_cannot_be_opened_as_a_report(at):
    upload(at, (json.dumps(body())[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode())
    [error] = at.error
    assert "cannot be opened as a report" in error.value and f"nested more than {C.REPORT_MAX_DEPTH} levels" in error.value
    assert at.title[0].value == "Diagnostics"  # the page goes on with its own checks


def test_twenty_thousand_evidence_items_are_shown_cut_and_said(at):
    flood = [{"kind": "history", "text": f"flood item {i}"} for i in range(20_000)]
    upload(at, json.dumps(body(flood)).encode())
    assert "left out to keep it readable" in at.warning[0].value
    texts = [t.value for t in at.text]
    assert any(f"{20_000 - C.REPORT_MAX_EVIDENCE_PER_STEP:,} more were left out" in t for t in texts)
    assert sum("flood item" in t for t in texts) == C.REPORT_MAX_EVIDENCE_PER_STEP
    assert len(texts) < 9 * 2 + C.REPORT_MAX_EVIDENCE_PER_STEP + 10  # a bound on what is drawn, not 20,000 elements


@pytest.mark.parametrize(("data", "mime"), [(SVG, "image/png"), (bomb_png(), "image/png")], ids=["svg-as-png", "bomb"])
def test_a_thumbnail_that_is_not_an_image_is_left_out_and_said(at, data, mime):
    upload(at, json.dumps(body([thumb(data, mime)])).encode())
    assert not at.get("image") and not at.error
    assert "thumbnail(s) could not be shown" in " ".join(t.value for t in at.text)
    assert "the spend probe's image" in " ".join(t.value for t in at.text)  # its evidence is still there


def test_a_real_thumbnail_is_shown_through_the_session(at):
    upload(at, json.dumps(body([thumb(picture(), "image/jpeg")])).encode())
    [image] = at.get("image")
    assert image.proto.imgs[0].url.startswith("data:image/jpeg;base64,") and "/media/" not in all_rendered_text(at)
    assert not at.warning or "left out" not in at.warning[0].value
