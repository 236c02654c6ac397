"""Provider and user text, made safe for where it is shown.

One escaper per medium: ``markdown`` for anything Streamlit renders as
Markdown and for exported Markdown reports, ``html`` for exported HTML, and
``code_span`` for text inside a Markdown code span. Each masks registered
secrets first (``lib.redact.scrub``), so nothing shown can carry a key.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

from lib.redact import scrub

_MD_INLINE = re.compile(r"([\\`*_\[\]<>$~|&])")  # inline Markdown, LaTeX, HTML and entities
_MD_LINE_START = re.compile(r"(?m)^(\s*)(?:([-+=#>])|(\d+)([.)]))")  # lists, headings, quotes, setext lines
_WORD_JOINER = "\u2060"  # invisible; breaks autolinks, emoji and icon shortcodes and :color[...] directives
_BREAK_AFTER = re.compile(r"([:@])(?=\S)")
_WWW = re.compile(r"(?i)(w)(ww)")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def markdown(text: Any, *, limit: int | None = None, one_line: bool = False) -> str:
    """Text from a provider or a user, made safe to place inside Markdown (st.markdown,
    captions, st.error/warning, labels, metric values, help, a report's table):
    secrets masked, Markdown, LaTeX and HTML characters escaped, and autolinks
    (``http://``, ``www.``, e-mail), emoji and icon shortcodes and ``:red[...]``
    directives broken with an invisible word joiner. It renders as the literal
    text: no images load, no links appear. Plain words come through unchanged
    (``gpt-image-1.5``, ``Attempt 1: ok``). ``one_line`` folds line breaks into
    spaces (a table cell, a heading). For long text prefer ``st.text`` or
    ``st.code(..., language=None)``, which are literal already."""
    if text is None:
        return ""
    value = scrub(str(text), limit=limit)
    if one_line:
        value = _LINE_BREAKS.sub(" ", value)
    value = _MD_INLINE.sub(r"\\\1", value)
    value = _MD_LINE_START.sub(lambda m: m.group(1) + ("\\" + m.group(2) if m.group(2) else m.group(3) + "\\" + m.group(4)), value)
    value = _BREAK_AFTER.sub(lambda m: m.group(1) + _WORD_JOINER, value)
    value = _WWW.sub(lambda m: m.group(1) + _WORD_JOINER + m.group(2), value)
    return value.replace("\r", "").replace("\n", "  \n")


def markdown_line(text: Any, *, limit: int | None = None) -> str:
    """``markdown`` on one line: a table cell, a heading, a list item."""
    return markdown(text, limit=limit, one_line=True)


def code_span(text: Any) -> str:
    """Text for inside a Markdown code span (`...`): one line, no backtick to end it early."""
    return _LINE_BREAKS.sub(" ", scrub(str(text))).replace("`", "'")


def html(text: Any) -> str:
    """Text (or an attribute value) for an HTML document: secrets masked, every markup character escaped."""
    return _html.escape(scrub("" if text is None else str(text)), quote=True)
