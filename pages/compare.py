"""Compare: prompts x targets side by side, run at once, cells filling in live.

Rows are prompts (one per line, or every combination of a template's values), columns are
targets (a model at a provider), with an optional third axis (one parameter). Each cell is a
run submitted to the shared JobRunner; what the grid shows is read back from the store, so
``/compare?comparison=<id>`` reattaches to a running grid and shows a finished one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from lib import compare as K
from lib import constants as C
from lib import ui
from lib.budget import skipped_reason
from lib.generation import AttemptSummary, Outcome
from lib.history import attempt_detail, when
from lib.pricing import format_usd
from lib.providers import BACKGROUNDS, FIXED_SIZES, MODERATIONS, OUTPUT_FORMATS, PRESETS, QUALITIES
from lib.text import literal, literal_obj
from lib.ui.budget import limit_for as budget_limit
from lib.ui.budget import send_gate
from lib.ui.checks import cell_checks, check_grid_cells, checks_choice, get_check_queue, judge_grid, show_checks
from lib.ui.generate import grid_cancel_note, grid_right, may_cancel_cells, session_right, session_runner
from lib.ui.library import fill_builder, library_rows_picker
from lib.ui.lineage import result_actions

log = logging.getLogger("imagelab.app")
settings = ui.page_settings()
store = ui.get_store()


def settings_for(provider_id: str):
    """Each target's provider with its own key and settings from the sidebar."""
    return ui.client_settings_for(settings, provider_id)


ss = st.session_state
NONE = "(nothing)"
KEEP = "session"  # the builder's inputs survive a visit to another page
GRID_MIN_COLUMNS = 4  # fewer targets than this: cells keep this fraction of the width
STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/progress_activity:",
    "succeeded": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/block:",
    "interrupted": ":material/power_off:",
}


# --------------------------------------------------------------------------
# Building a grid


def read_plan() -> K.GridPlan:
    """The grid the widgets describe; raises CompareInputError with a message to show."""
    if ss.get("compare_rows_mode") == "Template":
        template = ss.get("compare_template", "")
        variables = K.parse_vars((ss.get("compare_vars") or "").splitlines())
        rows: dict = {"template": template, "variables": variables}
    else:
        rows = {"prompts": ss.get("compare_prompts", "")}
    targets = [K.parse_target(label) for label in ss.get("compare_targets", [])]
    vary_param = ss.get("compare_vary")
    vary = K.make_vary(vary_param, ss.get("compare_vary_values", [])) if vary_param and vary_param != NONE else None
    shared = {
        "size": ss.get("compare_size"),
        "quality": ss.get("compare_quality"),
        "output_format": ss.get("compare_format"),
        "background": ss.get("compare_background"),
        "moderation": ss.get("compare_moderation"),
        "n": ss.get("compare_n"),
    }
    plan = K.build_plan(
        **rows,
        targets=targets,
        vary=vary,
        shared=shared,
        use_fallback=bool(ss.get("compare_fallback")),
        title=ss.get("compare_title", ""),
        repeats=ss.get("compare_repeats", 1),
    )
    # Media: the grid-wide streaming and reference images chosen in the builder
    media = ss.get("compare_media") or {}
    plan.stream, plan.partial_images = bool(media.get("stream")), int(media.get("partial_images", 2))
    plan.references, plan.reference_mask = list(media.get("references") or []), media.get("reference_mask")
    return plan


