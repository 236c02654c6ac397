"""Text shown to someone else cannot disguise itself: direction overrides and other
invisible format characters are shown, not obeyed, by every escaper."""

from __future__ import annotations

import pytest

from lib.text import code_span, html, literal, markdown, markdown_line

DISGUISES = [
    ("\u202a", "U+202A"),  # left-to-right embedding
    ("\u202b", "U+202B"),
    ("\u202c", "U+202C"),
    ("\u202d", "U+202D"),
    ("\u202e", "U+202E"),  # right-to-left override: "reversed" reads "desrever"
    ("\u2066", "U+2066"),  # isolates
    ("\u2067", "U+2067"),
    ("\u2068", "U+2068"),
    ("\u2069", "U+2069"),
    ("\u200e", "U+200E"),  # marks
    ("\u200f", "U+200F"),
    ("\u061c", "U+061C"),
    ("\u200b", "U+200B"),  # zero-width space
    ("\u200d", "U+200D"),  # zero-width joiner
    ("\ufeff", "U+FEFF"),
    ("\u00ad", "U+00AD"),  # soft hyphen
    ("\u2028", "U+2028"),  # line separator
    ("\U000e0041", "U+E0041"),  # tag character (invisible ASCII)
]


@pytest.mark.parametrize(("char", "name"), DISGUISES)
@pytest.mark.parametrize("escape", [markdown, markdown_line, code_span, html, literal])
def test_each_escaper_shows_the_character_instead_of_obeying_it(escape, char, name):
    out = escape(f"a{char}desrever")
    assert char not in out
    assert name in out
    assert out.endswith("desrever")


def test_markdown_shows_the_name_literally():
    assert markdown("x\u202ey") == "x\\<U+202E\\>y"  # renders as x<U+202E>y
    assert html("x\u202ey") == "x&lt;U+202E&gt;y"
    assert code_span("x\u202ey") == "x<U+202E>y"


def test_plain_text_and_visible_unicode_are_unchanged():
    for text in ("gpt-image-1.5", "un café, 東京, مرحبا, Ελληνικά", "emoji 🦊"):
        assert markdown(text) == text
        assert html(text) == text
        assert code_span(text) == text
        assert literal(text) == text
    assert literal("`*x*` <b>") == "`*x*` <b>"  # markup is the widget's business
