"""Provider and user text, made safe for where it is shown.

One escaper per medium: ``markdown`` for anything Streamlit renders as
Markdown and for exported Markdown reports, ``html`` for exported HTML,
``code_span`` for text inside a Markdown code span, ``literal`` for widgets that
show text literally (``st.text``, ``st.code``, dataframe cells), and ``terminal``
for anything the command line prints. Each masks registered secrets first
(``lib.redact.scrub``), so nothing shown can carry a key.

Each also neutralises the characters that make text look other than it is:
direction overrides and isolates (U+202A-U+202E, U+2066-U+2069), the direction
marks (U+200E, U+200F, U+061C) and every other invisible format character
(zero-width spaces and joiners, the byte order mark, soft hyphens, tag
characters, line and paragraph separators). ``markdown``, ``code_span``, ``literal``
and ``html`` show each as a visible ``<U+202E>``; ``terminal`` shows it as a JSON-style
``\\u202e``. An emoji built with a zero-width joiner is therefore shown as its
parts with ``<U+200D>`` between them: rare in prompts, and never ambiguous.
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

TERMINAL_LINE_LIMIT = 4000  # characters of one printed line; the rest is replaced by a marker


# Every invisible character that can change how the text around it looks (Unicode
# categories Cf, Zl, Zp and lone surrogates Cs): bidi controls and marks, zero-width
# characters, tags, the BOM, the soft hyphen, line and paragraph separators. Written out
# (a scan of all code points costs a third of a second at import); tests check it
# against unicodedata.
_FORMAT_CHARS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _visible(text: str) -> str:
    """Every disguising character (see the module docstring) as a visible ``<U+202E>``."""
    return _FORMAT_CHARS.sub(lambda m: f"<U+{ord(m.group(0)):04X}>", text)


def literal(text: Any, *, limit: int | None = None) -> str:
    """Text for a widget that shows it literally (``st.text``, ``st.code``, a dataframe
    cell, a download's file name): secrets masked and every disguising character shown as
    ``<U+202E>``, since those widgets escape markup but still obey direction overrides."""
    if text is None:
        return ""
    return _visible(scrub(str(text), limit=limit))


# What a terminal acts on. Two families of 7-bit escape sequences are removed whole: CSI
# (colours, cursor moves, clear screen) and OSC / DCS / SOS / PM / APC strings up to their
# terminator (window titles, hyperlinks, clipboard writes). Every other control, a lone or
# unterminated ESC included (its sequence then shows as text), is escaped visibly,
# JSON-style, so JSON text stays the same value.
_ESC_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC, DCS, SOS, PM, APC with their terminator
)
_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]|" + _FORMAT_CHARS.pattern)


def _escape_char(ch: str) -> str:
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    if code > 0xFFFF:  # as a JSON surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _terminal_line(line: str, limit: int | None) -> str:
    line = _ESC_SEQUENCE.sub("", line)
    out: list[str] = []
    size = 0
    pos = 0
    for m in _TERMINAL_UNSAFE.finditer(line):
        for piece, end in ((line[pos : m.start()], None), (_escape_char(m.group(0)), m.end())):
            if limit is not None and size + len(piece) > limit:
                if end is None:  # cut inside plain text
                    keep = limit - size
                    out.append(piece[:keep])
                    rest = len(line) - (pos + keep)
                else:  # an escape is never split
                    rest = len(line) - m.start()
                return "".join(out) + f"… ({rest:,} more characters)"
            out.append(piece)
            size += len(piece)
        pos = m.end()
    tail = line[pos:]
    if limit is not None and size + len(tail) > limit:
        keep = limit - size
        return "".join(out) + tail[:keep] + f"… ({len(tail) - keep:,} more characters)"
    return "".join(out) + tail


def terminal(text: Any, *, newlines: bool = True, limit: int | None = TERMINAL_LINE_LIMIT) -> str:
    """Text made safe to print to a terminal: secrets masked; escape sequences (colours,
    window titles, clear screen) removed; every other C0 and C1 control, DEL, a lone ESC
    and each disguising character (see the module docstring) escaped visibly as
    ``\\u001b``, ``\\r``...; tabs kept. With ``newlines`` each line is kept and made safe
    on its own (a CRLF counts as a line break); without, a line break is escaped like any control and the text is one
    line. Each line longer than ``limit`` characters is cut with a visible
    "… (N more characters)" marker (``None``: no cut). Escapes are JSON escapes, so a JSON
    document stays the same value; already safe text comes back unchanged."""
    if text is None:
        return ""
    value = scrub(str(text))
    if newlines:
        return "\n".join(_terminal_line(line, limit) for line in value.replace("\r\n", "\n").split("\n"))
    return _terminal_line(value, limit)


def markdown(text: Any, *, limit: int | None = None, one_line: bool = False) -> str:
    """Text from a provider or a user, made safe to place inside Markdown (st.markdown,
    captions, st.error/warning, labels, metric values, help, a report's table):
    secrets masked, Markdown, LaTeX and HTML characters escaped, and autolinks
    (``http://``, ``www.``, e-mail), emoji and icon shortcodes and ``:red[...]``
    directives broken with an invisible word joiner; direction overrides and other
    disguising characters shown as ``<U+202E>`` (module docstring). It renders as the literal
    text: no images load, no links appear. Plain words come through unchanged
    (``gpt-image-1.5``, ``Attempt 1: ok``). ``one_line`` folds line breaks into
    spaces (a table cell, a heading). For long text prefer ``st.text`` or
    ``st.code(..., language=None)`` with ``literal(text)``: they show markup as it is."""
    if text is None:
        return ""
    value = _visible(scrub(str(text), limit=limit))
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
    return _visible(_LINE_BREAKS.sub(" ", scrub(str(text)))).replace("`", "'")


def html(text: Any) -> str:
    """Text (or an attribute value) for an HTML document: secrets masked, every markup character escaped."""
    return _html.escape(_visible(scrub("" if text is None else str(text))), quote=True)


def literal_obj(value: Any) -> Any:
    """``literal`` applied to every string, keys included, of a JSON-like value (``st.json``, a
    dataframe's rows): numbers, booleans and None stay as they are."""
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, dict):
        return {literal(k) if isinstance(k, str) else k: literal_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [literal_obj(v) for v in value]
    return value