def builder() -> None:
    st.title("Compare")
    st.caption(
        "Put several prompts against several models or gateways and watch the grid fill in. "
        "Every cell is a recorded run; the link in the address bar brings the grid back."
    )
    st.radio(
        "Rows",
        ["One prompt per line", "Template"],
        key="compare_rows_mode",
        persist_state=KEEP,
        horizontal=True,
        help="A template like 'a {animal} in {style} style' makes one row per combination of the values you list.",
    )
    if ss.get("compare_rows_mode") == "Template":
        st.text_input("Template", key="compare_template", persist_state=KEEP, placeholder="a {animal} in {style} style")
        st.text_area(
            "Values, one variable per line",
            key="compare_vars",
            persist_state=KEEP,
            height=90,
            placeholder="animal = fox, owl\nstyle = ink, oil painting",
        )
    else:
        st.text_area(
            "Prompts, one per line",
            key="compare_prompts",
            persist_state=KEEP,
            height=110,
            placeholder="a lighthouse on a basalt cliff at dusk\na lighthouse on a basalt cliff at dusk, watercolour",
        )
    library_rows_picker()  # library: a saved prompt, or any of its versions, as rows
    ss.setdefault("compare_targets", ["gpt-image-2 @ Sandbox", "gpt-image-1.5 @ Sandbox"])  # kept across pages: no widget default
    st.multiselect(
        "Targets (columns)",
        K.target_options(),
        key="compare_targets",
        persist_state=KEEP,
        accept_new_options=True,
        help="A model at a provider. Each provider uses its own key and settings from the sidebar. "
        "Type 'model @ Provider' for a model that is not listed.",
    )
    c1, c2 = st.columns(2)
    vary = c1.selectbox(
        "Also vary (optional)",
        [NONE, *K.VARY_PARAMS],
        key="compare_vary",
        persist_state=KEEP,
        format_func=lambda p: p if p == NONE else K.VARY_LABELS[p],
        help="One parameter with several values: each value gets its own tab of the grid, or its own columns side by side.",
    )
    if vary != NONE:
        options = list(K.VARY_PARAMS[vary] or FIXED_SIZES)
        c2.multiselect(
            "Values to compare",
            options,
            key="compare_vary_values",
            persist_state=KEEP,
            accept_new_options=vary == "size",
            placeholder="pick two or more",
        )
    s1, s2, s3, s4 = st.columns(4)
    s1.selectbox("Size", FIXED_SIZES, key="compare_size", persist_state=KEEP)
    s2.selectbox("Quality", QUALITIES, key="compare_quality", persist_state=KEEP)
    s3.selectbox("Format", OUTPUT_FORMATS, key="compare_format", persist_state=KEEP)
    ss.setdefault("compare_n", C.COMPARE_DEFAULT_N)
    s4.number_input(
        "Images per cell", step=1, key="compare_n", persist_state=KEEP, help=f"From {C.MIN_N} to {C.MAX_N}."
    )  # out of range: the plan says so
    with st.expander("More", icon=":material/tune:"):
        m1, m2 = st.columns(2)
        m1.selectbox("Background", BACKGROUNDS, key="compare_background", persist_state=KEEP)
        m2.selectbox("Moderation", MODERATIONS, key="compare_moderation", persist_state=KEEP)
        ss.setdefault("compare_fallback", False)
        st.checkbox(
            "Let a cell fall back to another model",
            key="compare_fallback",
            persist_state=KEEP,
            help="Off by default: a fallback would put another model in the cell. When on, the cell says which model answered.",
        )
        ss.setdefault("compare_repeats", 1)
        st.number_input(
            "Samples per cell",
            step=1,
            key="compare_repeats",
            persist_state=KEEP,
            help=f"From 1 to {C.COMPARE_MAX_REPEATS}: each sample is a run of its own; the cell shows them all and how much "
            "latency and cost vary between them.",
        )
        st.text_input(
            "Title (optional)", key="compare_title", persist_state=KEEP, placeholder="named after the first prompt and the grid size"
        )

    if ss.get("compare_prefill_note"):  # "Edit and re-run": what the builder could not take over
        st.info(ss["compare_prefill_note"], icon=":material/info:")
    ss["compare_media"] = ui.compare_media_controls()  # media: read by read_plan()
    plan = None
    blank = not (ss.get("compare_template") if ss.get("compare_rows_mode") == "Template" else ss.get("compare_prompts") or "").strip()
    try:
        plan = read_plan()
    except K.CompareInputError as err:
        if blank:  # nothing written yet: a hint, not an error
            st.caption("Write the prompts (or a template) above; the size of the grid shows here before anything runs.")
        else:
            st.error(str(err), icon=":material/edit_note:")
    images = plan.n_cells * int(plan.shared["n"]) if plan is not None else 0
    checks = checks_choice("compare", images=images, size=str(ss.get("compare_size") or "auto"), persist=KEEP)  # every cell
    if plan is not None:
        if checks.problem:
            st.error("Not sent until fixed: " + checks.problem, icon=":material/fact_check:")
        st.info(
            f"**{plan.shape()}**, run in parallel within each provider's limits (sidebar: Parallel requests, Rate limit).",
            icon=":material/grid_view:",
        )
        for problem in plan.problems():
            st.warning(problem)
        for pid in dict.fromkeys(t.provider for t in plan.targets):
            preset = PRESETS[pid]
            if preset.needs_key and not settings_for(pid).api_key:
                st.warning(
                    f"{K.provider_name(pid)} has no key: its cells will stop before sending. Pick {K.provider_name(pid)} in "
                    f"the sidebar and type one, or set ${preset.key_env}.",
                    icon=":material/key_off:",
                )
    refusal = settings.refusal()  # a sidebar number typed out of range
    if refusal:
        st.error("Not sent until fixed: " + refusal, icon=":material/tune:")
    clicked = st.button(
        "Run the grid",
        type="primary",
        key="compare_run",
        disabled=plan is None or bool(refusal) or bool(checks.problem),
        icon=":material/play_arrow:",
    )

    def send():
        from lib.checks import kept_specs

        plan.checks = kept_specs(store.keeper, checks.specs)  # every cell gets them
        comparison_id, _ = K.start(store, session_runner(), plan, settings_for, limits=budget_limit)  # this session's cells
        st.query_params["comparison"] = comparison_id
        if checks.judge:
            judge_grid(comparison_id)  # billed: judged by this session only
        return comparison_id

    if plan is not None:  # the estimate, today's spend, the confirmation above the threshold, cells over the budget
        cells = plan.cells()
        items = [(c.target.provider, c.request) for c in cells]
        if send_gate("compare", items, clicked, send, disabled=bool(refusal), what="this grid", plan_cells=cells) is not None:
            st.rerun()
    past_comparisons()


