"""Importing a report someone sent: hostile files are refused clearly or cut to bounded size, and
the page and `imagelab doctor --from` say what was left out. Every hostile file is made here."""

from __future__ import annotations

import json

import pytest

from lib import constants as C
from lib import diagnostics as D
from tests.support.report_files import SVG, body, bomb_png, picture, thumb
from tests.support.source_cli import run

# --------------------------------------------------------------------------
# Nesting


@pytest.mark.parametrize("depth", [C.REPORT_MAX_DEPTH + 1, 800, 100_000])
def test_json_nested_too_deep_cannot_be_opened(depth):
    nested = "[" * depth + "]" * depth
    text = json.dumps(body())[:-1] + f', "extra": {nested}}}'
    with pytest.raises(D.ReportError, match=f"nested more than {C.REPORT_MAX_DEPTH} levels"):
        D.import_report(text)
    with pytest.raises(D.ReportError, match="nested more than"):
        D.import_report(text.encode())


def test_nesting_is_checked_on_a_dict_too():
    deep: list = []
    for _ in range(C.REPORT_MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(D.ReportError, match="nested more than"):
        D.import_report({**body(), "settings": {"x": deep}})


def test_a_report_at_its_real_depth_opens():
    imported = D.import_report(json.dumps(body([{"kind": "history", "text": "x", "links": [{"label": "a", "url": "/history"}]}])))
    assert imported.notes == [] and imported.report.step(3).evidence[0].links[0].url == "/history"


# --------------------------------------------------------------------------
# Thumbnails


def test_a_real_thumbnail_is_kept():
    imported = D.import_report(json.dumps(body([thumb(picture(), "image/jpeg")])))
    assert imported.notes == [] and imported.report.step(3).evidence[0].image.startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    ("data", "mime", "why"),
    [
        (SVG, "image/png", "not a PNG image"),
        (b"<html><script>alert(1)</script></html>", "image/jpeg", "not a JPEG image"),
        (picture("JPEG"), "image/png", "labelled PNG but a JPEG file"),
        (picture("PNG")[:-40], "image/png", "damaged PNG"),
        (picture("PNG", (1000, 1000)), "image/png", "1000x1000 pixels"),
        (bomb_png(12_000), "image/png", "12000x12000 pixels"),
        (bomb_png(), "image/png", "a decompression bomb"),
    ],
    ids=["svg-as-png", "html-as-jpeg", "jpeg-as-png", "truncated", "too-many-pixels", "bomb", "bomb-past-pillows-limit"],
)
def test_a_thumbnail_that_is_not_what_it_says_is_left_out_and_said(data, mime, why):
    imported = D.import_report(json.dumps(body([thumb(data, mime), {"kind": "static", "text": "kept as it was"}])))
    evidence = imported.report.step(3).evidence
    assert [e.text for e in evidence] == ["the spend probe's image", "kept as it was"]  # the evidence stays...
    assert evidence[0].image is None  # ...its image does not
    [note] = imported.notes
    assert "1 thumbnail(s) could not be shown" in note and why in note and "evidence 1 of step 3" in note


def test_many_bad_thumbnails_are_summed_up_in_one_note():
    imported = D.import_report(json.dumps(body([thumb(SVG) for _ in range(7)])))
    [note] = imported.notes
    assert note.startswith("7 thumbnail(s)") and "and 4 more" in note


def test_an_oversized_thumbnail_is_not_decoded():
    imported = D.import_report(json.dumps(body([thumb(b"\x89PNG" + b"\0" * (C.REPORT_THUMB_MAX_BYTES + 1000))])))
    assert imported.report.step(3).evidence[0].image is None and f"over {C.REPORT_THUMB_MAX_BYTES // 1024} KB" in imported.notes[0]


# --------------------------------------------------------------------------
# Sizes


def test_twenty_thousand_evidence_items_are_cut_per_step():
    flood = [
        {"kind": "history", "text": f"attempt {i} failed", "links": [{"label": "open", "url": f"/history?attempt={i}"}]}
        for i in range(20_000)
    ]
    imported = D.import_report(json.dumps(body(flood)))
    kept = imported.report.step(3).evidence
    assert len(kept) == C.REPORT_MAX_EVIDENCE_PER_STEP and kept[-1].text == f"attempt {C.REPORT_MAX_EVIDENCE_PER_STEP - 1} failed"
    assert sum(len(s.evidence) for s in imported.report.steps) == C.REPORT_MAX_EVIDENCE_PER_STEP
    assert imported.notes == [
        f"Step 3: only the first {C.REPORT_MAX_EVIDENCE_PER_STEP} evidence items are shown; "
        f"{20_000 - C.REPORT_MAX_EVIDENCE_PER_STEP:,} more were left out."
    ]


def test_long_texts_links_and_settings_are_cut_and_said():
    item = {"kind": "probe", "text": "x" * 50_000, "prompt": "p" * 9000, "links": [{"label": "l", "url": "/history"}] * 30}
    settings = {f"s{i}": "v" for i in range(500)}
    imported = D.import_report(json.dumps({**body([item]), "settings": settings, "note": "n" * 10_000}))
    e = imported.report.step(3).evidence[0]
    assert len(e.text) < C.REPORT_MAX_TEXT_CHARS + 80 and e.text.endswith("more characters cut on import)")
    assert len(e.prompt) < C.REPORT_MAX_TEXT_CHARS + 80 and len(e.links) == C.REPORT_MAX_LINKS
    assert len(imported.report.settings) == C.REPORT_MAX_SETTINGS and len(imported.report.note) < C.REPORT_MAX_TEXT_CHARS + 80
    text = " ".join(imported.notes)
    assert f"first {C.REPORT_MAX_SETTINGS} of its 500 settings" in text
    assert f"20 links past the first {C.REPORT_MAX_LINKS}" in text
    assert f"3 text(s) longer than {C.REPORT_MAX_TEXT_CHARS:,} characters were cut" in text


def test_the_file_size_bound_still_holds():
    with pytest.raises(D.ReportError, match="a report is at most"):
        D.import_report(b" " * (C.DIAG_MAX_REPORT_BYTES + 1))


# --------------------------------------------------------------------------
# imagelab doctor --from


def test_doctor_from_a_deeply_nested_file_exits_2_with_the_reason(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(body())[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}")
    p = run("doctor", "--from", str(path), "--data-dir", str(tmp_path / "data"))
    assert p.returncode == 2 and "nested more than" in p.stderr and "Traceback" not in p.stderr


def test_doctor_from_a_flooded_file_says_what_it_left_out(tmp_path):
    flood = [thumb(bomb_png(), "image/png")] + [{"kind": "history", "text": f"attempt {i}"} for i in range(20_000)]
    path = tmp_path / "flood.json"
    path.write_text(json.dumps(body(flood)))
    p = run("doctor", "--from", str(path), "--data-dir", str(tmp_path / "data"), "--markdown")
    assert p.returncode == 0, p.stderr
    assert f"{20_001 - C.REPORT_MAX_EVIDENCE_PER_STEP:,} more were left out" in p.stderr
    assert "thumbnail(s) could not be shown" in p.stderr and "Traceback" not in p.stderr
    assert p.stdout.count("attempt ") == C.REPORT_MAX_EVIDENCE_PER_STEP - 1  # the bomb's item is the first of the kept ones
