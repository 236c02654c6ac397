"""A report as JSON (``imagelab-report/1``, read back by ``report_from_json``), as
Markdown (a table, ready for an issue) and as one self-contained HTML file (inline CSS,
no scripts, no external fetches)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from xml.sax.saxutils import quoteattr

from lib import constants as C
from lib.diagnostics.checks import stale_changes
from lib.diagnostics.report import (
    _SAFE_IMAGE,
    _SAFE_LINK,
    EVIDENCE_KINDS,
    REPORT_FORMAT,
    STATUS_ICONS,
    STATUS_LABELS,
    STATUSES,
    STEP_NAMES,
    Evidence,
    Link,
    Report,
    ReportError,
    Step,
    _scrub_report,
    hide_prompts,
    report_link,
    step_link,
)
from lib.redact import MASK, scrub
from lib.text import code_span, markdown_line
from lib.text import html as html_text

# --------------------------------------------------------------------------
# JSON


def report_to_json(report: Report, *, indent: int | None = 2) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=indent)


def _need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ReportError(f"This report is missing '{key}' in {where}.")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ReportError(f"'{key}' in {where} has the wrong type.")
    return value


def report_from_json(data: str | bytes | dict[str, Any]) -> Report:
    """Read a report back (an upload, a saved row). Refuses anything that is not
    an ``imagelab-report/1`` with a clear message (``ReportError``)."""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > C.DIAG_MAX_REPORT_BYTES:
            raise ReportError(f"The file is {len(data):,} bytes; a report is at most {C.DIAG_MAX_REPORT_BYTES:,}.")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ReportError("The file is not UTF-8 text; a report is a JSON file.") from None
    if isinstance(data, str):
        if len(data) > C.DIAG_MAX_REPORT_BYTES:
            raise ReportError(f"The text is too long for a report (at most {C.DIAG_MAX_REPORT_BYTES:,} characters).")
        try:
            obj = json.loads(data)
        except ValueError as err:
            raise ReportError(f"The file is not valid JSON ({err.msg} at line {err.lineno}).") from None
    else:
        obj = data
    if not isinstance(obj, dict):
        raise ReportError("This JSON is not an Image Prompt Lab report (it is not an object).")
    fmt = obj.get("format")
    if fmt != REPORT_FORMAT:
        if isinstance(fmt, str) and fmt.startswith("imagelab-report/"):
            raise ReportError(f"This report is in format '{scrub(fmt, limit=40)}'; this version reads {REPORT_FORMAT}.")
        raise ReportError(f'This JSON is not an Image Prompt Lab report (no "format": "{REPORT_FORMAT}").')
    provider = _need(obj, "provider", str, "the report")
    model = _need(obj, "model", str, "the report")
    raw_steps = _need(obj, "steps", list, "the report")
    settings = obj.get("settings", {})
    if not isinstance(settings, dict):
        raise ReportError("'settings' in the report has the wrong type.")
    steps: list[Step] = []
    seen: set[int] = set()
    for i, raw in enumerate(raw_steps, start=1):
        where = f"step entry {i}"
        if not isinstance(raw, dict):
            raise ReportError(f"{where} is not an object.")
        number = _need(raw, "step", int, where)
        if number not in STEP_NAMES or number in seen:
            raise ReportError(f"{where} has step number {number!r}; steps are 1 to 9, each once.")
        seen.add(number)
        status = _need(raw, "status", str, where)
        if status not in STATUSES:
            raise ReportError(f"{where} has status '{scrub(status, limit=30)}'; one of {', '.join(STATUSES)} is expected.")
        evidence: list[Evidence] = []
        for j, item in enumerate(_need(raw, "evidence", list, where), start=1):
            w = f"evidence {j} of step {number}"
            if not isinstance(item, dict):
                raise ReportError(f"{w} is not an object.")
            kind = _need(item, "kind", str, w)
            if kind not in EVIDENCE_KINDS:
                raise ReportError(f"{w} has kind '{scrub(kind, limit=30)}'; one of {', '.join(EVIDENCE_KINDS)} is expected.")
            links = []
            for link in item.get("links", []) or []:
                if not isinstance(link, dict) or not isinstance(link.get("url"), str) or not isinstance(link.get("label"), str):
                    raise ReportError(f"A link in {w} is not {{label, url}}.")
                if not _SAFE_LINK.match(link["url"]):
                    raise ReportError(f"A link in {w} does not point inside the app; reports only link to app pages.")
                links.append(Link(link["label"], link["url"]))
            image = item.get("image")
            if image is not None and (not isinstance(image, str) or not _SAFE_IMAGE.match(image)):
                raise ReportError(f"The image in {w} is not an inline PNG, JPEG or WebP thumbnail.")
            prompt = item.get("prompt")
            if prompt is not None and not isinstance(prompt, str):
                raise ReportError(f"'prompt' in {w} has the wrong type.")
            evidence.append(Evidence(kind, _need(item, "text", str, w), links, prompt, image))
        steps.append(Step(number, STEP_NAMES[number], status, _need(raw, "verdict", str, where), evidence, _need(raw, "fix", str, where)))
    if seen != set(STEP_NAMES):
        missing = ", ".join(str(n) for n in sorted(set(STEP_NAMES) - seen))
        raise ReportError(f"This report lacks step(s) {missing}; a report has all nine.")
    steps.sort(key=lambda s: s.step)
    created = obj.get("created_at", "")
    report = Report(
        provider=provider,
        model=model,
        steps=steps,
        settings=settings,
        created_at=created if isinstance(created, str) else "",
        title=obj.get("title") if isinstance(obj.get("title"), str) else "",
        hide_prompts=bool(obj.get("hide_prompts", False)),
        report_id=obj.get("report_id") if isinstance(obj.get("report_id"), str) else None,
    )
    return _scrub_report(report)


# --------------------------------------------------------------------------
# Markdown


def _abs(url: str, base_url: str) -> str:
    return (base_url.rstrip("/") + url) if base_url else url


def report_to_markdown(report: Report, *, base_url: str = "") -> str:
    """Headings and a table, ready to paste into an issue or a chat."""
    r = report
    s = r.settings
    out = [f"## Image Prompt Lab diagnostics: {markdown_line(s.get('provider_label', r.provider))} / {markdown_line(r.model)}", ""]
    counts = r.counts
    out.append(
        f"**Result: {STATUS_LABELS[r.status]}** ({counts['fail']} fail, {counts['warn']} warning, {counts['pass']} pass, {counts['not_checked']} not checked), "
        f"{markdown_line(r.created_at)}" + (f", report {markdown_line(r.report_id)}" if r.report_id else "")
    )
    out.append("")
    out.append(f"- Endpoint: `{code_span(s.get('endpoint', ''))}`")
    out.append(
        f"- Key: {markdown_line(s.get('key_source', ''))}" + (f", ending in `{code_span(s['key_hint'])}`" if s.get("key_hint") else "")
    )
    if "read_timeout_s" in s:
        out.append(
            f"- Read timeout: {markdown_line(s.get('read_timeout_s'))} s; retries: {markdown_line(s.get('max_retries'))}; fallbacks: {markdown_line(', '.join(map(str, s.get('fallbacks') or [])) or 'none')}"
        )
    if r.hide_prompts:
        out.append("- Prompts are hidden (length and a short hash).")
    if r.report_id and base_url:
        out.append(f"- Permalink: {_abs(report_link(r.report_id), base_url)}")
    out += ["", "| # | Step | Status | Verdict |", "|---|---|---|---|"]
    for st in r.steps:
        out.append(
            f"| {st.step} | {markdown_line(st.title)} | {STATUS_ICONS[st.status]} {STATUS_LABELS[st.status]} | {markdown_line(st.verdict)} |"
        )
    for st in r.steps:
        out += ["", f"### {st.step}. {markdown_line(st.title)}: {STATUS_LABELS[st.status]}", "", markdown_line(st.verdict), ""]
        for e in st.evidence:
            line = f"- *{e.kind}*: {markdown_line(e.text)}"
            if e.prompt is not None:
                line += f" Prompt: {markdown_line(e.prompt)}"
            links = [f"[{markdown_line(link.label)}]({_abs(link.url, base_url)})" for link in e.links]
            if links:
                line += " (" + ", ".join(links) + ")"
            out.append(line)
        out.append(f"\n**Fix:** {markdown_line(st.fix)}")
        if base_url:
            out.append(f"\nOpen this step in the app: {_abs(step_link(st.step), base_url)}")
    out += ["", "_Made with Image Prompt Lab. The API key is never included; signed URL query strings are cut._", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------
# JUnit XML (for CI)


def report_to_junit(report: Report, *, base_url: str = "", fail_on: str = "fail") -> str:
    """One ``testcase`` per step. A failing step is a ``failure``; a warning is a ``failure``
    with ``--fail-on warn`` and otherwise a ``skipped`` case whose message starts with
    'warning:'; a step not checked is ``skipped`` ('not checked:'); a pass is a plain case.
    Each case carries the step's verdict, fix and permalink (absolute with ``base_url``)."""

    def esc(text: Any) -> str:
        return html_text(str(text))

    failing = {"fail"} | ({"warn"} if fail_on == "warn" else set())
    cases = []
    failures = skipped = 0
    for st in report.steps:
        link = _abs(step_link(st.step), base_url)
        detail = esc(f"{st.verdict}\nFix: {st.fix}\n{link}")
        name = quoteattr(f"{st.step}. {st.title}")
        body = ""
        if st.status in failing:
            failures += 1
            body = f"<failure message={quoteattr(st.verdict)} type={quoteattr(st.status)}>{detail}</failure>"
        elif st.status in ("warn", "not_checked"):
            skipped += 1
            prefix = "warning" if st.status == "warn" else "not checked"
            body = f"<skipped message={quoteattr(f'{prefix}: {st.verdict}')}/>"
        out = f"<system-out>{esc(link)}</system-out>"
        cases.append(f'  <testcase classname="imagelab.diagnostics" name={name}>{body}{out}</testcase>')
    title = quoteattr(report.title or f"Diagnostics: {report.provider} / {report.model}")
    head = (
        f'<testsuite name={title} tests="{len(report.steps)}" failures="{failures}" errors="0" skipped="{skipped}" '
        f"timestamp={quoteattr(report.created_at.rstrip('Z'))}>"
    )
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', head, *cases, "</testsuite>", ""])


