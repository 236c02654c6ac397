"""Diagnostics: the nine-step checklist, live probes, evidence from history, shareable snapshots.

`?step=N` opens with that step expanded; `?report=<id>` shows a saved snapshot
read-only (no settings, no probes); an uploaded report JSON is shown the same way.
"""

import base64
import logging
import re
import time

import streamlit as st

from lib import constants as C
from lib import diagnostics as D
from lib import text, ui
from lib.providers import KNOWN_MODELS, PRESETS
from lib.ui.dialect import describe_answer_box

log = logging.getLogger("imagelab.app")
KIND_LABELS = {"static": "Static check", "probe": "Live probe", "history": "From history"}
ICONS = {
    "pass": ":green[:material/check_circle:]",
    "warn": ":orange[:material/warning:]",
    "fail": ":red[:material/cancel:]",
    "not_checked": ":gray[:material/remove_circle_outline:]",
}


def _step_param() -> int | None:
    raw = st.query_params.get("step")
    try:
        step = int(raw) if raw is not None else None
    except ValueError:
        return None
    return step if step in D.STEP_NAMES else None


def _image_bytes(data_url: str) -> bytes | None:
    try:
        return base64.b64decode(data_url.split(",", 1)[1], validate=True)
    except (ValueError, IndexError):
        return None


def render_report(report: D.Report, *, key: str, expanded_step: int | None) -> None:
    """The nine steps top to bottom: icon, title and status, the verdict, and an
    expander with the evidence, the fix and links. Every report text is plain text."""
    counts = report.counts
    st.markdown(
        f"**Result: {ICONS[report.status]} {D.STATUS_LABELS[report.status]}** · {counts['fail']} fail · "
        f"{counts['warn']} warning · {counts['pass']} pass · {counts['not_checked']} not checked"
    )
    s = report.settings
    st.caption("Checked")
    dialect = f" · gateway dialect: {s['dialect']}" if s.get("dialect") else ""
    st.text(
        text.literal(
            f"{s.get('provider_label', report.provider)} · {report.model} · {s.get('endpoint', '')}{dialect} · {report.created_at}"
        )
    )
    for step in report.steps:
        with st.container(border=True, key=f"{key}-step-{step.step}"):
            st.markdown(f"{ICONS[step.status]} **{step.step}. {step.title}** · {D.STATUS_LABELS[step.status]}")
            st.text(text.literal(step.verdict))
            with st.expander(f"Evidence and fix for step {step.step}", expanded=step.step == expanded_step):
                if not step.evidence:
                    st.caption("No evidence for this step.")
                for e in step.evidence:
                    st.caption(KIND_LABELS.get(e.kind, e.kind))
                    st.text(text.literal(e.text))
                    if e.prompt is not None:
                        st.text(text.literal(f"Prompt: {e.prompt}"))
                    if e.image:
                        data = _image_bytes(e.image)
                        if data:
                            ui.session_image(st, data, width=C.DIAG_THUMB_PX)
                    if e.links:
                        st.markdown(" · ".join(f"[{text.markdown_line(link.label)}]({link.url})" for link in e.links))
                st.markdown("**How to fix it**")
                st.text(text.literal(step.fix))
                # Media: what each model takes (stream, edits, input_fidelity, backgrounds, sizes)
                if step.step == 6:
                    ui.capability_table(report.provider)


def downloads(report: D.Report, *, key: str) -> None:
    base = ui.app_base_url()
    name = f"imagelab-diagnostics-{report.provider}-{report.created_at.replace(':', '').replace('-', '')}"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:120]  # an uploaded report's provider is anyone's text
    c1, c2, c3 = st.columns(3)
    ui.session_download(
        c1,
        "Download Markdown",
        lambda: D.report_to_markdown(report, base_url=base),
        file_name=f"{name}.md",
        mime="text/markdown",
        key=f"{key}-dl-md",
        icon=":material/description:",
    )
    ui.session_download(
        c2,
        "Download JSON",
        lambda: D.report_to_json(report),
        file_name=f"{name}.json",
        mime="application/json",
        key=f"{key}-dl-json",
        icon=":material/data_object:",
    )
    ui.session_download(
        c3,
        "Download HTML",
        lambda: D.report_to_html(report, base_url=base),
        file_name=f"{name}.html",
        mime="text/html",
        key=f"{key}-dl-html",
        icon=":material/html:",
    )


def read_only(report: D.Report, *, key: str, note: str) -> None:
    st.info(note, icon=":material/visibility:")
    render_report(report, key=key, expanded_step=_step_param())
    st.divider()
    st.caption("Export this snapshot")
    downloads(report, key=key)


