"""The report: a diagnostics snapshot as values (steps, evidence, links), saved, loaded
and made safe to share (prompts hidden, every text scrubbed with the key)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from lib import constants as C
from lib.errors import CHECKLIST_STEPS
from lib.redact import scrub, scrub_obj

REPORT_FORMAT = "imagelab-report/1"
STATUSES = ("pass", "warn", "fail", "not_checked")
EVIDENCE_KINDS = ("static", "probe", "history")
STEP_NAMES: dict[int, str] = {
    1: "key",
    2: "endpoint",
    3: "model",
    4: "delivery",
    5: "limits",
    6: "shape",
    7: "decode",
    8: "content",
    9: "latency",
}
STATUS_LABELS = {"pass": "pass", "warn": "warning", "fail": "fail", "not_checked": "not checked"}
STATUS_ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "not_checked": "➖"}
_SEVERITY = {"fail": 3, "warn": 2, "pass": 1, "not_checked": 0}


class ReportError(ValueError):
    """A report that cannot be read: malformed, foreign, or of another version."""


# --------------------------------------------------------------------------
# Value types


@dataclass
class Link:
    label: str
    url: str  # relative to the app: /history?..., /diagnostics?...


@dataclass
class Evidence:
    kind: str  # static | probe | history
    text: str
    links: list[Link] = field(default_factory=list)
    prompt: str | None = None  # shown beside the text; "hide prompts" replaces it
    image: str | None = None  # a small data:image/... thumbnail


@dataclass
class Step:
    step: int
    name: str
    status: str
    verdict: str
    evidence: list[Evidence] = field(default_factory=list)
    fix: str = ""

    @property
    def title(self) -> str:
        return CHECKLIST_STEPS.get(self.step, self.name)


@dataclass
class Report:
    provider: str
    model: str
    steps: list[Step]
    settings: dict[str, Any]
    created_at: str  # ISO 8601, UTC
    title: str = ""
    hide_prompts: bool = False
    report_id: str | None = None
    note: str = ""  # what the person who saved it wrote about it

    @property
    def status(self) -> str:
        """The worst step: fail > warn > pass; not_checked when nothing was checked."""
        worst = max((s.status for s in self.steps), key=lambda st: _SEVERITY.get(st, 0), default="not_checked")
        return worst

    @property
    def counts(self) -> dict[str, int]:
        return {status: sum(1 for s in self.steps if s.status == status) for status in STATUSES}

    def step(self, number: int) -> Step | None:
        return next((s for s in self.steps if s.step == number), None)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "title": self.title,
            "provider": self.provider,
            "model": self.model,
            "created_at": self.created_at,
            "status": self.status,
            "hide_prompts": self.hide_prompts,
            "settings": self.settings,
            "steps": [
                {
                    "step": s.step,
                    "name": s.name,
                    "status": s.status,
                    "verdict": s.verdict,
                    "evidence": [_evidence_dict(e) for e in s.evidence],
                    "fix": s.fix,
                }
                for s in self.steps
            ],
        }
        if self.report_id:
            body["report_id"] = self.report_id
        if self.note:
            body["note"] = self.note
        return scrub_obj(body)


def _evidence_dict(e: Evidence) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": e.kind, "text": e.text, "links": [{"label": link.label, "url": link.url} for link in e.links]}
    if e.prompt is not None:
        out["prompt"] = e.prompt
    if e.image is not None:
        out["image"] = e.image
    return out


# --------------------------------------------------------------------------
# Links to History


def history_link(
    *, provider: str | None = None, model: str | None = None, error_type: str | None = None, since: str | None = C.DIAG_HISTORY_WINDOW_LABEL
) -> str:
    query = {k: v for k, v in (("provider", provider), ("model", model), ("error_type", error_type), ("since", since)) if v}
    return "/history" + ("?" + urlencode(query, quote_via=quote) if query else "")


def attempt_link(attempt_id: Any) -> str:
    return f"/history?attempt={int(attempt_id)}"


def step_link(step: int) -> str:
    return f"/diagnostics?step={int(step)}"


def report_link(report_id: str) -> str:
    return f"/diagnostics?report={quote(str(report_id), safe='')}"


_SAFE_LINK = re.compile(r"^/[a-z_]*(\?[A-Za-z0-9_.~%=&+\-]*)?$")
_SAFE_IMAGE = re.compile(r"^data:image/(png|jpeg|webp);base64,[A-Za-z0-9+/]+={0,2}$")


# --------------------------------------------------------------------------
# Redaction helpers


def prompt_digest(prompt: str) -> str:
    """What "hide prompts" shows instead of a prompt: its length and a short hash."""
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[: C.PROMPT_HASH_CHARS]
    return f"[prompt hidden: {len(prompt)} characters, sha256 {digest}]"


def hide_prompts(report: Report) -> Report:
    """A copy of the report with every prompt replaced by its length and a short hash."""
    if report.hide_prompts:
        return report
    steps = [
        dataclasses.replace(
            s, evidence=[dataclasses.replace(e, prompt=prompt_digest(e.prompt) if e.prompt is not None else None) for e in s.evidence]
        )
        for s in report.steps
    ]
    return dataclasses.replace(report, steps=steps, hide_prompts=True)


def _scrub_report(report: Report, key: str = "") -> Report:
    """Every text of the report through scrub, with the key added even if unregistered."""
    extra = [key] if key else []

    def s(text: Any, limit: int | None = None) -> Any:
        return scrub(text, limit=limit, extra=extra) if isinstance(text, str) else text

    steps = [
        dataclasses.replace(
            st,
            verdict=s(st.verdict),
            fix=s(st.fix),
            evidence=[
                dataclasses.replace(e, text=s(e.text), prompt=s(e.prompt), links=[Link(s(link.label), link.url) for link in e.links])
                for e in st.evidence
            ],
        )
        for st in report.steps
    ]
    return dataclasses.replace(
        report,
        steps=steps,
        title=s(report.title),
        note=s(report.note),
        model=s(report.model),
        settings=scrub_obj(report.settings, extra=extra),
    )


# --------------------------------------------------------------------------
# Two reports side by side


@dataclass
class StepChange:
    step: int
    title: str
    before: Step | None
    after: Step | None

    @property
    def changed(self) -> bool:
        b, a = self.before, self.after
        return (b.status if b else None) != (a.status if a else None) or (b.verdict if b else None) != (a.verdict if a else None)

    @property
    def direction(self) -> str:
        """'worse', 'better', 'same' or 'changed' (same severity, other verdict)."""
        b = _SEVERITY.get(self.before.status, 0) if self.before else 0
        a = _SEVERITY.get(self.after.status, 0) if self.after else 0
        if a > b:
            return "worse"
        if a < b:
            return "better"
        return "changed" if self.changed else "same"


def compare_reports(before: Report, after: Report) -> list[StepChange]:
    """Step by step, what changed from ``before`` (e.g. when it last worked) to ``after``."""
    return [StepChange(n, CHECKLIST_STEPS.get(n, STEP_NAMES[n]), before.step(n), after.step(n)) for n in sorted(STEP_NAMES)]