# --------------------------------------------------------------------------
# HTML

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:980px;padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
.meta{color:#57606a}.settings{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0;padding:.8rem 1rem;background:#f6f8fa;border-radius:8px}
.settings dt{color:#57606a}.settings dd{margin:0;font-family:ui-monospace,Menlo,monospace;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #d0d7de;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.85rem;font-weight:600;white-space:nowrap}
.pass{background:#dafbe1;color:#116329}.warn{background:#fff8c5;color:#7d4e00}.fail{background:#ffebe9;color:#a40e26}.not_checked{background:#eaeef2;color:#57606a}
section.step{border:1px solid #d0d7de;border-radius:8px;padding:.2rem 1rem 1rem;margin:1rem 0}
.kind{font-size:.75rem;text-transform:uppercase;letter-spacing:.04em;color:#57606a;margin-right:.4rem}
ul{padding-left:1.2rem}li{margin:.3rem 0}.fix{background:#f6f8fa;border-left:4px solid #0969da;padding:.5rem .8rem}
.prompt{font-family:ui-monospace,Menlo,monospace;font-size:.85rem;color:#57606a}img.thumb{display:block;margin:.4rem 0;border-radius:4px;max-width:160px}
footer{margin-top:2rem;color:#57606a;font-size:.85rem}
"""


def report_to_html(report: Report, *, base_url: str = "") -> str:
    """One self-contained HTML file: inline CSS, no scripts, no external fetches;
    thumbnails inline as data URLs; every text HTML-escaped."""
    r = report
    s = r.settings
    esc = html_text

    def badge(status: str) -> str:
        return f'<span class="badge {esc(status)}">{esc(STATUS_LABELS[status])}</span>'

    def render_link(item: Link) -> str:
        if base_url:
            return f'<a href="{esc(_abs(item.url, base_url))}">{esc(item.label)}</a>'
        return f"{esc(item.label)} <code>{esc(item.url)}</code>"

    rows = "".join(
        f'<tr><td>{st.step}</td><td><a href="#step-{st.step}">{esc(st.title)}</a></td><td>{badge(st.status)}</td><td>{esc(st.verdict)}</td></tr>'
        for st in r.steps
    )
    settings_rows = []
    for label, key in (
        ("Provider", "provider_label"),
        ("Model", "model"),
        ("Endpoint", "endpoint"),
        ("Key", "key_source"),
        ("Delivery", "delivery"),
        ("Read timeout (s)", "read_timeout_s"),
        ("Retries", "max_retries"),
        ("Fallbacks", "fallbacks"),
    ):
        if key in s:
            value = s[key]
            if key == "key_source" and s.get("key_hint"):
                value = f"{value}, ending in {s['key_hint']}"
            if isinstance(value, list):
                value = ", ".join(map(str, value)) or "none"
            settings_rows.append(f"<dt>{esc(label)}</dt><dd>{esc(str(value))}</dd>")
    sections = []
    for st in r.steps:
        items = []
        for e in st.evidence:
            parts = [f'<span class="kind">{esc(e.kind)}</span>{esc(e.text)}']
            if e.prompt is not None:
                parts.append(f'<div class="prompt">Prompt: {esc(e.prompt)}</div>')
            if e.image and _SAFE_IMAGE.match(e.image):
                parts.append(f'<img class="thumb" alt="test image" src="{esc(e.image)}">')
            if e.links:
                parts.append("<div>" + " · ".join(render_link(item) for item in e.links) + "</div>")
            items.append("<li>" + "".join(parts) + "</li>")
        sections.append(
            f'<section class="step" id="step-{st.step}"><h2>{st.step}. {esc(st.title)} {badge(st.status)}</h2>'
            f"<p>{esc(st.verdict)}</p>"
            + (f"<ul>{''.join(items)}</ul>" if items else '<p class="meta">No evidence.</p>')
            + f'<p class="fix"><strong>Fix:</strong> {esc(st.fix)}</p></section>'
        )
    counts = r.counts
    permalink = f"<br>Permalink: {esc(_abs(report_link(r.report_id), base_url))}" if r.report_id else ""
    hidden = "<br>Prompts are hidden (length and a short hash)." if r.hide_prompts else ""
    note = "" if base_url else "<br>Links are paths on the Image Prompt Lab deployment this report came from."
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{esc(r.title or "Image Prompt Lab diagnostics")}</title><style>{_CSS}</style></head>
<body><h1>{esc(r.title or "Image Prompt Lab diagnostics")}</h1>
<p class="meta">Result: {badge(r.status)} ({counts["fail"]} fail, {counts["warn"]} warning, {counts["pass"]} pass, {counts["not_checked"]} not checked) · {esc(r.created_at)}{permalink}{hidden}{note}</p>
<dl class="settings">{"".join(settings_rows)}</dl>
<table><thead><tr><th>#</th><th>Step</th><th>Status</th><th>Verdict</th></tr></thead><tbody>{rows}</tbody></table>
{"".join(sections)}
<footer>Made with Image Prompt Lab. The API key is never included ({esc(MASK)} marks anything masked); signed URL query strings are cut.</footer>
</body></html>
"""


# --------------------------------------------------------------------------
# Saving and loading


def save_report(store: Any, report: Report, *, hide: bool = False, current: tuple[Any, str] | None = None) -> str:
    """Store a snapshot in the ``reports`` table; returns its id (the permalink's).

    With ``current`` (the settings and model in use now), a report made with other settings
    is refused (``ReportError`` naming what changed): a snapshot is never saved as current
    when it describes something else."""
    if current is not None:
        changes = stale_changes(report, *current)
        if changes:
            raise ReportError(
                "These results are out of date: " + ", ".join(changes) + " changed since they were made. Run the checks again, then save."
            )
    if hide:
        report = hide_prompts(report)
    report = _scrub_report(report)
    body = report.to_dict()
    report_id = store.save_report(
        title=report.title,
        provider=report.provider,
        model=report.model,
        status=report.status,
        body=body,
        markdown=report_to_markdown(report),
    )
    return report_id


def load_report(store: Any, report_id: str) -> Report | None:
    """A saved snapshot, or None when there is no such report. Raises ReportError
    when the stored body cannot be read."""
    if not isinstance(report_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", report_id):
        return None
    row = store.report(report_id)
    if row is None:
        return None
    report = report_from_json(row["body"])
    return dataclasses.replace(report, report_id=row["id"])
