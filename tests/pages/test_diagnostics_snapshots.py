"""Diagnostics' saved snapshots: two saved in the same minute still read apart in the Before/After
pickers, and picking one snapshot twice says so instead of comparing it with itself."""

from __future__ import annotations

PAGE = "pages/diagnostics.py"


def save(at, note: str):
    at.text_input(key="diag_note").set_value(note).run()
    at.button(key="diag_save").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_two_snapshots_read_apart_and_one_twice_is_not_compared(new_app):
    at = new_app(PAGE)
    save(at, "before rotating the key \u202e")
    save(at, "after rotating the key, with a note long enough to be cut in the picker")
    before, after = at.selectbox(key="diag_cmp_before"), at.selectbox(key="diag_cmp_after")
    labels = before.options
    assert len(labels) == 2 and labels[0] != labels[1]
    assert "after rotating the key, with a note long…" in labels[0] and "before rotating the key <U+202E>" in labels[1]
    assert all(" UTC · " in label for label in labels)  # to the second, in UTC
    assert any(c.value.startswith("Saved ") and "result: " in c.value for c in at.caption)
    assert not any("same snapshot" in i.value for i in at.info)
    after.set_value(before.value).run()
    assert any("same snapshot: pick two different ones" in i.value for i in at.info)
