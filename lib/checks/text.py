"""The ``text`` check: every piece of text the prompt puts in quotes appears in the image.

The image is read by OCR (lib.checks.ocr), one reading at a time until every piece is found
exactly or the engine has no other reading to offer. Asked and read text are compared after normalising
both (Unicode NFKC, case folded, anything but letters and digits becomes one space), so
"Grand Opening!" matches "GRAND OPENING". Each quoted piece is looked for anywhere in what was
read (the best matching stretch, by edit distance, with free start and end); its score is
1 - edits / length of the piece. The check's score is the lowest piece score, and it passes when
every piece scores at least ``threshold`` (default 1.0: spelled exactly, as a misspelled sign is
exactly what the check is for). A prompt with no quoted text passes with nothing to check.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from lib.checks import ocr
from lib.checks._base import CheckRequest, CheckResult

if TYPE_CHECKING:  # Pillow is loaded by the functions that open an image
    from PIL import Image

NAME = "text"
DEFAULT_THRESHOLD = 1.0
MAX_PIECES = 12  # quoted pieces checked per prompt; more are listed as not checked
MAX_PIECE_CHARS = 200

# Quoted text: "double", “curly”, «guillemets», „low-high“, 「corner」, and 'single' or ‘curly single’
# only where the quote stands at a word boundary (so the apostrophe in "don't" opens nothing).
_QUOTED = re.compile(
    r'"([^"\n]*)"'
    r"|“([^”\n]*)”"
    r"|„([^“”\n]*)[“”]"
    r"|«\s?([^»\n]*?)\s?»"
    r"|「([^」\n]*)」"
    r"|‘([^’\n]*)’"
    r"|(?<![\w'])'([^'\n]+?)'(?![\w'])"
)


def quoted_texts(prompt: str) -> list[str]:
    """The pieces of text the prompt puts in quotes, in order, each once, stripped; empty ones dropped."""
    seen: list[str] = []
    for match in _QUOTED.finditer(prompt or ""):
        piece = next(g for g in match.groups() if g is not None).strip()
        if normalise(piece) and piece not in seen:
            seen.append(piece[:MAX_PIECE_CHARS])
    return seen


def without_quoted(prompt: str, mark: str = "\u2026") -> str:
    """The prompt with each quoted piece (quotes included) replaced by ``mark``."""
    return _QUOTED.sub(mark, prompt or "")


def normalise(text: str) -> str:
    """NFKC, case folded; runs of anything but letters and digits become one space."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions, each 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def best_match(needle: str, haystack: str) -> tuple[int, str]:
    """The fewest edits that turn some stretch of ``haystack`` into ``needle``, and that stretch
    (Sellers' algorithm: edit distance with the start and end in the haystack free)."""
    if not needle:
        return 0, ""
    if not haystack:
        return len(needle), ""
    n = len(needle)
    # column per haystack position: (cost, start index of the stretch)
    prev_cost = [0] * (len(haystack) + 1)
    prev_start = list(range(len(haystack) + 1))
    for i in range(1, n + 1):
        cost = [i] + [0] * len(haystack)
        start = [0] + [0] * len(haystack)
        for j in range(1, len(haystack) + 1):
            sub = prev_cost[j - 1] + (needle[i - 1] != haystack[j - 1])
            dele = prev_cost[j] + 1
            ins = cost[j - 1] + 1
            best = min(sub, dele, ins)
            cost[j] = best
            start[j] = prev_start[j - 1] if best == sub else prev_start[j] if best == dele else start[j - 1]
        prev_cost, prev_start = cost, start
    end = min(range(len(haystack) + 1), key=lambda j: (prev_cost[j], -j))
    begin = prev_start[end]
    return prev_cost[end], haystack[begin:end].strip()


def piece_score(asked: str, readings: list[str]) -> tuple[float, str]:
    """The best score of ``asked`` over the readings, and the stretch read that gave it."""
    target = normalise(asked)
    best_score, best_read = 0.0, ""
    for reading in readings:
        edits, stretch = best_match(target, normalise(reading))
        score = max(0.0, 1.0 - edits / max(1, len(target)))
        if score > best_score or not best_read:
            best_score, best_read = score, stretch
    return best_score, best_read


def check_text(image: Image.Image, request: CheckRequest, *, threshold: float = DEFAULT_THRESHOLD, engine=None) -> CheckResult:
    pieces = quoted_texts(request.prompt)
    if not pieces:
        return CheckResult(NAME, True, 1.0, {"pieces": [], "threshold": threshold}, "No quoted text in the prompt: nothing to read.")
    checked = pieces[:MAX_PIECES]
    texts: list[str] = []
    engine_name = None
    for reading in ocr.readings(image, engine):  # another reading only while some piece is not found exactly
        texts.append(reading.text)
        engine_name = reading.engine
        if all(piece_score(asked, texts)[0] == 1.0 for asked in checked):
            break
    rows = []
    for asked in checked:
        score, read = piece_score(asked, texts)
        rows.append({"asked": asked, "read": read, "score": round(score, 4), "passed": score >= threshold})
    lowest = min(row["score"] for row in rows)
    passed = all(row["passed"] for row in rows)
    failing = [row for row in rows if not row["passed"]]
    if passed:
        summary = f"All {len(rows)} quoted text{'s' if len(rows) != 1 else ''} read in the image."
    else:
        first = failing[0]
        summary = f"Asked \u201c{first['asked']}\u201d, read \u201c{first['read'] or 'nothing'}\u201d ({first['score']:.0%})."
    detail = {
        "pieces": rows,
        "not_checked": pieces[MAX_PIECES:],
        "threshold": threshold,
        "engine": engine_name,
        "readings": len(texts),
        "read": texts[0] if texts else "",
    }
    return CheckResult(NAME, passed, lowest, detail, summary)