def saved_report_view(report_id: str) -> None:
    st.title("Diagnostics snapshot")
    try:
        report = D.load_report(ui.get_store(), report_id)
    except D.ReportError as err:
        st.error(f"This saved report cannot be read: {err}")
        return
    if report is None:
        st.warning(
            "There is no saved report with this id on this deployment. Reports are kept in the database of the deployment that made them."
        )
        st.page_link("pages/diagnostics.py", label="Open Diagnostics", icon=":material/checklist:")
        return
    read_only(report, key="saved", note="A saved snapshot, read-only. It shows what was checked when it was saved; nothing is run again.")


def live_view() -> None:
    settings = ui.page_settings()
    st.title("Diagnostics")
    st.caption(
        "Nine checks in the order requests usually fail. Static checks and your recent attempts are read at once; "
        "live probes send a few cheap requests that generate nothing."
    )

    with st.expander("Open a teammate's report (JSON)", icon=":material/upload_file:"):
        upload = st.file_uploader("Report JSON", type=["json"], key="diag_upload", label_visibility="collapsed")
    if upload is not None:
        try:
            imported = D.import_report(upload.getvalue())
        except D.ReportError as err:
            st.error(f"This file cannot be opened as a report: {text.markdown(str(err))}")
        else:
            report = imported.report
            if imported.notes:
                st.warning("Parts of this report were left out to keep it readable:", icon=":material/content_cut:")
                st.text("\n".join(imported.notes))
            read_only(
                report,
                key="uploaded",
                note="An uploaded report, read-only. Nothing is run; remove the file above to go back to your own checks.",
            )
            return

    pid = settings.client.provider
    ids = list(PRESETS)
    ui.keep_place("diagnostics", ("diag_probe", "diag_hide", "diag_note"), prefixes=("diag_provider__", "diag_model__"))
    c1, c2 = st.columns(2)
    provider = c1.selectbox(
        "Provider to check", ids, index=ids.index(pid), format_func=lambda p: PRESETS[p].label, key=f"diag_provider__{pid}"
    )
    models = list(dict.fromkeys([settings.model, *PRESETS[provider].models, *KNOWN_MODELS]))
    model = (
        c2.selectbox("Model to check", models, index=0, key=f"diag_model__{pid}__{settings.model}", accept_new_options=True)
        or settings.model
    )
    client = ui.client_settings_for(settings, provider)

    usd, note = D.estimate_spend(model)
    cost = f"about ${usd:.3f}" if usd is not None else f"cost estimate unavailable: {note}"
    o1, o2 = st.columns(2)
    probe = o1.checkbox(
        "Live probes (generate nothing)",
        value=True,
        key="diag_probe",
        help="GET /models, a prompt-less POST to the generations route (a dialect's create route), and the poll route "
        "of a task route (a dialect's own poll route).",
    )
    spend = o2.checkbox(
        "Spend one image",
        value=False,
        key="diag_spend",
        help="Runs the whole path once: request, answer, decode and keep. The provider charges for it.",
    )
    o2.caption(
        (
            f"{C.DIAG_SPEND_SIZE}, quality {C.DIAG_SPEND_QUALITY}, {cost}: the same price and parameters its attempt is "
            "recorded with (token usage, when the provider reports it, prices it instead)."
        ).replace("$", "\\$")
    )
    store = ui.get_store()
    target = D.fingerprint_digest(client, model)  # every setting a check reads, and the key
    if st.button("Run checks", type="primary", key="diag_run", icon=":material/play_arrow:"):
        with st.status("Running the checks...", expanded=True) as box:
            report = D.run_checks(client, model, store=store, probe=probe, spend=spend, on_progress=box.text)
            box.update(label="Checks done", state="complete", expanded=False)
        st.session_state["diag_report"] = (target, report)
        st.session_state.pop("diag_saved_id", None)
    kept = st.session_state.get("diag_report")
    if kept is not None and kept[0] == target:
        report = kept[1]
    else:
        if kept is not None:
            changes = D.stale_changes(kept[1], client, model) or ["the key"]
            st.warning(
                f"The results of the checks run at {kept[1].created_at} are out of date: {', '.join(changes)} changed since. "
                "Below are the static checks and history for the current settings; press Run checks for live results.",
                icon=":material/update:",
            )  # static checks and history need no button (kept briefly: the history queries are not free)
        cached = st.session_state.get("diag_static")
        if cached is not None and cached[0] == target and time.time() - cached[1] < C.DIAG_PAGE_CACHE_S:
            report = cached[2]
        else:
            report = D.run_checks(client, model, store=store, probe=False)
            st.session_state["diag_static"] = (target, time.time(), report)
        st.caption("Static checks and recent history only. Press Run checks for the live probes.")

    hide = st.checkbox("Hide prompts (length and a short hash instead), for sharing outside the team", key="diag_hide")
    shown = D.hide_prompts(report) if hide else report
    render_report(shown, key="live", expanded_step=_step_param())
    describe_answer_box(client.dialect)

    st.divider()
    st.subheader("Share")
    note = st.text_input("Note for the snapshot (optional)", key="diag_note", max_chars=500, placeholder="e.g. after rotating the key")
    if st.button("Save snapshot", key="diag_save", icon=":material/bookmark:"):
        try:
            st.session_state["diag_saved_id"] = D.save_report(store, shown, current=(client, model), note=note)
        except D.ReportError as err:
            st.session_state.pop("diag_saved_id", None)
            st.error(str(err), icon=":material/update:")
    saved = st.session_state.get("diag_saved_id")
    if saved:
        link = D.report_link(saved)
        st.success("Saved. Anyone who can open this app can open the snapshot read-only at:", icon=":material/link:")
        st.code(ui.app_base_url() + link, language=None)
        st.markdown(f"[Open the snapshot]({link})")
    downloads(shown, key="live")
    saved_reports(store)


