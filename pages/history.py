"""History: every attempt, filtered by the URL, counted, charted, exported; one attempt in full.

The filters live in the address bar (lib/history.py turns them into a view and
back), so the URL is always a permalink: /history?model=gpt-image-2&since=7d,
/history?attempt=42.
"""

import time
from pathlib import Path

import streamlit as st

from lib import constants as C
from lib import history as H
from lib import pricing, ui
from lib.budget import spend_per_day
from lib.errors import ERROR_TYPES
from lib.generation import Outcome
from lib.store import ATTEMPT_STATUSES, RUN_KINDS
from lib.text import literal, literal_obj
from lib.ui.charts import spend_chart
from lib.ui.checks import show_checks
from lib.ui.lineage import lineage_section, result_actions

settings = ui.page_settings()
store = ui.get_store()
ss = st.session_state

APPLIED = "history_applied_params"  # the URL this session's widgets were last set from / wrote
WIDGETS = {
    "since": "hist_since",
    "from": "hist_from",
    "to": "hist_to",
    "provider": "hist_provider",
    "model": "hist_model",
    "status": "hist_status",
    "error_type": "hist_error_type",
    "kind": "hist_kind",
    "q": "hist_q",
    "page": "hist_page",
    "by": "hist_by",
    "checks": "hist_failed_checks",
}


def url_params() -> dict:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def set_url(view: H.HistoryView) -> None:
    """Write a view to the address bar (and remember it, so it is not parsed back)."""
    params = H.params_from_view(view)
    ss[APPLIED] = H.as_lists(params)
    ss["hist_url_view"] = view
    ss["hist_problems"] = []  # what a pasted link got wrong no longer applies
    st.query_params.from_dict(params)


def open_view(view: H.HistoryView) -> None:
    """Show another view of this page: the address bar and the widgets follow, so the URL opens what is on screen."""
    set_url(view)
    ss[APPLIED] = None  # the next run takes the URL as a new link: the widgets are set from it before they are drawn
    st.rerun()


def open_params(params: dict) -> None:
    """An in-page link (an alert's "Show these attempts"): its query parameters become the view."""
    open_view(H.parse_view(params).view)


def widgets_from_view(view: H.HistoryView) -> None:
    """Put a view (from the URL) into the filter widgets."""
    ss[WIDGETS["since"]] = view.since
    ss[WIDGETS["from"]] = H.date_of(view.date_from)
    ss[WIDGETS["to"]] = H.date_of(view.date_to)
    ss[WIDGETS["provider"]] = list(view.providers)
    ss[WIDGETS["model"]] = list(view.models)
    ss[WIDGETS["status"]] = list(view.statuses)
    ss[WIDGETS["error_type"]] = list(view.error_types)
    ss[WIDGETS["kind"]] = list(view.kinds)
    ss[WIDGETS["q"]] = view.text
    ss[WIDGETS["page"]] = view.page
    ss[WIDGETS["by"]] = view.chart_by
    ss[WIDGETS["checks"]] = view.failed_checks
    ss["hist_url_view"] = view


