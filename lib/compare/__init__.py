"""Grids of prompts x targets: axes and templates -> cells, a comparison's record, exports.

A comparison has rows (prompts: one per line, or every combination of a
template's variables), columns (targets: a provider plus a model) and, if the
user wants, a third axis (one parameter with several values). Each cell is one
run (``runs.kind = 'compare'``, ``runs.comparison_id``, ``runs.cell`` JSON)
submitted through the engine's ``JobRunner.submit_batch``; the comparison itself
is a row of ``comparisons``. What a cell shows is read back from the store, so
a reload, another tab or a teammate's link sees the same grid.

Judging (a winner per row, thumbs and a note per cell) lives in
``cell_ratings`` (table ``cell_ratings``). Exports: a contact sheet (one PNG
drawn with Pillow) and a ZIP of the full images plus ``comparison.json``.
Nothing here imports Streamlit; nothing written here holds an API key.

- ``grid``: rows, targets, the third axis, the plan of cells;
- ``runner``: the comparison's row and one run per cell, retry, re-run, cancel;
- ``record``: cells read back, judging, summaries;
- ``exports``: comparison.json and the ZIP;
- ``sheet``: the contact sheet.
"""

from lib.compare.exports import FORMAT, export_dict, export_zip
from lib.compare.grid import (
    COMPARISON_STATUSES,
    SHARED_DEFAULTS,
    TERMINAL,
    VARY_LABELS,
    VARY_PARAMS,
    CellPlan,
    CompareInputError,
    GridPlan,
    Row,
    Target,
    VaryAxis,
    build_plan,
    cell_key,
    check_targets,
    check_template,
    expand_template,
    make_vary,
    parse_target,
    parse_var,
    parse_vars,
    prompts_from_lines,
    provider_name,
    shared_params,
    target_options,
    template_row_count,
    template_variables,
)
from lib.compare.record import (
    ROW_FILTERS,
    ROW_ORDERS,
    CellState,
    Column,
    ColumnSummary,
    ComparisonView,
    Spread,
    arrange_rows,
    cell_states,
    comparison_row,
    list_comparisons,
    live_note,
    load,
    ratings,
    refresh_status,
    row_figures,
    set_note,
    set_thumb,
    set_winner,
    spread,
    status_counts,
    summary,
)
from lib.compare.runner import SettingsFor, cancel, cell_settings, create_comparison, load_plan, rerun, retry_cells, start
from lib.compare.sheet import (
    CELL_FILL,
    CHIP_EDGE,
    CHIP_FILL,
    CHIP_TEXT,
    GRID_BG,
    LABEL_TEXT,
    MUTED_TEXT,
    PENDING_FILL,
    STAR_FILL,
    SheetLayout,
    contact_sheet,
    contact_sheet_png,
)

__all__ = [
    "CELL_FILL",
    "ROW_FILTERS",
    "ROW_ORDERS",
    "CHIP_EDGE",
    "CHIP_FILL",
    "CHIP_TEXT",
    "COMPARISON_STATUSES",
    "CellPlan",
    "CellState",
    "Column",
    "ColumnSummary",
    "CompareInputError",
    "ComparisonView",
    "FORMAT",
    "GRID_BG",
    "GridPlan",
    "LABEL_TEXT",
    "MUTED_TEXT",
    "PENDING_FILL",
    "Row",
    "SHARED_DEFAULTS",
    "STAR_FILL",
    "SettingsFor",
    "SheetLayout",
    "Spread",
    "TERMINAL",
    "Target",
    "VARY_LABELS",
    "VARY_PARAMS",
    "VaryAxis",
    "arrange_rows",
    "build_plan",
    "cancel",
    "cell_key",
    "cell_settings",
    "cell_states",
    "check_targets",
    "check_template",
    "comparison_row",
    "contact_sheet",
    "contact_sheet_png",
    "create_comparison",
    "expand_template",
    "export_dict",
    "export_zip",
    "list_comparisons",
    "live_note",
    "load",
    "load_plan",
    "make_vary",
    "parse_target",
    "parse_var",
    "parse_vars",
    "prompts_from_lines",
    "provider_name",
    "ratings",
    "refresh_status",
    "rerun",
    "retry_cells",
    "row_figures",
    "set_note",
    "set_thumb",
    "set_winner",
    "shared_params",
    "spread",
    "start",
    "status_counts",
    "summary",
    "target_options",
    "template_row_count",
    "template_variables",
]
