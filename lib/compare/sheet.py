"""The contact sheet: one PNG of the grid, with row and column labels, each cell's image
or error chip, the winner stars and, for a grid with checks, each cell's verdict."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib import redact
from lib.compare.grid import cell_key
from lib.compare.record import CellState, ComparisonView

CHIP_FILL = (253, 226, 226)
CHIP_EDGE = (200, 40, 40)
CHIP_TEXT = (140, 20, 20)
PENDING_FILL = (236, 238, 242)
CELL_FILL = (246, 247, 249)
GRID_BG = (255, 255, 255)
LABEL_TEXT = (30, 30, 35)
MUTED_TEXT = (110, 112, 120)
STAR_FILL = (245, 180, 20)
CHECK_PASS = (30, 120, 60)  # a cell's checks badge: every check passed
CHECK_FAIL = (180, 30, 30)  # some check failed


@dataclass
class SheetLayout:
    width: int
    height: int
    columns: list[tuple[str, tuple[int, int, int, int]]]  # (label, box) per column
    rows: list[tuple[str, tuple[int, int, int, int]]]  # (label, box) per row
    cells: dict[str, tuple[str, tuple[int, int, int, int]]]  # key -> (kind: image|error|pending|cancelled, box)
    texts: list[str] = field(default_factory=list)  # every text drawn, in order


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType
        return ImageFont.load_default()


def _wrap(draw, text: str, font, width: int, max_lines: int) -> list[str]:
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= width:
            current = trial
            continue
        if current:
            lines.append(current)
        current = word
        while draw.textlength(current, font=font) > width and len(current) > 1:  # one very long word
            cut = len(current) - 1
            while cut > 1 and draw.textlength(current[:cut], font=font) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "...", font=font) > width:
            last = last[:-1]
        lines[-1] = last + "..."
    return lines


def contact_sheet(store: Any, view: ComparisonView):
    """The grid as one Pillow image: column labels on top, row labels on the left, each cell's
    first image (fitted), an error chip (type and short title), or its state. Returns (image, layout)."""
    from PIL import Image, ImageDraw

    cell, pad, label_w, header_h = C.COMPARE_SHEET_CELL_PX, C.COMPARE_SHEET_PAD_PX, C.COMPARE_SHEET_LABEL_PX, C.COMPARE_SHEET_HEADER_PX
    columns = view.all_columns()
    rows = view.plan.rows
    width = label_w + pad + len(columns) * (cell + pad)
    height = header_h + pad + len(rows) * (cell + pad)
    sheet = Image.new("RGB", (width, height), GRID_BG)
    draw = ImageDraw.Draw(sheet)
    font = _font(C.COMPARE_SHEET_FONT_PX)
    small = _font(max(10, C.COMPARE_SHEET_FONT_PX - 3))
    line_h = int(C.COMPARE_SHEET_FONT_PX * 1.3)
    layout = SheetLayout(width, height, [], [], {})

    def text(xy, value: str, fnt=font, fill=LABEL_TEXT) -> None:
        value = redact.scrub(value)
        layout.texts.append(value)
        draw.text(xy, value, font=fnt, fill=fill)

    for line_no, line in enumerate(_wrap(draw, view.title or "Comparison", small, label_w - 2 * pad, 3)):
        text((pad, pad + line_no * line_h), line, small, MUTED_TEXT)
    for j, column in enumerate(columns):
        x = label_w + pad + j * (cell + pad)
        box = (x, 0, x + cell, header_h)
        layout.columns.append((column.label, box))
        lines = _wrap(draw, column.label, font, cell, 2)
        sub = column.sub_label(view.plan.vary)
        y = pad
        for line in lines:
            text((x, y), line)
            y += line_h
        if sub:
            text((x, y), sub, small, MUTED_TEXT)
    winners = set(view.winners().values())
    for i, row in enumerate(rows):
        y = header_h + pad + i * (cell + pad)
        layout.rows.append((row.prompt, (0, y, label_w, y + cell)))
        text((pad, y), f"Row {row.index + 1}", small, MUTED_TEXT)
        for k, line in enumerate(_wrap(draw, row.prompt, font, label_w - 2 * pad, (cell - line_h) // line_h)):
            text((pad, y + line_h + k * line_h), line)
        for j, column in enumerate(columns):
            x = label_w + pad + j * (cell + pad)
            box = (x, y, x + cell, y + cell)
            key = cell_key(row.index, column.col, column.variant)
            state = view.cells.get(key)
            kind = _draw_cell(store, sheet, draw, box, state, font, small, line_h, text)
            layout.cells[key] = (kind, box)
            if key in winners:
                _star(draw, (x + cell - 18, y + 18), 13)
    return sheet, layout


def _draw_cell(store, sheet, draw, box, state: CellState | None, font, small, line_h, text) -> str:
    from PIL import Image, ImageOps

    x0, y0, x1, y1 = box
    size = x1 - x0
    if state is not None and state.ok and state.images:
        try:
            with Image.open(store.keeper.resolve(state.images[0]["path"])) as img:
                thumb = ImageOps.contain(img.convert("RGB"), (size, size))
            draw.rectangle(box, fill=CELL_FILL)
            sheet.paste(thumb, (x0 + (size - thumb.width) // 2, y0 + (size - thumb.height) // 2))
            if len(state.images) > 1:
                badge = f"+{len(state.images) - 1}"
                draw.rectangle((x0 + 4, y1 - line_h - 6, x0 + 14 + draw.textlength(badge, font=small), y1 - 4), fill=(0, 0, 0))
                text((x0 + 9, y1 - line_h - 4), badge, small, (255, 255, 255))
            if state.fell_back:
                text((x0 + 4, y0 + 4), f"by {state.model_used}", small, (255, 255, 255))
            verdict = state.verdict
            if verdict is not None:  # the grid's checks: passed, or the checks that failed
                failed = sorted({r.name for _i, r in verdict.results if not r.passed})
                mark = "checks pass" if verdict.passed else "fail: " + ", ".join(failed)
                width = draw.textlength(mark, font=small)
                draw.rectangle((x1 - width - 14, y1 - line_h - 6, x1 - 4, y1 - 4), fill=CHECK_PASS if verdict.passed else CHECK_FAIL)
                text((x1 - width - 9, y1 - line_h - 4), mark, small, (255, 255, 255))
            return "image"
        except (OSError, ValueError, TypeError):
            pass
    if state is not None and state.error_type:
        chip = (x0 + 10, y0 + size // 2 - 3 * line_h // 2 - 8, x1 - 10, y0 + size // 2 + 3 * line_h // 2 + 8)
        draw.rectangle(box, fill=CELL_FILL)
        draw.rounded_rectangle(chip, radius=10, fill=CHIP_FILL, outline=CHIP_EDGE, width=2)
        y = chip[1] + 6
        text((chip[0] + 8, y), state.error_type, font, CHIP_TEXT)
        for line in _wrap(draw, state.error_title, small, chip[2] - chip[0] - 16, 2):
            y += line_h
            text((chip[0] + 8, y), line, small, CHIP_TEXT)
        return "error"
    draw.rectangle(box, fill=PENDING_FILL)
    label = "not run" if state is None else ("no image" if state.ok else state.status)
    text((x0 + 10, y0 + size // 2 - line_h // 2), label, font, MUTED_TEXT)
    return "cancelled" if state is not None and state.status == "cancelled" else "pending"


def _star(draw, center: tuple[int, int], radius: int) -> None:
    import math

    cx, cy = center
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.45
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=STAR_FILL, outline=(120, 80, 0))


def contact_sheet_png(store: Any, view: ComparisonView) -> bytes:
    sheet, _ = contact_sheet(store, view)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