def past_comparisons() -> None:
    items = K.list_comparisons(store)
    st.subheader("Past comparisons")
    if not items:
        st.caption("None yet. Your grids will be listed here; each one opens again from its link.")
        return
    for item in items:
        counts = item["counts"]
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        with st.container(border=True, key=f"past-{item['id']}"):
            c1, c2 = st.columns([4, 1])
            c1.page_link(
                "pages/compare.py",
                label=ui.plain(item["title"] or item["id"]),
                query_params={"comparison": item["id"]},
                icon=":material/grid_view:",
            )
            c1.caption(f"{when(item['created_at'])} UTC · {item['shape']} · {item['status']} · " + (", ".join(parts) or "no cells"))


# --------------------------------------------------------------------------
# One comparison


def cell_outcome(cell: K.CellState) -> Outcome:
    attempts = [
        AttemptSummary(a.id, a.attempt_no, a.model, a.status, a.error_type, a.http_status, a.latency_ms or 0, a.fallback_from)
        for a in cell.attempts
    ]
    return Outcome(
        ok=cell.ok,
        run_id=cell.run_id,
        requested_model=cell.model,
        model=cell.model_used,
        images=[],
        attempts=attempts,
        events=[],
        error=cell.error(),
        latency_ms=cell.latency_ms or 0,
    )


