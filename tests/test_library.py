"""The prompt library's rules: names, tags, when a save is a new version, the word diff."""

from __future__ import annotations

import pytest

from lib import library as L


@pytest.mark.parametrize(
    "raw, clean",
    [("  Poster  for\tthe  café ", "Poster for the café"), ("Cafe\u0301 sign", "Café sign"), ("a" * 80, "a" * 80)],
)
def test_names_are_folded_and_trimmed(raw, clean):
    assert L.clean_name(raw) == clean


@pytest.mark.parametrize(
    "raw, words",
    [("", "a name"), ("   ", "a name"), ("a" * 81, "at most 80"), ("evil\u202ename", "invisible"), ("bell\x07", "control")],
)
def test_bad_names_say_which_rule(raw, words):
    with pytest.raises(L.LibraryError, match=words):
        L.clean_name(raw)


def test_names_that_differ_in_case_and_spacing_are_one_prompt():
    assert L.name_key("Neon  Sign") == L.name_key("neon sign") == L.name_key(" NEON SIGN ")
    assert L.name_key("neon sign") != L.name_key("neon signs")


def test_tags_from_text_or_a_list():
    assert L.clean_tags("Poster, #typography,poster ,, Neon\nlogo") == ["poster", "typography", "neon", "logo"]
    assert L.clean_tags(["A", "b", "a"]) == ["a", "b"]
    assert L.clean_tags(None) == [] and L.clean_tags("") == []


@pytest.mark.parametrize(
    "tags, words", [("x" * 25, "at most 24"), (",".join(f"t{i}" for i in range(13)), "At most 12"), ("a\u200bb", "invisible")]
)
def test_bad_tags_say_which_rule(tags, words):
    with pytest.raises(L.LibraryError, match=words):
        L.clean_tags(tags)


def test_a_save_is_a_new_version_only_when_the_text_changed():
    assert L.is_new_version(None, "a fox")
    assert not L.is_new_version("a fox", "a fox\r\n")
    assert L.is_new_version("a fox", "a Fox")
    with pytest.raises(L.LibraryError, match="empty"):
        L.clean_text(" \n ")


def test_the_word_diff_keeps_every_character_and_marks_what_changed():
    old = 'A neon sign that says "OPEN", at night.'
    new = 'A neon sign that says "CLOSED", at dusk, rain.'
    segments = L.word_diff(old, new)
    assert "".join(s.text for s in segments if s.op != "added") == old
    assert "".join(s.text for s in segments if s.op != "removed") == new
    assert ("removed", "OPEN") in [(s.op, s.text) for s in segments] and ("added", "CLOSED") in [(s.op, s.text) for s in segments]
    assert all(a.op != b.op for a, b in zip(segments, segments[1:], strict=False))  # neighbouring runs of a kind are merged
    assert L.diff_counts(segments) == (3, 2)  # CLOSED, dusk, rain / OPEN, night


def test_the_diff_of_equal_texts_is_one_run():
    assert [(s.op, s.text) for s in L.word_diff("same words", "same words")] == [("same", "same words")]
    assert L.word_diff("", "") == []


def test_a_saved_prompt_becomes_one_row_and_a_reference_names_a_version():
    assert L.as_row("a red fox\n\n  in the snow  \n") == "a red fox in the snow"
    assert L.parse_ref("Neon sign") == ("Neon sign", None)
    assert L.parse_ref(" Neon  sign@3 ") == ("Neon sign", 3)
    assert L.parse_ref("user@example") == ("user@example", None)  # not a version number: part of the name
    with pytest.raises(L.LibraryError):
        L.parse_ref("Neon@0")
    assert L.parse_ref("@2") == ("@2", None)  # no name before the @: the whole text is the name
