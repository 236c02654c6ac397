"""Kept checks (rows of ``Store.checks_for``) in words: one line per check for a card or a cell,
what the text check asked beside what it read, and the entries exports carry."""

from __future__ import annotations

from typing import Any

LABELS = {"size": "Size", "text": "Text", "similar": "Similar", "judge": "Judge"}


def verdict_word(passed: bool) -> str:
    return "passed" if passed else "failed"


def line(row: dict[str, Any]) -> str:
    """'Text failed (0.92): Asked “GRAND OPENING”, read “GRAND OPENIMG” (92%).'"""
    name = LABELS.get(row["name"], row["name"])
    summary = row.get("summary") or ""
    return f"{name} {verdict_word(bool(row['passed']))} ({float(row['score']):.2f})" + (f": {summary}" if summary else "")


def asked_read(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A text check's pieces: each quoted text asked, what was read for it, its score, passed or not."""
    if row.get("name") != "text":
        return []
    pieces = (row.get("detail") or {}).get("pieces") or []
    return [
        {"asked": str(p.get("asked", "")), "read": str(p.get("read", "")), "score": p.get("score"), "passed": bool(p.get("passed"))}
        for p in pieces
        if isinstance(p, dict)
    ]


def short(rows: list[dict[str, Any]]) -> str:
    """One line for a whole image or cell: 'size ✓ · text ✗ 0.92'."""
    return " · ".join(f"{r['name']} {'✓' if r['passed'] else '✗'}" + ("" if r["passed"] else f" {float(r['score']):.2f}") for r in rows)


def export_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A kept check as exports carry it."""
    detail = {k: v for k, v in (row.get("detail") or {}).items() if k != "summary"}
    return {
        "image_id": row.get("image_id"),
        "name": row["name"],
        "passed": bool(row["passed"]),
        "score": round(float(row["score"]), 4),
        "summary": row.get("summary") or "",
        "detail": detail,
    }


def export_text(rows: list[dict[str, Any]]) -> str:
    """The checks of an attempt in one CSV cell: 'image 3 size passed 1.00; image 3 text failed 0.92 (read “GRAND OPENIMG”)'."""
    parts = []
    for r in rows:
        read = [p["read"] for p in asked_read(r)]
        parts.append(
            f"image {r.get('image_id')} {r['name']} {verdict_word(bool(r['passed']))} {float(r['score']):.2f}"
            + (f" (read {'; '.join(f'“{x}”' for x in read)})" if read else "")
        )
    return "; ".join(parts)