def filters(view: H.HistoryView) -> H.HistoryView:
    """The filter widgets; returns the view they describe."""
    providers = sorted(set(store.distinct("provider")) | set(view.providers))
    models = sorted(set(store.distinct("model")) | set(view.models))
    with st.container(border=True, key="history_filters"):
        c = st.columns([1.2, 1, 1, 1])
        since = c[0].selectbox("Time range", list(H.SINCE_LABELS), format_func=H.SINCE_LABELS.get, key=WIDGETS["since"])
        provider = c[1].multiselect("Provider", providers, key=WIDGETS["provider"], placeholder="any")
        model = c[2].multiselect("Model", models, key=WIDGETS["model"], placeholder="any")
        status = c[3].multiselect("Status", list(ATTEMPT_STATUSES), key=WIDGETS["status"], placeholder="any")
        d = st.columns([1.2, 1, 1, 1])
        text = d[0].text_input("Text in the prompt", key=WIDGETS["q"], placeholder="e.g. lighthouse", max_chars=C.HISTORY_MAX_PARAM_CHARS)
        error_type = d[1].multiselect("Error type", list(ERROR_TYPES), key=WIDGETS["error_type"], placeholder="any")
        kind = d[2].multiselect(
            "Run kind",
            list(RUN_KINDS),
            key=WIDGETS["kind"],
            placeholder="any but probes",
            help="Probe runs (Diagnostics) are hidden from the list, the stats, the charts and the exports unless you pick 'probe' here.",
        )
        by = d[3].selectbox("Stack the timeline by", list(H.CHART_BY), key=WIDGETS["by"], format_func=lambda b: b.replace("_", " "))
        date_from = date_to = None
        if since == "custom":
            e = st.columns(4)
            ss.setdefault(WIDGETS["from"], None)
            ss.setdefault(WIDGETS["to"], None)
            date_from = e[0].date_input("From (UTC)", key=WIDGETS["from"])
            date_to = e[1].date_input("To (UTC, included)", key=WIDGETS["to"])
        failed_checks = st.checkbox(
            "Only attempts with a failed check",
            key=WIDGETS["checks"],
            help="Checks (size, text, similar, judge) made on Generate, Compare or by imagelab compare --check.",
        )
    url_view: H.HistoryView = ss.get("hist_url_view", view)
    new = H.HistoryView(
        since=since,
        providers=list(provider),
        models=list(model),
        statuses=list(status),
        error_types=list(error_type),
        kinds=list(kind),
        text=text.strip(),
        chart_by=by,
        failed_checks=bool(failed_checks),
        date_from=H.keep_when(url_view.date_from, date_from),
        date_to=H.keep_when(url_view.date_to, date_to),
    )
    if since != "custom":
        new.date_from = new.date_to = None
    # the page number survives only while the filters stay the same
    same = H.params_from_view(H.without_page(new)) == H.params_from_view(H.without_page(view.without_attempt()))
    new.page = int(ss.get(WIDGETS["page"], 1)) if same else 1
    return new


def show_problems(problems: list[str]) -> None:
    if problems:
        with st.container(border=True, key="history_link_problems"):
            st.warning("Parts of this link could not be used; they were ignored.", icon=":material/link_off:")
            for problem in problems:
                st.text(literal(problem))