@st.dialog("Cell", width="large")
def cell_dialog(comparison_id: str, key: str) -> None:
    view = K.load(store, comparison_id)
    cell = view.cells.get(key) if view else None
    if cell is None:
        st.warning("This cell has not started.")
        return
    plan_cell = next((c for c in view.plan.cells() if c.key == key), None)
    st.markdown(
        f"**{ui.plain(cell.target)}** · row {cell.row + 1} · {cell.status}"
        + (f" · answered by {ui.plain(cell.model_used)}" if cell.fell_back else "")
    )
    st.caption("Prompt")
    st.code(literal(plan_cell.prompt if plan_cell else ""), language=None, wrap_lines=True)
    for img in cell.images:
        path = store.keeper.resolve(img["path"])
        if Path(path).is_file():
            ui.session_image(st, str(path), width="stretch")
            st.caption(f"{img['width']}x{img['height']} {img['format']}, {(img['byte_size'] or 0) / 1024:,.0f} KB")
    if cell.error_type:
        ui.error_card(cell_outcome(cell))
    if cell.checks:
        st.markdown("**Checks**")
        show_checks(st, cell.checks)
    with st.expander("Parameters", icon=":material/tune:", expanded=not cell.error_type):
        st.json(literal_obj(plan_cell.request.params() if plan_cell else {}))
    last = cell.attempts[-1] if cell.attempts else None
    detail = attempt_detail(store, last.id) if last else None
    if detail:
        with st.expander("What was sent (the key masked)", icon=":material/upload:"):
            req = detail["request"]
            st.code(literal(f"{req['method']} {req['url']}"), language=None, wrap_lines=True)
            st.json(literal_obj(req["headers"]))
            st.json(literal_obj(req["body"]))
        with st.expander("What came back (base64 shortened)", icon=":material/download:", expanded=bool(cell.error_type)):
            if detail["raw_response"]:
                st.code(literal(detail["raw_response"]), language=None, wrap_lines=True)
            else:
                st.caption("Nothing was recorded (no answer came back).")
    if cell.attempts:
        st.markdown("**Attempts**")
        st.dataframe(
            literal_obj(
                [
                    {
                        "#": a.attempt_no,
                        "model": a.model,
                        "status": a.status,
                        "error": a.error_type or "",
                        "HTTP": a.http_status or "",
                        "latency (s)": round((a.latency_ms or 0) / 1000, 2),
                        "cost": format_usd(a.cost_usd),
                        "fell back from": a.fallback_from or "",
                    }
                    for a in cell.attempts
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        st.page_link(
            "pages/history.py",
            label="Open the attempt in History",
            icon=":material/manage_search:",
            query_params={"attempt": str(cell.attempts[-1].id)},
        )


def _save_thumb(comparison_id: str, key: str) -> None:
    value = ss.get(f"thumb-{comparison_id}-{key}")
    K.set_thumb(store, comparison_id, key, None if value is None else (1 if value == 1 else -1))


def _save_note(comparison_id: str, key: str) -> None:
    K.set_note(store, comparison_id, key, ss.get(f"note-{comparison_id}-{key}", ""))


def _toggle_star(comparison_id: str, key: str, starred: bool) -> None:
    K.set_winner(store, comparison_id, key, not starred)


def draw_cell(view: K.ComparisonView, cell: K.CellState | None, key: str, runner) -> None:
    cid = view.id
    box = st.container(border=True, key=f"cell-{key}")
    if cell is None:
        box.caption("not started")
        return
    if not cell.done:
        job = runner.get(cell.run_id)
        note = K.live_note(job) or cell.status
        partial = ui.latest_partial(job.events) if job is not None else None  # media: the cell's latest preview
        if partial is not None:
            ui.session_image(box, partial.image, width="stretch", caption="partial preview")
        box.markdown(f"{STATUS_ICONS.get(cell.status, '')} {ui.plain(note)}")
        box.button(
            "Cancel",
            key=f"cancel-{key}",
            icon=":material/close:",
            type="tertiary",
            on_click=lambda: K.cancel(store, runner, cid, keys=[key]),
            disabled=not may_cancel_cells(session_right(job.spec.owner if job is not None else None)),  # whose cell it is
        )
        return
    rating = view.ratings.get(key, {})
    if cell.ok and cell.images:
        shelf = box.columns(min(len(cell.images), 3)) if len(cell.images) > 1 else [box]  # several images: all of them
        for i, img in enumerate(cell.images):
            thumb = ui.thumbnail_path(img["path"])
            if thumb:
                ui.session_image(shelf[i % len(shelf)], thumb, width="stretch")
        cost = format_usd(cell.cost_usd) if cell.cost_usd is not None else "-"
        extra = f" · {len(cell.images)} images" if len(cell.images) > 1 else ""
        box.caption(
            f"{(cell.latency_ms or 0) / 1000:.1f} s · {len(cell.attempts)} attempt{'s' if len(cell.attempts) != 1 else ''} · {cost}{extra}"
        )
        if cell.fell_back:
            box.caption(f":material/alt_route: answered by {ui.plain(cell.model_used)}")
        cell_checks(box, cell, checking=cell.run_id in get_check_queue().pending())  # the grid's checks, once made
        if box.button("Full size", key=f"open-{key}", icon=":material/open_in_full:", type="tertiary"):
            cell_dialog(cid, key)
        result_actions(cell.run_id, len(cell.images), key=f"cell-{key}", where=box, compact=True)  # refill Generate from it
    elif cell.error_type:
        title = cell.error_title[: C.COMPARE_CHIP_TITLE_CHARS]
        if box.button(
            f"{cell.error_type} · {title}", key=f"chip-{key}", icon=":material/error:", type="secondary", help="Open the full error card"
        ):
            cell_dialog(cid, key)
        box.caption(
            f"{len(cell.attempts)} attempt{'s' if len(cell.attempts) != 1 else ''}" + (f" · try {cell.tries}" if cell.tries > 1 else "")
        )
        return
    else:
        reason = skipped_reason(view.settings, key, cell.provider) if cell.status == "cancelled" else ""  # over the daily budget
        box.caption(
            f"{STATUS_ICONS.get(cell.status, '')} " + ("not started: daily budget" if reason else cell.status),
            help=ui.plain(reason) if reason else None,
        )
        return
    starred = bool(rating.get("winner"))
    j1, j2 = box.columns([1, 1])
    j1.button(
        "Winner" if starred else "Star",
        key=f"star-{key}",
        icon=":material/star:" if starred else ":material/star_outline:",
        type="primary" if starred else "tertiary",
        on_click=_toggle_star,
        args=(cid, key, starred),
        help="The best cell of this row (one per row)",
    )
    with j2:
        default = None if rating.get("thumb") is None else (1 if rating["thumb"] > 0 else 0)
        st.feedback("thumbs", key=f"thumb-{cid}-{key}", default=default, on_change=_save_thumb, args=(cid, key))
    box.text_input(
        "Note",
        value=rating.get("note") or "",
        key=f"note-{cid}-{key}",
        label_visibility="collapsed",
        placeholder="note",
        max_chars=C.COMPARE_NOTE_MAX_CHARS,
        on_change=_save_note,
        args=(cid, key),
    )


def draw_grid(view: K.ComparisonView, columns: list[K.Column], rows: list[K.Row], runner, *, head: str) -> None:
    # A few targets keep cell-sized columns (a spacer takes the rest) rather than one huge image each
    widths = [1.2] + [2] * len(columns) + ([2 * (GRID_MIN_COLUMNS - len(columns))] if len(columns) < GRID_MIN_COLUMNS else [])
    heads = st.container(key=f"compare-head-{head}").columns(widths)  # stays in sight while the rows scroll
    heads[0].caption("Prompt")
    for j, column in enumerate(columns):
        sub = column.sub_label(view.plan.vary)
        heads[j + 1].markdown(f"**{ui.plain(column.label)}**" + (f"  \n{ui.plain(sub)}" if sub else ""))
    for row in rows:
        cols = st.columns(widths, vertical_alignment="top")
        with cols[0]:
            st.caption(f"Row {row.index + 1}")
            if row.vars:  # a template's row: the values that made it
                st.markdown(ui.plain(row.values_label()))
            st.text(literal(row.prompt))
        for j, column in enumerate(columns):
            with cols[j + 1]:
                key = K.cell_key(row.index, column.col, column.variant)
                sub = column.sub_label(view.plan.vary)
                # on a narrow screen the columns stack: each cell names its target
                st.container(key=f"celltarget-{key}").caption(ui.plain(column.label + (f" · {sub}" if sub else "")))
                draw_cell(view, view.cells.get(key), key, runner)
                if view.plan.repeats > 1:
                    draw_samples(view, key)
    if not rows:
        st.caption("No row matches the filter.")


def draw_samples(view: K.ComparisonView, key: str) -> None:
    """A cell's further samples: their images, and the spread of latency and cost over all of them."""
    samples = view.samples(key)
    box = st.container(key=f"samples-{key}")
    thumbs = [img for c in samples[1:] if c.ok for img in c.images[:1]]
    if thumbs:
        cols = box.columns(min(len(thumbs), 4))
        for i, img in enumerate(thumbs):
            thumb = ui.thumbnail_path(img["path"])
            if thumb:
                ui.session_image(cols[i % len(cols)], thumb, width="stretch")
    box.caption(K.spread(samples).line() if samples else "no sample started")


def ab_view(view: K.ComparisonView) -> None:
    """Two finished cells side by side at full size."""
    done = {c.key: c for c in (view.cells.get(cp.key) for cp in view.plan.cells()) if c is not None and c.ok and c.images}
    if not st.toggle("A/B: two cells side by side at full size", key="compare_ab"):
        return  # full images only when asked for: they travel inside the page
    with st.container(border=True, key="compare-ab"):
        if len(done) < 2:
            st.caption("Two cells with images are needed; this grid has " + (f"{len(done)}." if done else "none yet."))
            return
        labels = {}
        for key, c in done.items():
            sub = view.plan.vary.label(view.plan.vary.values[c.variant]) if view.plan.vary and c.variant is not None else ""
            labels[key] = f"Row {c.row + 1} · {c.target}" + (f" · {sub}" if sub else "")
        keys = list(done)
        for name, default in (("compare_ab_a", keys[0]), ("compare_ab_b", keys[1])):
            if ss.get(name) not in done:
                ss[name] = default
        pick = st.columns(2)
        chosen = [
            pick[0].selectbox("A", keys, key="compare_ab_a", format_func=labels.get),
            pick[1].selectbox("B", keys, key="compare_ab_b", format_func=labels.get),
        ]
        sides = st.columns(2)
        for side, key in zip(sides, chosen, strict=True):
            c = done[key]
            for img in c.images:
                path = store.keeper.resolve(img["path"])
                if Path(path).is_file():
                    ui.session_image(side, str(path), width="stretch")
            cost = format_usd(c.cost_usd) if c.cost_usd is not None else "-"
            side.caption(ui.plain(f"{labels[key]} · {(c.latency_ms or 0) / 1000:.1f} s · {cost} · {c.model_used}"))
            side.text(literal(next((r.prompt for r in view.plan.rows if r.index == c.row), "")))


GRID_CSS = """<style>
[class*="st-key-compare-head-"] { position: sticky; top: 3.75rem; z-index: 5; background-color: rgb(255 255 255 / 0.97); }
[class*="st-key-celltarget-"] { display: none; }
@media (prefers-color-scheme: dark) { [class*="st-key-compare-head-"] { background-color: rgb(14 17 23 / 0.97); } }
@media (max-width: 640px) {
  [class*="st-key-compare-head-"] { display: none; }
  [class*="st-key-celltarget-"] { display: block; }
}
</style>"""


def counts_line(view: K.ComparisonView) -> str:
    counts = view.counts()
    shown = [f"{counts[s]} {s}" for s in ("succeeded", "failed", "running", "queued", "cancelled", "interrupted") if counts.get(s)]
    return f"{view.plan.shape()} · " + (", ".join(shown) or "nothing yet")


def show_comparison(comparison_id: str) -> None:
    runner = session_runner()  # retries and re-runs are this session's
    view = K.load(store, comparison_id)
    if view is None:
        st.title("Compare")
        st.warning(
            "There is no such comparison in this database. Start a new one, or open one of the past ones below.",
            icon=":material/search_off:",
        )
        if st.button("New comparison", key="compare_new", icon=":material/add:"):
            del st.query_params["comparison"]
            st.rerun()
        past_comparisons()
        return
    st.title("Compare")
    st.subheader(ui.plain(view.title))
    st.caption(f"Started {when(view.created_at)} UTC · link to this grid: ?comparison={view.id}")
    for reason in (view.settings.get("budget") or {}).get("reasons", {}).values():  # cells the daily budget did not start
        st.warning(ui.plain(str(reason)), icon=":material/savings:")
    running = view.running
    b = st.columns(5)
    if b[0].button("New comparison", key="compare_new", icon=":material/add:"):
        del st.query_params["comparison"]
        st.rerun()
    if b[4].button("Edit and re-run", key="compare_edit", icon=":material/edit:", help="Opens the builder filled in from this grid."):
        options = {
            "compare_size": list(FIXED_SIZES),
            "compare_quality": list(QUALITIES),
            "compare_format": list(OUTPUT_FORMATS),
            "compare_background": list(BACKGROUNDS),
            "compare_moderation": list(MODERATIONS),
            "compare_vary": [NONE, *K.VARY_PARAMS],
        }
        left = fill_builder(view.plan.builder_values(), options=options)
        if view.plan.reference_entries:
            left.append("the reference images (add them again below)")
        if view.plan.checks:
            left.append("the checks (tick them again under Checks)")
        ss["compare_prefill_note"] = "Not carried over: " + "; ".join(left) + "." if left else ""
        del st.query_params["comparison"]
        st.rerun()
    right = grid_right(runner, view)  # whose grid it is: its own session's, a teammate's, the CLI's
    if b[1].button(
        "Cancel the grid", key="compare_cancel", icon=":material/stop_circle:", disabled=not running or not may_cancel_cells(right)
    ):
        K.cancel(store, runner, view.id)
        st.rerun()
    retryable = [c for c in view.cells.values() if c.status in ("failed", "cancelled", "interrupted")]
    retry_clicked = False
    if b[2].button(
        f"Retry failed cells ({len(retryable)})",
        key="compare_retry",
        icon=":material/replay:",
        disabled=not retryable,
        help="Runs again the cells that failed, were cancelled or interrupted; finished cells keep their images.",
    ):
        retry_clicked = True
    rerun_clicked = b[3].button(
        "Re-run the grid",
        key="compare_rerun",
        icon=":material/restart_alt:",
        help="The same rows, targets and parameters again, as a new comparison (this one stays as it is).",
    )
    # Both go through the estimate, the confirmation and today's budgets, as "Run the grid" does
    again = [c for c in view.plan.cells() if c.key in {r.key for r in retryable}]
    items = [(c.target.provider, c.request) for c in again]
    if retryable and send_gate(
        f"compare_retry_{view.id}",
        items,
        retry_clicked,
        lambda: K.retry_cells(store, runner, view.id, settings_for, limits=budget_limit),
        what="retrying these cells",
        plan_cells=again,
        quiet=True,
    ):
        st.rerun()
    everything = view.plan.cells()

    def send_rerun():
        new_id, _ = K.rerun(store, runner, view.id, settings_for, limits=budget_limit)  # with the same checks
        st.query_params["comparison"] = new_id
        if any(e.get("name") == "judge" for e in view.plan.checks):
            judge_grid(new_id)
        return new_id

    cells = [(c.target.provider, c.request) for c in everything]
    rerun_gate = send_gate(
        f"compare_rerun_{view.id}", cells, rerun_clicked, send_rerun, what="the grid again", plan_cells=everything, quiet=True
    )
    if rerun_gate is not None:
        st.rerun()
    if running:
        grid_cancel_note(right)  # a teammate's grid: watch only, or confirm first

    refresh_s = max(C.COMPARE_REFRESH_S, view.plan.n_cells / C.COMPARE_REFRESH_CELLS_PER_S)  # big grids redraw less often
    live = running or check_grid_cells(view, settings_for)  # finished cells are checked while others still run

    @st.fragment(run_every=refresh_s if live else None)
    def live_grid() -> None:
        current = K.load(store, comparison_id)
        if current is None:
            return
        checking = check_grid_cells(current, settings_for)
        if live and not current.running and not checking:
            st.rerun(scope="app")  # finished and checked: the whole page, to stop refreshing and offer the exports
        st.caption(counts_line(current))
        order, show = ss.get("compare_order", "grid"), ss.get("compare_show", "all")
        if current.plan.vary and not ss.get("compare_side_by_side"):
            tabs = st.tabs(
                [current.plan.vary.label(v) for v in current.plan.vary.values], key=f"compare_tabs_{comparison_id}", on_change="rerun"
            )
            for variant, tab in enumerate(tabs):
                if tab.open is False:  # only the tab on screen is drawn
                    continue
                with tab:
                    columns = current.columns(variant)
                    draw_grid(current, columns, K.arrange_rows(current, columns, order=order, show=show), runner, head=str(variant))
        else:
            columns = current.all_columns()  # with a third axis: every value's columns side by side
            draw_grid(current, columns, K.arrange_rows(current, columns, order=order, show=show), runner, head="all")
        st.markdown("**Summary per target**")
        for s in K.summary(current):
            st.text(literal(s.line()))

    st.html(GRID_CSS)
    arrange = st.container(horizontal=True)
    arrange.selectbox("Order rows", list(K.ROW_ORDERS), key="compare_order", format_func=K.ROW_ORDERS.get)
    arrange.selectbox("Show", list(K.ROW_FILTERS), key="compare_show", format_func=K.ROW_FILTERS.get)
    if view.plan.vary:
        arrange.toggle(
            f"{K.VARY_LABELS[view.plan.vary.param]} values side by side", key="compare_side_by_side", help="Instead of one tab per value"
        )
    live_grid()
    ab_view(view)
    st.markdown("**Export**")
    if running:
        st.caption(
            "The grid is still running: the exports hold the cells finished when you click, and comparison.json lists "
            "the others under still_running."
        )
    e1, e2 = st.columns(2)
    ui.session_download(
        e1,
        "Contact sheet (PNG)",
        data=lambda: K.contact_sheet_png(store, K.load(store, comparison_id)),
        file_name=f"comparison-{comparison_id}.png",
        mime="image/png",
        key="compare_sheet",
        icon=":material/image:",
    )
    ui.session_download(
        e2,
        "Images and comparison.json (ZIP)",
        data=lambda: K.export_zip(store, K.load(store, comparison_id)),
        file_name=f"comparison-{comparison_id}.zip",
        mime="application/zip",
        key="compare_zip",
        icon=":material/folder_zip:",
    )


comparison_id = st.query_params.get("comparison")
if comparison_id:
    show_comparison(comparison_id)
else:
    builder()
