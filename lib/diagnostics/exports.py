"""A report as JSON (``imagelab-report/1``, read back by ``report_from_json``), as
Markdown (a table, ready for an issue) and as one self-contained HTML file (inline CSS,
no scripts, no external fetches)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import warnings
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


@dataclasses.dataclass
class ImportedReport:
    """A report read back, and what was cut or left out of it to keep it within the import
    bounds (``REPORT_*`` in lib/constants.py), in words for the page or the terminal."""

    report: Report
    notes: list[str] = dataclasses.field(default_factory=list)


def report_from_json(data: str | bytes | dict[str, Any]) -> Report:
    """Read a report back (an upload, a saved row). Refuses anything that is not
    an ``imagelab-report/1`` with a clear message (``ReportError``); see ``import_report``."""
    return import_report(data).report


def _too_deep(obj: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (walked without recursion)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _thumbnail_problem(image: str) -> str | None:
    """Why a report's inline thumbnail cannot be shown (None when it can): it must be a PNG,
    JPEG or WebP of at most ``REPORT_THUMB_MAX_BYTES`` and ``REPORT_THUMB_MAX_PX`` a side that
    decodes whole as the type it is labelled with. The size is read from the header first,
    so a decompression bomb is never decoded."""
    import base64
    import binascii

    from lib.images import InvalidImage, validate

    declared = image[len("data:image/") : image.index(";")]
    if len(image) > C.REPORT_THUMB_MAX_BYTES * 4 // 3 + 64:
        return f"over {C.REPORT_THUMB_MAX_BYTES // 1024} KB"
    try:
        data = base64.b64decode(image.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return "not valid base64"
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
            with Image.open(io.BytesIO(data)) as im:
                fmt, (width, height) = im.format, im.size
    except Image.DecompressionBombError:
        return "a decompression bomb: it claims far more pixels than a thumbnail"
    except Exception:  # Pillow refuses it: text, SVG, HTML, damaged bytes
        return f"not a {declared.upper()} image"
    if {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[declared] != fmt:
        return f"labelled {declared.upper()} but a {fmt} file"
    if width > C.REPORT_THUMB_MAX_PX or height > C.REPORT_THUMB_MAX_PX:
        return f"{width}x{height} pixels, over {C.REPORT_THUMB_MAX_PX}x{C.REPORT_THUMB_MAX_PX}"
    try:
        validate(data)
    except InvalidImage:
        return f"a damaged {fmt} file"
    return None


def _cut(text: str, counter: list[int]) -> str:
    if len(text) <= C.REPORT_MAX_TEXT_CHARS:
        return text
    counter[0] += 1
    return text[: C.REPORT_MAX_TEXT_CHARS] + f"… ({len(text) - C.REPORT_MAX_TEXT_CHARS:,} more characters cut on import)"


def import_report(data: str | bytes | dict[str, Any]) -> ImportedReport:
    """Read a report back within bounds, in time linear in its size. Refused
    (``ReportError``): more than ``DIAG_MAX_REPORT_BYTES``, not UTF-8 JSON, nested deeper
    than ``REPORT_MAX_DEPTH``, or not an ``imagelab-report/1``. Cut, and said in ``notes``:
    evidence past ``REPORT_MAX_EVIDENCE_PER_STEP`` a step, links past ``REPORT_MAX_LINKS``,
    settings past ``REPORT_MAX_SETTINGS``, texts past ``REPORT_MAX_TEXT_CHARS``, and every
    thumbnail that is not a small image of the type it is labelled with."""
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
        except RecursionError:
            obj = None
            too_deep = True
        except ValueError as err:
            raise ReportError(f"The file is not valid JSON ({err.msg} at line {err.lineno}).") from None
        else:
            too_deep = _too_deep(obj, C.REPORT_MAX_DEPTH)
    else:
        obj = data
        too_deep = _too_deep(obj, C.REPORT_MAX_DEPTH)
    if too_deep:
        raise ReportError(f"The JSON is nested more than {C.REPORT_MAX_DEPTH} levels deep; a report is not.")
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
    notes: list[str] = []
    cut_texts = [0]
    if len(settings) > C.REPORT_MAX_SETTINGS:
        notes.append(f"Only the first {C.REPORT_MAX_SETTINGS} of its {len(settings):,} settings were kept.")
        settings = dict(list(settings.items())[: C.REPORT_MAX_SETTINGS])
    settings = {_cut(str(k), cut_texts): _cut(v, cut_texts) if isinstance(v, str) else v for k, v in settings.items()}
    steps: list[Step] = []
    seen: set[int] = set()
    left_out: dict[int, int] = {}
    bad_images: list[str] = []
    extra_links = 0
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
        items = _need(raw, "evidence", list, where)
        if len(items) > C.REPORT_MAX_EVIDENCE_PER_STEP:
            left_out[number] = len(items) - C.REPORT_MAX_EVIDENCE_PER_STEP
        for j, item in enumerate(items[: C.REPORT_MAX_EVIDENCE_PER_STEP], start=1):
            w = f"evidence {j} of step {number}"
            if not isinstance(item, dict):
                raise ReportError(f"{w} is not an object.")
            kind = _need(item, "kind", str, w)
            if kind not in EVIDENCE_KINDS:
                raise ReportError(f"{w} has kind '{scrub(kind, limit=30)}'; one of {', '.join(EVIDENCE_KINDS)} is expected.")
            links = []
            raw_links = item.get("links", []) or []
            if not isinstance(raw_links, list):
                raise ReportError(f"'links' in {w} has the wrong type.")
            extra_links += max(0, len(raw_links) - C.REPORT_MAX_LINKS)
            for link in raw_links[: C.REPORT_MAX_LINKS]:
                if not isinstance(link, dict) or not isinstance(link.get("url"), str) or not isinstance(link.get("label"), str):
                    raise ReportError(f"A link in {w} is not {{label, url}}.")
                if not _SAFE_LINK.match(link["url"]):
                    raise ReportError(f"A link in {w} does not point inside the app; reports only link to app pages.")
                links.append(Link(_cut(link["label"], cut_texts), link["url"]))
            image = item.get("image")
            if image is not None and (not isinstance(image, str) or not _SAFE_IMAGE.match(image)):
                raise ReportError(f"The image in {w} is not an inline PNG, JPEG or WebP thumbnail.")
            if image is not None:
                problem = _thumbnail_problem(image)
                if problem is not None:
                    bad_images.append(f"{w} ({problem})")
                    image = None
            prompt = item.get("prompt")
            if prompt is not None and not isinstance(prompt, str):
                raise ReportError(f"'prompt' in {w} has the wrong type.")
            text = _need(item, "text", str, w)
            evidence.append(Evidence(kind, _cut(text, cut_texts), links, None if prompt is None else _cut(prompt, cut_texts), image))
        verdict, fix = _need(raw, "verdict", str, where), _need(raw, "fix", str, where)
        steps.append(Step(number, STEP_NAMES[number], status, _cut(verdict, cut_texts), evidence, _cut(fix, cut_texts)))
    if seen != set(STEP_NAMES):
        missing = ", ".join(str(n) for n in sorted(set(STEP_NAMES) - seen))
        raise ReportError(f"This report lacks step(s) {missing}; a report has all nine.")
    steps.sort(key=lambda s: s.step)
    for number, count in sorted(left_out.items()):
        notes.append(
            f"Step {number}: only the first {C.REPORT_MAX_EVIDENCE_PER_STEP} evidence items are shown; {count:,} more were left out."
        )
    if extra_links:
        notes.append(f"{extra_links:,} links past the first {C.REPORT_MAX_LINKS} of an evidence item were left out.")
    if bad_images:
        shown = "; ".join(bad_images[:3]) + (f"; and {len(bad_images) - 3:,} more" if len(bad_images) > 3 else "")
        notes.append(f"{len(bad_images):,} thumbnail(s) could not be shown as images and were left out: {shown}.")
    created = obj.get("created_at", "")
    title = obj.get("title") if isinstance(obj.get("title"), str) else ""
    note = obj.get("note") if isinstance(obj.get("note"), str) else ""
    report_id = obj.get("report_id") if isinstance(obj.get("report_id"), str) else None
    report = Report(
        provider=_cut(provider, cut_texts),
        model=_cut(model, cut_texts),
        steps=steps,
        settings=settings,
        created_at=_cut(created, cut_texts) if isinstance(created, str) else "",
        title=_cut(title, cut_texts),
        hide_prompts=bool(obj.get("hide_prompts", False)),
        note=_cut(note, cut_texts),
        report_id=report_id if report_id and len(report_id) <= 64 else None,
    )
    if cut_texts[0]:
        notes.append(f"{cut_texts[0]:,} text(s) longer than {C.REPORT_MAX_TEXT_CHARS:,} characters were cut.")
    return ImportedReport(_scrub_report(report), notes)


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


REPORT_LIST_LIMIT = 50  # saved snapshots the page lists
REPORT_NOTE_CHARS = 500  # a snapshot's note, kept to a few lines


def save_report(store: Any, report: Report, *, hide: bool = False, current: tuple[Any, str] | None = None, note: str | None = None) -> str:
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
    if note is not None:
        report = dataclasses.replace(report, note=note.strip()[:REPORT_NOTE_CHARS])
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


def list_reports(store: Any, *, limit: int = REPORT_LIST_LIMIT) -> list[dict[str, Any]]:
    """Saved snapshots, newest first: id, title, note, status, provider, model, created_at."""
    return store.reports(limit=limit)


def delete_report(store: Any, report_id: str) -> bool:
    """Delete a saved snapshot; False when there was none with this id."""
    if not isinstance(report_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", report_id):
        return False
    return store.delete_report(report_id)


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
