"""The prompt library's rules: what a name and tags may be, when a save is a new version,
and a word-level diff between two versions. Pure: the store keeps the rows
(``lib.store.prompts``), pages only show what these return."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NAME_MAX = 80
TAG_MAX = 24
TAGS_MAX = 12
TEXT_MAX = 32_000  # longer than any provider's prompt limit: the library keeps what was typed

_TAG_SPLIT = re.compile(r"[,\n]+")
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"\s+|[^\s\w]|\w+", re.UNICODE)


class LibraryError(ValueError):
    """A name, tag or text the library does not take; the message says which rule failed."""


def clean_name(name: str) -> str:
    """A prompt's name as stored: NFC, spaces folded, trimmed; 1 to 80 characters with no control characters."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", str(name or ""))).strip()
    if not text:
        raise LibraryError("Give the prompt a name.")
    if len(text) > NAME_MAX:
        raise LibraryError(f"A name has at most {NAME_MAX} characters (this one has {len(text)}).")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise LibraryError("A name cannot hold control or invisible characters.")
    return text


def name_key(name: str) -> str:
    """What makes two names the same prompt: case and spacing do not count."""
    return clean_name(name).casefold()


def clean_tags(tags: str | Iterable[str] | None) -> list[str]:
    """Tags from a comma-separated text or a list: lowercased, trimmed, without '#',
    duplicates dropped (first kept), each at most 24 characters, at most 12."""
    if tags is None:
        return []
    parts = _TAG_SPLIT.split(tags) if isinstance(tags, str) else [str(t) for t in tags]
    out: list[str] = []
    for part in parts:
        tag = _SPACES.sub(" ", unicodedata.normalize("NFC", part)).strip().lstrip("#").strip().casefold()
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise LibraryError(f"A tag has at most {TAG_MAX} characters ('{tag[:TAG_MAX]}...' is longer).")
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in tag):
            raise LibraryError("A tag cannot hold control or invisible characters.")
        if tag not in out:
            out.append(tag)
    if len(out) > TAGS_MAX:
        raise LibraryError(f"At most {TAGS_MAX} tags (there are {len(out)}).")
    return out


def clean_text(text: str) -> str:
    """A version's text as stored: line endings made \\n, trailing spaces of the whole cut; not empty."""
    body = str(text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise LibraryError("An empty prompt cannot be saved.")
    if len(body) > TEXT_MAX:
        raise LibraryError(f"A prompt has at most {TEXT_MAX:,} characters here (this one has {len(body):,}).")
    return body


def is_new_version(latest_text: str | None, text: str) -> bool:
    """Saving makes a new version unless the text is the latest one's, to the letter."""
    return latest_text is None or clean_text(latest_text) != clean_text(text)


@dataclass(frozen=True)
class Segment:
    """A run of a diff: ``op`` is ``same``, ``added`` (only in the newer text) or ``removed``."""

    op: str
    text: str


def word_diff(old: str, new: str) -> list[Segment]:
    """The newer text against the older, word by word (spaces and punctuation are their own
    tokens, so a changed comma shows as a comma); neighbouring runs of one kind are merged."""
    a, b = _WORDS.findall(old or ""), _WORDS.findall(new or "")
    out: list[Segment] = []

    def push(op: str, tokens: list[str]) -> None:
        text = "".join(tokens)
        if not text:
            return
        if out and out[-1].op == op:
            out[-1] = Segment(op, out[-1].text + text)
        else:
            out.append(Segment(op, text))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            push("same", a[i1:i2])
        else:
            push("removed", a[i1:i2])
            push("added", b[j1:j2])
    return out


def diff_counts(segments: Iterable[Segment]) -> tuple[int, int]:
    """Words added and removed in a diff (spaces and punctuation not counted)."""
    added = removed = 0
    for seg in segments:
        words = len(re.findall(r"\w+", seg.text))
        if seg.op == "added":
            added += words
        elif seg.op == "removed":
            removed += words
    return added, removed


def as_row(text: str) -> str:
    """A saved prompt as one Compare row: its lines joined by spaces (a row is one line)."""
    return " ".join(line.strip() for line in str(text or "").splitlines() if line.strip())


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` (the latest version) or ``NAME@VERSION`` -> (name, version or None)."""
    raw = str(ref or "").strip()
    name, sep, tail = raw.rpartition("@")
    if sep and tail.strip().isdigit() and name.strip():
        version = int(tail.strip())
        if version < 1:
            raise LibraryError(f"'{raw}': versions are numbered from 1.")
        return clean_name(name), version
    return clean_name(raw), None


def row_from_ref(store: Any, ref: str) -> str:
    """A saved prompt or one of its versions (``NAME`` or ``NAME@VERSION``, see ``parse_ref``) as a
    Compare row, read through ``store`` (``Store.prompt_named`` and ``Store.prompt_versions``).
    Raises LibraryError saying which name or version is not in the library."""
    name, version = parse_ref(ref)
    found = store.prompt_named(name)
    if found is None:
        known = [p["name"] for p in store.prompts(limit=6)]
        hint = f" Saved prompts include: {', '.join(known[:5])}." if known else " The library is empty: save a prompt from Generate first."
        raise LibraryError(f"No saved prompt is named '{name}'.{hint}")
    versions = store.prompt_versions(found["id"])
    if version is None:
        return as_row(versions[-1]["text"]) if versions else as_row(found["latest_text"])
    chosen = next((v for v in versions if v["version"] == version), None)
    if chosen is None:
        raise LibraryError(f"'{found['name']}' has no version {version}: it has versions 1 to {len(versions)}.")
    return as_row(chosen["text"])