def show_list(view: H.HistoryView) -> None:
    flt = view.to_filter()
    stats_flt = view.stats_filter()
    rows, total = H.table_page(store, flt, page=view.page)
    pages = max(1, -(-total // C.DEFAULT_PAGE_SIZE))
    st.caption(
        f"{total:,} attempts match. Newest first; times in UTC. Costs are estimates from the price table "
        f"checked {ui.plain(pricing.prices_checked())} (usage when the provider sent it, else size x quality)."
    )
    tab_table, tab_stats, tab_charts, tab_export = st.tabs(["Attempts", "Stats", "Charts", "Export"])
    with tab_table:
        if not rows:
            st.info("No attempts match these filters. Widen the time range or clear a filter.", icon=":material/search_off:")
        else:
            event = st.dataframe(
                [{k: v if k == "image" else literal_obj(v) for k, v in r.items()} for r in rows],  # cells show text literally
                key="history_table",
                hide_index=True,
                on_select="rerun",
                selection_mode="single-row",
                column_config={
                    "image": st.column_config.ImageColumn("image", width="small"),
                    "id": st.column_config.NumberColumn("id", format="%d"),
                    "HTTP": st.column_config.NumberColumn("HTTP", format="%d"),
                    "latency (s)": st.column_config.NumberColumn("latency (s)", format="%.1f", help="The provider's time"),
                    "wait (s)": st.column_config.TextColumn(
                        "wait (s)", help="Time waiting inside the app (queue, rate limit, cooldown) before the request went out"
                    ),
                    "cost (est.)": st.column_config.NumberColumn("cost (est.)", format="$%.4f", help="An estimate, not a bill"),
                    "prompt": st.column_config.TextColumn("prompt", width="large"),
                },
            )
            st.caption("Select a row to open that attempt.")
            chosen = getattr(getattr(event, "selection", None), "rows", None)
            if chosen:
                open_view(H.replace_view(view, attempt=rows[chosen[0]]["id"]))
        c = st.columns([1, 1, 4])
        ss[WIDGETS["page"]] = min(max(view.page, 1), pages)
        c[0].number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=WIDGETS["page"])
        open_id = c[1].number_input("Open attempt #", min_value=0, step=1, value=0, key="hist_open_id")
        if open_id:
            ss.pop("hist_open_id", None)
            open_view(H.replace_view(view, attempt=int(open_id)))
    with tab_stats:
        for by, title in (("model", "Per model"), ("provider", "Per provider")):
            stats = H.group_stats(store, stats_flt, by)
            st.subheader(title)
            if not stats:
                st.caption("Nothing to count yet.")
                continue
            if by == "model":
                t = H.totals(stats, store.run_outcomes(stats_flt), store.spend_by_kind(flt))
                m = st.columns(5)
                m[0].metric(
                    "Attempts",
                    f"{t['attempts']:,}",
                    help=f"Every retry and fallback hop is an attempt. {t['refused']:,} were refused before sending "
                    "(invalid input) and count in no rate.",
                )
                m[1].metric(
                    "Attempt success",
                    H.percent(t["succeeded"], t["finished"]),
                    help=f"{t['succeeded']:,} of {t['finished']:,} attempts that reached the provider and finished succeeded "
                    "(each retry and fallback hop counts; cancelled, pending and refused count in no rate).",
                )
                m[2].metric(
                    "Run success",
                    H.percent(t["runs_succeeded"], t["runs_ended"]),
                    help=f"{t['runs_succeeded']:,} of {t['runs_ended']:,} runs ended with an image. A run is one generation "
                    "with its retries and fallback hops; runs the user stopped count in no rate.",
                )
                m[3].metric("Images", f"{t['images']:,}")
                m[4].metric(
                    "Cost (estimate)",
                    pricing.format_usd(t["cost_usd"]),
                    help=f"Every attempt that costs money, {pricing.format_usd(t['checks_cost_usd'])} of it for moderation checks "
                    f"and judge calls. Per image (image requests only): {pricing.format_usd(t['cost_per_image'])}. "
                    "An estimate, not a bill.",
                )
            st.dataframe(
                H.stats_table(stats, by),
                hide_index=True,
                key=f"history_stats_{by}",
                column_config={
                    "attempt success": st.column_config.ProgressColumn(
                        "attempt success",
                        min_value=0.0,
                        max_value=1.0,
                        format="percent",
                        help="Succeeded of the attempts that reached the provider and finished",
                    ),
                    "refused before sending": st.column_config.NumberColumn(
                        "refused before sending", help="Invalid input caught by the app: never sent, in no rate"
                    ),
                    "p50 (s)": st.column_config.NumberColumn("p50 (s)", format="%.1f"),
                    "p95 (s)": st.column_config.NumberColumn("p95 (s)", format="%.1f"),
                    "cost (est.)": st.column_config.NumberColumn("cost (est.)", format="$%.4f"),
                    "per image (est.)": st.column_config.NumberColumn("per image (est.)", format="$%.4f"),
                },
            )
        if not view.kinds:
            st.caption("Probe runs from Diagnostics are left out of these numbers; pick the run kind 'probe' to see them.")
        st.caption(
            "These figures are of image requests: moderation checks and judge calls are left out (they are in the "
            "list, and their cost is in Cost). Latency is the provider's time; time waiting inside the app is left out of p50 and p95."
        )
    with tab_charts:
        timeline, bucket = H.timeline(store, stats_flt, by=view.chart_by)
        if timeline:
            end = stats_flt.until or time.time()
            st.altair_chart(
                ui.timeline_chart(timeline, by=view.chart_by, bucket_s=bucket, start=stats_flt.since, end=end), key="chart_timeline"
            )
        else:
            st.caption("No attempts over time for these filters.")
        read_timeout = settings.client.read_timeout_s
        bins, width = H.latency_bins(store, stats_flt, read_timeout_s=read_timeout)
        if bins:
            st.altair_chart(ui.latency_chart(bins, width_s=width, read_timeout_s=read_timeout), key="chart_latency")
        errors = H.errors_by_provider(store, stats_flt)
        if errors:
            st.altair_chart(ui.errors_chart(errors), key="chart_errors")
        elif timeline:
            st.caption("No errors for these filters.")
        spend = spend_per_day(store, flt)  # estimated cost per UTC day and provider, checks included
        if spend:
            st.altair_chart(spend_chart(spend), key="chart_spend")
            st.caption("Spend is the estimated cost recorded with each attempt (lib/pricing.py), per UTC day: an estimate, not a bill.")
    with tab_export:
        st.caption(
            f"The filtered attempts (up to {C.HISTORY_EXPORT_MAX_ROWS:,}), newest first. No key and no key hint; "
            "provider text is scrubbed; costs are estimates."
        )
        if total > C.HISTORY_EXPORT_MAX_ROWS:
            st.warning(H.cut_note(C.HISTORY_EXPORT_MAX_ROWS), icon=":material/content_cut:")
        c = st.columns(4)
        c[0].download_button(
            "Download CSV",
            data=lambda: H.to_csv(H.export(store, flt)),
            file_name="imagelab-attempts.csv",
            mime="text/csv",
            key="export_csv",
            icon=":material/download:",
            on_click="ignore",
        )
        c[1].download_button(
            "Download JSON",
            data=lambda: H.to_json(H.export(store, flt)),
            file_name="imagelab-attempts.json",
            mime="application/json",
            key="export_json",
            icon=":material/download:",
            on_click="ignore",
        )


def show_attempt(view: H.HistoryView) -> None:
    detail = H.attempt_detail(store, view.attempt)
    if st.button("Back to the list", key="history_back", icon=":material/arrow_back:", type="tertiary"):
        open_view(view.without_attempt())
    if detail is None:
        st.warning(f"There is no attempt #{view.attempt} in this database.", icon=":material/search_off:")
        return
    a = detail["attempt"]
    st.subheader(f"Attempt #{a['id']}")
    m = st.columns([1.6, 1.9, 1.1, 0.9, 0.8, 1.4])  # model ids are long; "interrupted" must fit too
    m[0].metric("Status", ui.plain(a["status"]))
    m[1].metric("Model", ui.plain(a["model"] or "-"), help=f"Fell back from {ui.plain(a['fallback_from'])}" if a["fallback_from"] else None)
    m[2].metric("Provider", ui.plain(a["provider"] or "-"))
    m[3].metric("Latency", f"{H.seconds(a['latency_ms'])} s" if a["latency_ms"] is not None else "—", help="The provider's time")
    m[4].metric(
        "Wait",
        f"{H.seconds(a.get('wait_ms'))} s" if a.get("wait_ms") is not None else "—",
        help="Time waiting inside the app (queue, rate limit, cooldown) before the request went out; not recorded for older attempts",
    )
    m[5].metric(
        "Cost (estimate)", pricing.format_usd(a.get("cost_usd")), help=f"Basis: {a.get('cost_basis') or '-'}. An estimate, not a bill."
    )
    st.caption(
        f"Started {H.when(a['started_at'])} UTC · attempt {a['attempt_no']} of its run"
        + (f" · fell back from {ui.plain(a['fallback_from'])}" if a["fallback_from"] else "")
        + (" · " + str(a["image_count"]) + " image(s)" if a["image_count"] else "")
    )
    source, why = H.rerun_source(store, a)  # a check is never sent again: its run's image request is
    if st.button(
        "Re-run in Generate",
        key="rerun",
        icon=":material/replay:",
        type="primary",
        disabled=source is None,
        help=why or "Opens Generate with this prompt, these parameters, this provider and model.",
    ):
        st.switch_page("pages/generate.py", query_params={"rerun": str(a["id"])})
    if why:
        st.caption(ui.plain(why))
    if a.get("note"):  # what the attempt noted: images past the number asked for, events counted, a partial failure
        st.info(ui.plain(a["note"]), icon=":material/info:")
    st.markdown("**Prompt**")
    st.code(literal(a["prompt"] or "(empty)"), language=None, wrap_lines=True)
    err = detail["error"]
    if err is not None:
        ui.error_card(
            Outcome(
                ok=False,
                run_id=a["run_id"] or "",
                requested_model=a["model"] or "",
                model=a["model"] or "",
                images=[],
                attempts=[],
                events=[],
                error=err,
                latency_ms=a["latency_ms"] or 0,
            )
        )
        # ui.error_card links to the checklist step itself.
    # Media: first-partial latency and the reference images of an edit
    ui.attempt_media(a)
    images = [i for i in a.get("images", []) if i.get("abs_path") and Path(i["abs_path"]).is_file()]
    if images:
        st.markdown("**Images**")
        cols = st.columns(min(len(images), 2))
        for n, image in enumerate(images):
            with cols[n % len(cols)]:
                shown = ui.session_image(st, image["abs_path"], width="stretch")
                scaled = " · shown scaled down; the download is the full image" if shown == "preview" else ""
                st.caption(f"{image['width']}x{image['height']} {image['format']}, {(image['byte_size'] or 0) / 1024:,.0f} KB{scaled}")
                ui.session_download(
                    st,
                    "Download",
                    lambda p=image["abs_path"]: Path(p).read_bytes(),
                    file_name=Path(image["abs_path"]).name,
                    key=f"img-dl-{n}",
                )
    if detail["checks"]:
        st.markdown("**Checks**")
        show_checks(st, detail["checks"])
    with st.expander("Parameters", icon=":material/tune:", expanded=True):
        st.json(literal_obj(a.get("params") or {}))
    with st.expander("The request as sent (the key masked)", icon=":material/upload:"):
        req = detail["request"]
        st.code(literal(f"{req['method']} {req['url']}"), language=None, wrap_lines=True)
        st.caption("Headers the app sends (provider-specific extra headers are not stored)")
        st.json(literal_obj(req["headers"]))
        if req["body"] is not None:
            st.caption("JSON body")
            st.json(literal_obj(req["body"]))
        if req["note"]:
            st.caption(ui.plain(req["note"]))
    with st.expander("The raw answer (base64 shortened)", icon=":material/download:", expanded=err is not None):
        if detail["raw_response"]:
            st.code(literal(detail["raw_response"]), language=None, wrap_lines=True)
        else:
            st.caption("Not recorded for this attempt (nothing came back, or it was recorded before answers were kept).")
    if a.get("usage"):
        with st.expander("Usage reported by the provider", icon=":material/data_usage:"):
            st.json(literal_obj(a["usage"]))
    siblings = detail["siblings"]
    if len(siblings) > 1:
        st.markdown("**This run's attempts, in order** (retries and fallback hops)")
        st.dataframe(
            literal_obj(
                [
                    {
                        "this": "▶" if s["id"] == a["id"] else "",
                        "id": s["id"],
                        "#": s["attempt_no"],
                        "model": s["model"],
                        "fell back from": s["fallback_from"] or "",
                        "status": s["status"],
                        "error type": s["error_type"] or "",
                        "HTTP": s["http_status"],
                        "latency (s)": H.seconds(s["latency_ms"]),
                        "wait (s)": H.seconds(s.get("wait_ms")),
                        "cost (est.)": s["cost_usd"],
                    }
                    for s in siblings
                ]
            ),
            hide_index=True,
            key="history_siblings",
            column_config={"cost (est.)": st.column_config.NumberColumn("cost (est.)", format="$%.4f")},
        )
    run = detail["run"]
    if run:
        st.caption(
            f"Run {run['id'][:12]} · kind {run.get('kind') or '-'}"
            + (f" · re-run of attempt #{run['rerun_of']}" if run.get("rerun_of") else "")
        )
    result_actions(a.get("run_id"), len(a.get("images") or []), key="history")  # refill Generate from this result
    lineage_section(store, a.get("run_id"), lambda aid: open_view(H.replace_view(view, attempt=aid)))
    events = detail["events"]
    st.markdown("**Progress events of the run**")
    if events:
        st.dataframe(literal_obj(ui.event_rows(events)), hide_index=True, key="history_events")  # bounded, however many were stored
    else:
        st.caption("No progress events were stored for this run.")


params = url_params()
if "attempt" not in params:  # the filters are kept: back on this page with a bare /history, they come back
    restored = ui.keep_query("history", params, arrived=WIDGETS["since"] not in ss)
    if restored:
        st.query_params.from_dict(restored)
        params = url_params()
if ss.get(APPLIED) != params or "hist_url_view" not in ss:  # a new link, or the first visit: the URL wins
    parsed = H.parse_view(params)
    widgets_from_view(parsed.view)
    ss[APPLIED] = params
    ss["hist_problems"] = parsed.problems
url_view: H.HistoryView = ss["hist_url_view"]
ui.alerts_banner(settings.client.read_timeout_s, open_here=open_params)
st.title("History")
notes = st.container()  # filled once the filters have had their say
if url_view.attempt is not None:
    with notes:
        show_problems(ss.get("hist_problems", []))
    show_attempt(url_view)
else:
    st.caption("Every attempt, retry and fallback hop. The address bar keeps the filters: copy it to share this view.")
    if WIDGETS["since"] not in ss:  # back from an attempt: the widgets were cleared
        widgets_from_view(url_view)
    view = filters(url_view)
    if H.params_from_view(view) != H.params_from_view(url_view):
        set_url(view)
    with notes:
        show_problems(ss.get("hist_problems", []))
    show_list(view)