def snapshot_label(row: dict) -> str:
    """A saved snapshot in a picker: its title, when to the second, and the start of its note."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(row["created_at"] or 0))
    note = (row.get("note") or "").strip()
    note = f" · {note[:40]}…" if len(note) > 40 else f" · {note}" if note else ""
    return text.literal(f"{row['title'] or row['id']} · {when}{note}")


def saved_reports(store) -> None:
    """The saved snapshots (title, note, when), each with a permalink and a delete that asks
    first; and two of them side by side, step by step."""
    st.divider()
    st.subheader("Saved snapshots")
    rows = D.list_reports(store)
    if not rows:
        st.caption("No snapshot saved yet. Save one when everything works: later you can compare against it.")
        return
    for row in rows:
        with st.container(border=True, key=f"diag-saved-{row['id']}"):
            c1, c2 = st.columns([5, 1])
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row["created_at"] or 0))
            c1.markdown(f"{ICONS.get(row['status'], '')} [{text.markdown_line(row['title'] or row['id'])}]({D.report_link(row['id'])})")
            c1.caption(f"Saved {when} · result: {text.markdown_line(D.STATUS_LABELS.get(row['status'], row['status'] or ''))}")
            if row["note"]:
                c1.text(text.literal(row["note"]))
            asking = st.session_state.get("diag_delete_ask") == row["id"]
            if not asking and c2.button("Delete", key=f"diag_del_{row['id']}", icon=":material/delete:"):
                st.session_state["diag_delete_ask"] = row["id"]
                st.rerun()
            if asking:
                st.warning("Delete this snapshot? Its permalink will stop working.")
                y, n = st.columns(2)
                if y.button("Delete it", key=f"diag_del_yes_{row['id']}", type="primary"):
                    D.delete_report(store, row["id"])
                    st.session_state.pop("diag_delete_ask", None)
                    st.rerun()
                if n.button("Keep it", key=f"diag_del_no_{row['id']}"):
                    st.session_state.pop("diag_delete_ask", None)
                    st.rerun()
    if len(rows) < 2:
        return
    st.subheader("What changed since it last worked")
    st.caption("Before: a snapshot from when it worked. After: a later one. Each step shows its status then and now.")
    labels = {r["id"]: snapshot_label(r) for r in rows}  # saved in the same minute, two snapshots still read apart
    ids = list(labels)
    c1, c2 = st.columns(2)
    before_id = c1.selectbox("Before", ids, index=len(ids) - 1, format_func=labels.get, key="diag_cmp_before")
    after_id = c2.selectbox("After", ids, index=0, format_func=labels.get, key="diag_cmp_after")
    if before_id == after_id:
        st.info("Before and After are the same snapshot: pick two different ones.", icon=":material/compare_arrows:")
        return
    try:
        before, after = D.load_report(store, before_id), D.load_report(store, after_id)
    except D.ReportError as err:
        st.error(f"A saved report cannot be read: {text.markdown(str(err))}")
        return
    if before is None or after is None:
        st.warning("One of these snapshots was deleted.")
        return
    for change in D.compare_reports(before, after):
        b, a = change.before, change.after
        with st.container(border=True, key=f"diag-cmp-{change.step}"):
            st.markdown(
                f"**{change.step}. {change.title}** · {ICONS[b.status] if b else ''} {D.STATUS_LABELS[b.status] if b else '-'} → "
                f"{ICONS[a.status] if a else ''} {D.STATUS_LABELS[a.status] if a else '-'} · {change.direction}"
            )
            if change.changed:
                left, right = st.columns(2)
                for col, side in ((left, b), (right, a)):
                    if side is None:
                        continue
                    col.text(text.literal(side.verdict))
                    for e in side.evidence[:4]:
                        col.caption(f"{KIND_LABELS.get(e.kind, e.kind)}: {text.markdown_line(e.text)}")


# A permalink opened first after the server starts must still go through streamlit_app.py
# (navigation, and the app password when one is set): the read-only view draws no sidebar,
# so it does not get this from ui.page_settings().
ui.leave_pages_folder_mode()
report_id = st.query_params.get("report")
if report_id:
    saved_report_view(report_id)
else:
    live_view()
