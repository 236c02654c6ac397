"""The diagnostics checklist: checks -> a report; Markdown, JSON and HTML; redaction.

One function per step of the checklist in DESIGN.md (``check_key`` ..
``check_latency``), each reading a ``CheckContext`` and returning a ``Step``:
a status (pass | warn | fail | not_checked), a one-line verdict, the evidence
(each item tagged ``static``, ``probe`` or ``history``, with links to History
views and example attempts) and the fix in plain words.

Evidence comes from three places:

- static: ``lib.preflight`` / ``lib.providers`` on the settings (the key's
  source and last four characters only; the exact final URL);
- probe: cheap requests through ``lib.client.ImageClient`` that generate
  nothing (``probe_models``, ``probe_route``, ``probe_task_poll``), and the
  opt-in "spend one image" probe, each recorded as an attempt of a run with
  ``kind = 'probe'``;
- history: ``Store.evidence`` for this provider (and model).

``run_checks`` does all of it. A ``Report`` is the snapshot: saved in the
``reports`` table, exported as JSON (``imagelab-report/1``), Markdown or one
self-contained HTML file, and read back with ``report_from_json``. Nothing in
a report can hold the key: every text goes through ``lib.redact.scrub`` with
the key added, and signed query strings are cut.

Which step an error belongs to is ``lib.errors.checklist_step``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from lib import constants as C
from lib import errors as E
from lib.errors import CHECKLIST_STEPS, ERROR_INFO
from lib.generation import ClientSettings, GenerationRequest, Outcome
from lib.images import data_url, make_thumbnail
from lib.preflight import check_key as preflight_key
from lib.providers import KEY_SOURCES, check_model
from lib.redact import MASK, register, scrub, scrub_obj
from lib.text import code_span, markdown_line
from lib.text import html as html_text

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


# --------------------------------------------------------------------------
# What the checks read


@dataclass
class SpendResult:
    outcome: Outcome | None
    estimate_usd: float | None
    estimate_note: str
    thumbnail: str | None = None  # data URL
    skipped: str = ""  # why it did not run


@dataclass
class CheckContext:
    settings: ClientSettings
    model: str
    probes: dict[str, Any] = field(default_factory=dict)  # name -> lib.client.ProbeResult
    spend: SpendResult | None = None
    provider_history: dict[int, dict[str, Any]] | None = None  # Store.evidence for the provider
    model_history: dict[int, dict[str, Any]] | None = None  # ...for the provider and model
    probed: bool = False
    history_window_label: str = C.DIAG_HISTORY_WINDOW_LABEL
    now: float = field(default_factory=time.time)

    # -- helpers the steps share --------------------------------------------------

    @property
    def provider(self) -> str:
        return self.settings.provider

    @property
    def delivery(self) -> str:
        """'task' or 'sync': the preset's, or the sandbox's chosen dialect."""
        dialect = self.settings.extra_headers.get("X-Sandbox-Dialect", "")
        if self.provider == "sandbox" and dialect:
            return "task" if dialect.startswith("task") else "sync"
        return self.settings.preset.delivery

    def text(self, value: Any, limit: int | None = None) -> str:
        """Any text for the report: the key masked (registered or not), signed URLs cut."""
        return scrub(str(value), limit=limit, extra=[self.settings.api_key] if self.settings.api_key else [])

    def link(self, error_type: str | None = None, *, model: bool = True) -> str:
        return history_link(
            provider=self.provider, model=self.model if model else None, error_type=error_type, since=self.history_window_label
        )

    def history(self, step: int, *, model: bool = True) -> dict[str, Any] | None:
        source = self.model_history if model else self.provider_history
        return None if source is None else source.get(step)


def _ev(kind: str, text: str, links: list[Link] | None = None, **extra: Any) -> Evidence:
    return Evidence(kind, text, links or [], **extra)


def _worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: _SEVERITY[s]) if statuses else "not_checked"


def _ago(ctx: CheckContext, at: float | None) -> str:
    if not at:
        return "at an unknown time"
    seconds = max(0, ctx.now - at)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _history_items(ctx: CheckContext, step: int, *, model: bool = True) -> tuple[list[Evidence], int, bool]:
    """Evidence items for a step's error counts and examples; the error count; and
    whether the newest of those errors is newer than the last success."""
    bucket = ctx.history(step, model=model)
    if bucket is None:
        return [], 0, False
    items: list[Evidence] = []
    errors: dict[str, int] = bucket["errors"]
    count = sum(errors.values())
    scope = f"{ctx.provider} / {ctx.model}" if model else ctx.provider
    if count:
        parts = ", ".join(f"{n} {t}" for t, n in sorted(errors.items(), key=lambda kv: -kv[1]))
        items.append(
            _ev(
                "history",
                f"{parts} among {bucket['total']} attempt(s) for {scope} in the last {ctx.history_window_label}.",
                [Link(f"History: {t}", ctx.link(t, model=model)) for t in errors],
            )
        )
        for row in bucket["examples"]:
            status = f"HTTP {row['http_status']}" if row.get("http_status") else "no HTTP status"
            message = ctx.text(row.get("error_message") or "", limit=240)
            items.append(
                _ev(
                    "history",
                    f"Attempt #{row['id']}, {_ago(ctx, row.get('started_at'))}, {row.get('model')}: {row['error_type']} ({status}). {message}".strip(),
                    [Link(f"Attempt #{row['id']}", attempt_link(row["id"]))],
                    prompt=ctx.text(row.get("prompt") or "", limit=300) if row.get("prompt") else None,
                )
            )
    newest = max((r.get("started_at") or 0 for r in bucket["examples"]), default=0)
    unresolved = bool(count) and newest > (bucket.get("last_success_at") or 0)
    return items, count, unresolved


def _no_history(ctx: CheckContext, *, model: bool = True) -> bool:
    bucket = ctx.history(1, model=model)
    return bucket is None or bucket["total"] == 0


def _probe_item(result: Any, what: str) -> Evidence:
    status = f"HTTP {result.http_status}" if result.http_status is not None else "no answer"
    links = [Link(f"Probe attempt #{result.attempt_id}", attempt_link(result.attempt_id))] if result.attempt_id else []
    return _ev("probe", f"{what}: {result.method} {result.url} -> {status} in {result.latency_ms} ms. {result.note}", links)


# --------------------------------------------------------------------------
# The nine steps


def check_key(ctx: CheckContext) -> Step:
    s = ctx.settings
    preset = s.preset
    items: list[Evidence] = []
    statuses: list[str] = []
    fix = ""
    source = KEY_SOURCES.get(s.key_source, s.key_source) if s.key_source else "the settings"
    if s.key_source == "argument":
        source = "the --api-key argument"
    if s.api_key:
        hint = s.key_hint
        items.append(
            _ev(
                "static",
                f"Key from {source}"
                + (f", ending in {hint}." if hint else " (too short to show any of it).")
                + " Sent as 'Authorization: Bearer <key>'.",
            )
        )
    else:
        items.append(_ev("static", f"No key is set (looked in the sidebar, .streamlit/secrets.toml and ${preset.key_env})."))
    problem = preflight_key(s.api_key, preset)
    if not problem and s.api_key and s.endpoint.url:
        destination = s.key_problem(s.endpoint.url)  # a configured key goes only to its own host
        problem = destination[1] if destination else None
    if problem:
        items.append(_ev("static", problem))
        statuses.append("fail")
        fix = (
            problem if s.api_key else f"Set {preset.key_env} in the environment or .streamlit/secrets.toml, or type the key in the sidebar."
        )
        verdict = "The key cannot be sent as it is."
    else:
        statuses.append("pass")
        verdict = "A key is set and well formed." if s.api_key else "This provider needs no key."
    for name, what in (("models", "Key check"), ("route", "Generations route")):
        result = ctx.probes.get(name)
        if result is None:
            continue
        items.append(_probe_item(result, what))
        if result.http_status in (401, 403) and result.error is not None:
            statuses.append("fail")
            kind = result.error.error_type
            verdict = (
                "The provider refused the key (401)."
                if result.http_status == 401
                else "The key was accepted, but this account may not use it here (403)."
            )
            said = ctx.text(result.error.provider_message or result.error.message, limit=300)
            items.append(_ev("probe", f"The provider said: {said}"))
            fix = ERROR_INFO[kind].fix
        elif result.ok and name == "models" and "fail" not in statuses and s.api_key:
            verdict = "The provider accepted the key."
    hist, count, unresolved = _history_items(ctx, 1, model=False)
    items.extend(hist)
    if count and "fail" not in statuses:
        if ctx.probed and any(p.ok for p in ctx.probes.values()):
            statuses.append("warn")
            verdict = f"The key works now, but {count} recent request(s) were refused."
        else:
            statuses.append("fail" if unresolved else "warn")
            verdict = f"{count} recent request(s) were refused for the key or access."
        fix = fix or ERROR_INFO["auth"].fix
    status = _worst(*statuses)
    if status == "pass":
        fix = "Nothing to fix."
    return Step(1, STEP_NAMES[1], status, verdict, items, fix)


def _typed_api_base(settings: ClientSettings) -> str | None:
    """The API base exactly as typed (query dropped), when the app had to correct
    it: e.g. a doubled /v1 the endpoint builder collapsed."""
    if not any("doubled" in p.message for p in settings.endpoint.problems):
        return None  # a host alone, or a full route, is accepted as typed: nothing to prove
    raw = (settings.base_url if settings.base_url is not None else settings.preset.base_url) or ""
    raw = raw.strip()
    if not raw or "://" not in raw:
        return None
    parts = urlsplit(raw)
    path = re.sub(r"/images/generations/?$", "", parts.path.rstrip("/"), flags=re.I)
    typed = f"{parts.scheme}://{parts.netloc}{path}"
    return typed if typed.rstrip("/") != settings.endpoint.api_base.rstrip("/") else None


def check_endpoint(ctx: CheckContext) -> Step:
    s = ctx.settings
    endpoint = s.endpoint
    items: list[Evidence] = []
    statuses: list[str] = []
    fix = ERROR_INFO["endpoint_not_found"].fix
    if endpoint.url:
        items.append(_ev("static", f"Requests go to {ctx.text(endpoint.url)}"))
    verdict = "The endpoint is well formed."
    doubled = False
    for problem in endpoint.problems:
        if problem.severity == "info":
            items.append(_ev("static", ctx.text(problem.message)))
            continue
        items.append(_ev("static", ctx.text(problem.message)))
        statuses.append(problem.severity)
        verdict = ctx.text(problem.message, limit=200)
        doubled = doubled or "doubled" in problem.message
    if not endpoint.ok:
        statuses.append("fail")
        verdict = "No usable endpoint can be built from this base URL."
    typed = ctx.probes.get("typed_models")
    if typed is not None:
        items.append(_probe_item(typed, "The base URL as typed"))
        if not typed.ok:
            statuses.append("fail")
            verdict = f"The base URL as typed does not work ({typed.http_status or 'no answer'}); the app corrected it to {ctx.text(endpoint.api_base)}."
            fix = f"Set the base URL to {ctx.text(endpoint.api_base)} (the app sends there already; other tools using your URL will fail)."
    elif doubled:
        fix = f"Set the base URL to {ctx.text(endpoint.api_base)}."
    route = ctx.probes.get("route")
    if route is not None:
        items.append(_probe_item(route, "Generations route"))
        err = route.error
        if route.ok:
            statuses.append("pass")
            if not any(st in ("warn", "fail") for st in statuses):
                verdict = "The generations route exists and answers like an image API."
        elif route.http_status is None:
            statuses.append("fail")
            verdict = "The host could not be reached."
            fix = ERROR_INFO["network"].fix
            if err is not None:
                items.append(_ev("probe", ctx.text(err.message, limit=300)))
        elif route.http_status in (404, 405) or 300 <= route.http_status < 400:
            statuses.append("fail")
            verdict = {
                404: "The generations route does not exist at this address (404).",
                405: "This URL exists but does not take POST (405): it is not the API route.",
            }.get(route.http_status, f"The address redirects ({route.http_status}); the API is elsewhere.")
        elif route.http_status >= 500:
            statuses.append("warn")
            verdict = f"The host answered with a server error ({route.http_status}); the route could not be confirmed."
            fix = ERROR_INFO["server_error"].fix
        else:  # 401/403/429: the host answered as an API; the key or limits are other steps
            statuses.append("pass")
            if not any(st in ("warn", "fail") for st in statuses):
                verdict = f"The host answers like an image API (HTTP {route.http_status} to the probe; see the key and limits steps)."
    hist, count, unresolved = _history_items(ctx, 2, model=False)
    items.extend(hist)
    if count:
        statuses.append("fail" if unresolved and route is None else "warn")
        if not any(st == "fail" for st in statuses[:-1]):
            verdict = f"{count} recent request(s) could not reach the endpoint."
    other, other_count, _ = _history_items(ctx, 0, model=False)
    server = (ctx.history(0, model=False) or {}).get("errors", {}).get("server_error", 0)
    if server:
        items.extend(e for e in other if "server_error" in e.text)
        statuses.append("warn")
        if not any(st == "fail" for st in statuses):
            verdict = f"The host answered {server} recent request(s) with a server error (5xx)."
            fix = ERROR_INFO["server_error"].fix
    if not statuses:
        statuses.append("pass")
    status = _worst(*statuses)
    if status == "pass":
        fix = "Nothing to fix."
    return Step(2, STEP_NAMES[2], status, verdict, items, fix)


def check_model_step(ctx: CheckContext) -> Step:
    s = ctx.settings
    preset = s.preset
    items: list[Evidence] = []
    mc = check_model(ctx.model, preset)
    fix = ERROR_INFO["model_not_found"].fix
    if mc.known:
        status, verdict = "pass", f"{ctx.text(ctx.model)} is a model {preset.label} serves."
    elif mc.near_miss:
        status, verdict = "fail", ctx.text(mc.message)
        fix = f"Use the exact id '{mc.suggestion}'."
    else:
        status, verdict = "warn", ctx.text(mc.message)
        if mc.suggestion:
            fix = f"If you meant '{mc.suggestion}', use that exact id; otherwise check the provider's model list."
    items.append(_ev("static", ctx.text(mc.message)))
    listing = ctx.probes.get("models")
    chain = [m for m in s.chain(ctx.model)[1:]]
    if listing is not None and listing.ok and listing.model_ids is not None:
        ids = listing.model_ids
        shown = ", ".join(ids[:12]) + (f" and {len(ids) - 12} more" if len(ids) > 12 else "")
        items.append(
            _ev(
                "probe",
                ctx.text(f"The provider lists {len(ids)} model(s): {shown or 'none'}."),
                [Link(f"Probe attempt #{listing.attempt_id}", attempt_link(listing.attempt_id))] if listing.attempt_id else [],
            )
        )
        if ctx.model in ids:
            status = "pass" if not mc.near_miss else status
            verdict = f"{ctx.text(ctx.model)} is listed by the provider."
        else:
            close = difflib.get_close_matches(ctx.model, ids, n=1, cutoff=0.6) or ([mc.suggestion] if mc.suggestion in ids else [])
            hint = f" Did you mean '{close[0]}'?" if close else ""
            listed_chain = [m for m in chain if m in ids]
            if mc.near_miss:
                status = "fail"
                verdict = f"{ctx.text(ctx.model)} is not an exact model id here.{hint}"
                fix = f"Use the exact id '{mc.suggestion}'. Model ids are case- and dash-sensitive."
            elif listed_chain and s.use_fallback:
                status = "warn"
                verdict = f"{ctx.text(ctx.model)} is not listed here; the fallback chain will use {listed_chain[0]}.{hint}"
                fix = f"Pick a model the provider lists (e.g. {listed_chain[0]}), or keep the fallback chain on."
            else:
                status = "fail"
                verdict = f"{ctx.text(ctx.model)} is not among the models this provider lists.{hint}"
                fix = (
                    f"Use '{close[0]}'." if close else "Pick a model id from the provider's list."
                ) + " Model ids are case- and dash-sensitive."
    hist, count, unresolved = _history_items(ctx, 3)
    items.extend(hist)
    if count and status == "pass":
        status = "warn"
        verdict = f"{count} recent request(s) for {ctx.text(ctx.model)} were refused as an unknown model."
    elif count and status != "fail" and unresolved and listing is None:
        status = "fail"
        verdict = f"Recent requests for {ctx.text(ctx.model)} end with an unknown model."
    if status == "pass":
        fix = "Nothing to fix."
    return Step(3, STEP_NAMES[3], status, verdict, items, fix)


def check_delivery(ctx: CheckContext) -> Step:
    s = ctx.settings
    items: list[Evidence] = []
    statuses: list[str] = ["pass"]
    fixes: list[str] = []
    delivery = ctx.delivery
    items.append(
        _ev(
            "static",
            f"{s.preset.label} delivers images {'as an async task that is polled' if delivery == 'task' else 'in the answer itself (sync)'}; "
            f"the client reads both shapes either way. Read timeout {s.read_timeout_s:.0f} s, task deadline {s.task_deadline_s:.0f} s.",
        )
    )
    verdict = "Delivery and timeouts suit this provider."
    if s.read_timeout_s < C.MIN_RECOMMENDED_READ_TIMEOUT_S:
        statuses.append("warn")
        verdict = f"A read timeout of {s.read_timeout_s:.0f} s is too short for image models (allow {C.MIN_RECOMMENDED_READ_TIMEOUT_S:.0f} s or more)."
        fixes.append(
            f"Raise the read timeout to at least {C.MIN_RECOMMENDED_READ_TIMEOUT_S:.0f} s ({C.HIGH_QUALITY_RECOMMENDED_READ_TIMEOUT_S:.0f} s for high quality)."
        )
        items.append(_ev("static", verdict))
    if delivery == "task" and s.task_deadline_s < C.DIAG_MIN_TASK_DEADLINE_S:
        statuses.append("warn")
        verdict = f"A task deadline of {s.task_deadline_s:.0f} s is shorter than many tasks take."
        fixes.append(f"Raise the task deadline to at least {C.DIAG_MIN_TASK_DEADLINE_S:.0f} s.")
        items.append(_ev("static", verdict))
    for name in ("task_poll_a", "task_poll_b"):
        poll = ctx.probes.get(name)
        if poll is None:
            continue
        items.append(_probe_item(poll, "Task poll route"))
        if poll.http_status in (401, 403):
            continue  # the key step reports it
        if not poll.ok:
            statuses.append("fail")
            verdict = "The task poll URL does not answer like a task API."
            fixes.append("Check that the base URL is the gateway's API base; tasks are polled under it.")
    spend = ctx.spend
    if spend is not None and spend.outcome is not None:
        task_seen = any(ev.kind == "accepted" for ev in spend.outcome.events)  # the engine's "task accepted" event
        items.append(_ev("probe", f"The test image came back {'through an async task' if task_seen else 'in the answer itself (sync)'}."))
        err = spend.outcome.error
        if err is not None and E.step_of(err) == 4:
            statuses.append("fail")
            verdict = f"The test image failed: {err.info.title}."
            fixes.append(ERROR_INFO[err.error_type].fix)
    hist, count, unresolved = _history_items(ctx, 4)
    items.extend(hist)
    tasks = (ctx.history(4) or {}).get("tasks", 0)
    if tasks:
        items.append(_ev("history", f"{tasks} recent attempt(s) went through an async task."))
    if count:
        statuses.append("fail" if unresolved else "warn")
        verdict = f"{count} recent task(s) failed or ran past the deadline."
        fixes.append(ERROR_INFO["task_failed"].fix)
    status = _worst(*statuses)
    return Step(4, STEP_NAMES[4], status, verdict, items, " ".join(dict.fromkeys(fixes)) or "Nothing to fix.")


def check_limits(ctx: CheckContext) -> Step:
    s = ctx.settings
    items: list[Evidence] = [
        _ev(
            "static",
            f"Client-side limits: {s.rate_per_s:g} request(s)/s, {s.max_concurrency} in parallel, {s.max_retries} retries honouring Retry-After up to {C.MAX_RETRY_AFTER_S:.0f} s.",
        )
    ]
    statuses: list[str] = []
    verdict = "No rate limit or quota problem seen."
    fix = "Nothing to fix."
    route = ctx.probes.get("route")
    if route is not None and route.http_status == 429 and route.error is not None:
        items.append(_probe_item(route, "Generations route"))
        if route.error.error_type == "quota_exceeded":
            statuses.append("fail")
            verdict = "The provider says this account is out of credits or quota."
            fix = ERROR_INFO["quota_exceeded"].fix
        else:
            statuses.append("warn")
            wait = f" (it asked to wait {route.retry_after_s:.0f} s)" if route.retry_after_s is not None else ""
            verdict = f"The provider is rate-limiting this key right now{wait}."
            fix = ERROR_INFO["rate_limited"].fix
    elif route is not None and route.http_status is not None and route.http_status < 500:
        statuses.append("pass")
        items.append(_ev("probe", f"The generations route answered {route.http_status}, not 429: no rate limit or quota block right now."))
    bucket = ctx.history(5, model=False)
    hist, count, unresolved = _history_items(ctx, 5, model=False)
    items.extend(hist)
    if bucket is not None and bucket["total"]:
        errors = bucket["errors"]
        ra = bucket.get("retry_after", {"honoured": 0, "early": 0})
        ended = bucket.get("runs_ended", {})
        if ra["honoured"] or ra["early"]:
            items.append(_ev("history", f"Retry-After honoured {ra['honoured']} time(s), retried too early {ra['early']} time(s)."))
        if ended:
            items.append(_ev("history", "Runs that met a 429 ended: " + ", ".join(f"{n} {st}" for st, n in sorted(ended.items())) + "."))
        if errors.get("quota_exceeded"):
            recovered = route is not None and route.ok
            statuses.append("warn" if recovered else "fail")
            if "fail" not in statuses[:-1]:
                verdict = (
                    "Earlier requests ran out of quota; the provider accepts requests now."
                    if recovered
                    else f"{errors['quota_exceeded']} recent request(s) ran out of credits or quota."
                )
                fix = ERROR_INFO["quota_exceeded"].fix
        if errors.get("rate_limited"):
            failed_runs = ended.get("failed", 0)
            if ra["early"]:
                statuses.append("fail")
                verdict = f"Retries went out before the Retry-After the provider asked for ({ra['early']} time(s))."
                fix = "Let the client honour Retry-After (do not lower the backoff), and lower the rate or parallel requests."
            elif failed_runs:
                statuses.append("fail")
                verdict = f"{failed_runs} run(s) failed after running out of retries on 429s."
                fix = ERROR_INFO["rate_limited"].fix
            else:
                statuses.append("warn")
                if "fail" not in statuses:
                    verdict = f"{errors['rate_limited']} request(s) were rate-limited and recovered after waiting."
                    fix = ERROR_INFO["rate_limited"].fix
        if not errors:
            statuses.append("pass")
            items.append(
                _ev(
                    "history",
                    f"No 429 among {bucket['total']} attempt(s) in the last {ctx.history_window_label}.",
                    [Link("History: rate limited", ctx.link("rate_limited", model=False))],
                )
            )
    if not statuses:
        return Step(
            5,
            STEP_NAMES[5],
            "not_checked",
            "No probe and no recent attempts to judge limits by.",
            items,
            "Run the checks with probes, or generate a few images first.",
        )
    status = _worst(*statuses)
    if status == "pass":
        fix = "Nothing to fix."
    return Step(5, STEP_NAMES[5], status, verdict, items, fix)


def check_shape(ctx: CheckContext) -> Step:
    items: list[Evidence] = []
    statuses: list[str] = []
    verdict = "Requests are accepted and answers carry an image."
    fix = "Nothing to fix."
    spend = ctx.spend
    if spend is not None and spend.outcome is not None:
        o = spend.outcome
        if o.ok:
            source = o.images[0].source if o.images else "?"
            statuses.append("pass")
            items.append(
                _ev("probe", f"The test request was accepted; the image came back as {'data[].b64_json' if source == 'b64' else 'a URL'}.")
            )
        elif o.error is not None and E.step_of(o.error) == 6:
            statuses.append("fail")
            verdict = f"The test request failed: {o.error.info.title}."
            items.append(_ev("probe", ctx.text(o.error.message, limit=300)))
            fix = ERROR_INFO[o.error.error_type].fix
    hist, count, unresolved = _history_items(ctx, 6)
    items.extend(hist)
    bucket = ctx.history(6)
    images = (ctx.history(7) or {}).get("images", {})
    if images.get("sources"):
        items.append(
            _ev(
                "history",
                "Recent images came back as "
                + ", ".join(f"{'base64' if k == 'b64' else k} ({n})" for k, n in images["sources"].items())
                + ".",
            )
        )
    if count:
        statuses.append("fail" if unresolved else "warn")
        verdict = f"{count} recent request(s) were rejected or answered in an unreadable shape."
        fix = " ".join(dict.fromkeys(ERROR_INFO[t].fix for t in (bucket or {}).get("errors", {}) if t in ERROR_INFO))
    elif bucket is not None and bucket["total"]:
        statuses.append("pass")
        items.append(_ev("history", f"No rejected parameter or unreadable answer among {bucket['total']} attempt(s)."))
    if not statuses:
        return Step(
            6,
            STEP_NAMES[6],
            "not_checked",
            "No recent attempts for this model, and no test image was made.",
            items,
            "Generate an image, or run the checks with 'spend one image'.",
        )
    status = _worst(*statuses)
    return Step(6, STEP_NAMES[6], status, verdict, items, fix if status != "pass" else "Nothing to fix.")


def check_decode(ctx: CheckContext) -> Step:
    items: list[Evidence] = []
    statuses: list[str] = []
    verdict = "Images decode, validate and are kept locally."
    fix = "Nothing to fix."
    spend = ctx.spend
    if spend is not None and spend.outcome is not None:
        o = spend.outcome
        if o.ok and o.images:
            img = o.images[0]
            statuses.append("pass")
            items.append(
                _ev(
                    "probe",
                    f"The test image decoded: {img.info.width}x{img.info.height} {img.info.format}, {img.info.byte_size:,} bytes, kept locally.",
                    image=spend.thumbnail,
                )
            )
        elif o.error is not None and E.step_of(o.error) == 7:
            statuses.append("fail")
            verdict = f"The test image could not be kept: {o.error.info.title}."
            fix = ERROR_INFO[o.error.error_type].fix
    hist, count, unresolved = _history_items(ctx, 7)
    items.extend(hist)
    bucket = ctx.history(7)
    images = (bucket or {}).get("images", {})
    if images.get("count"):
        items.append(
            _ev("history", f"{images['count']} recent image(s) stored; {images['missing_files']} file(s) missing from the data directory.")
        )
        if images["missing_files"]:
            statuses.append("warn")
            verdict = f"{images['missing_files']} stored image file(s) are missing from the data directory."
            fix = "Keep the data directory (IMAGELAB_DATA_DIR) on a persistent disk; do not delete images/ by hand."
    if count:
        statuses.append("fail" if unresolved else "warn")
        verdict = f"{count} recent image(s) could not be decoded or downloaded."
        fix = " ".join(dict.fromkeys(ERROR_INFO[t].fix for t in bucket["errors"] if t in ERROR_INFO))
    elif bucket is not None and bucket["total"] and "pass" not in statuses:
        statuses.append("pass")
    if not statuses:
        return Step(
            7,
            STEP_NAMES[7],
            "not_checked",
            "No recent images for this model, and no test image was made.",
            items,
            "Generate an image, or run the checks with 'spend one image'.",
        )
    status = _worst(*statuses)
    return Step(7, STEP_NAMES[7], status, verdict, items, fix if status != "pass" else "Nothing to fix.")


def check_content(ctx: CheckContext) -> Step:
    items: list[Evidence] = []
    hist, count, _ = _history_items(ctx, 8)
    items.extend(hist)
    bucket = ctx.history(8)
    spend = ctx.spend
    blocked_probe = (
        spend is not None
        and spend.outcome is not None
        and spend.outcome.error is not None
        and spend.outcome.error.error_type == "content_policy"
    )
    if blocked_probe:
        items.append(_ev("probe", "The harmless test prompt was blocked by the content policy."))
    if count or blocked_probe:
        return Step(
            8,
            STEP_NAMES[8],
            "warn",
            f"{count} recent request(s) were blocked by the safety system; blocked requests are never retried.",
            items,
            ERROR_INFO["content_policy"].fix,
        )
    if bucket is None or not bucket["total"]:
        return Step(
            8,
            STEP_NAMES[8],
            "not_checked",
            "No recent attempts for this model to look for blocks in.",
            items,
            "Generate a few images; blocks show up here.",
        )
    items.append(
        _ev(
            "history",
            f"No content-policy block among {bucket['total']} attempt(s) in the last {ctx.history_window_label}.",
            [Link("History: content policy", ctx.link("content_policy"))],
        )
    )
    return Step(8, STEP_NAMES[8], "pass", "No recent content-policy blocks.", items, "Nothing to fix.")


def check_latency(ctx: CheckContext) -> Step:
    s = ctx.settings
    timeout_ms = s.read_timeout_s * 1000
    items: list[Evidence] = [
        _ev(
            "static",
            f"Read timeout: {s.read_timeout_s:.0f} s (recommended: {C.MIN_RECOMMENDED_READ_TIMEOUT_S:.0f} s or more, {C.HIGH_QUALITY_RECOMMENDED_READ_TIMEOUT_S:.0f} s for high quality).",
        )
    ]
    statuses: list[str] = []
    verdict = "Answers come well within the timeout."
    fix = "Nothing to fix."
    if s.read_timeout_s < C.MIN_RECOMMENDED_READ_TIMEOUT_S:
        statuses.append("warn")
        verdict = (
            f"The read timeout of {s.read_timeout_s:.0f} s is below {C.MIN_RECOMMENDED_READ_TIMEOUT_S:.0f} s: slow prompts will time out."
        )
        fix = ERROR_INFO["timeout"].fix
    spend = ctx.spend
    if spend is not None and spend.outcome is not None and spend.outcome.ok:
        items.append(_ev("probe", f"The test image took {spend.outcome.latency_ms / 1000:.1f} s."))
        statuses.append("warn" if spend.outcome.latency_ms >= timeout_ms * C.DIAG_LATENCY_WARN_FRACTION else "pass")
    bucket = ctx.history(9)
    lat = (bucket or {}).get("latency", {})
    if lat.get("count"):
        p95 = lat["p95_ms"]
        items.append(
            _ev(
                "history",
                f"Successful attempts: {lat['count']}, p50 {lat['p50_ms'] / 1000:.1f} s, p95 {p95 / 1000:.1f} s, slowest {lat['max_ms'] / 1000:.1f} s.",
                [Link("History", ctx.link())],
            )
        )
        if p95 >= timeout_ms * C.DIAG_LATENCY_WARN_FRACTION:
            statuses.append("warn")
            verdict = f"p95 latency ({p95 / 1000:.1f} s) is close to the {s.read_timeout_s:.0f} s read timeout."
            fix = ERROR_INFO["timeout"].fix
        else:
            statuses.append("pass")
    hist, count, unresolved = _history_items(ctx, 9)
    items.extend(hist)
    if count:
        statuses.append("fail" if unresolved else "warn")
        verdict = f"{count} recent request(s) got no answer within the read timeout."
        fix = ERROR_INFO["timeout"].fix
    if not statuses:
        return Step(
            9,
            STEP_NAMES[9],
            "not_checked",
            "No successful attempts to measure latency by.",
            items,
            "Generate a few images, or run the checks with 'spend one image'.",
        )
    status = _worst(*statuses)
    return Step(9, STEP_NAMES[9], status, verdict, items, fix if status != "pass" else "Nothing to fix.")


CHECKS: tuple[Callable[[CheckContext], Step], ...] = (
    check_key,
    check_endpoint,
    check_model_step,
    check_delivery,
    check_limits,
    check_shape,
    check_decode,
    check_content,
    check_latency,
)


# --------------------------------------------------------------------------
# Running the checks


def settings_summary(settings: ClientSettings, model: str) -> dict[str, Any]:
    """The settings a report shows (``ClientSettings.describe``), the key's source in words."""
    s = settings
    source = (KEY_SOURCES.get(s.key_source, s.key_source) if s.key_source else "given directly") if s.api_key else "no key"
    return {**s.describe(model), "key_source": source}


def estimate_spend(model: str) -> tuple[float | None, str]:
    """The estimated cost of the spend probe, from lib/pricing.py when it is there."""
    params = {"size": C.DIAG_SPEND_SIZE, "quality": C.DIAG_SPEND_QUALITY, "n": 1}
    try:
        from lib.pricing import estimate_request  # written by the History feature
    except ImportError:
        return None, "no price table in this version"
    try:
        cost = estimate_request(model, params, 1)
    except Exception as exc:  # an estimate must not stop the checks
        return None, f"no estimate ({type(exc).__name__})"
    usd = getattr(cost, "usd", None)
    return usd, getattr(cost, "note", "") or getattr(cost, "basis", "") or ""


def spend_request(model: str) -> GenerationRequest:
    return GenerationRequest(prompt=C.DIAG_SPEND_PROMPT, model=model, size=C.DIAG_SPEND_SIZE, quality=C.DIAG_SPEND_QUALITY, n=1)


def thumbnail_data_url(data: bytes | None = None, path: str | None = None) -> str | None:
    """A small JPEG thumbnail as a data URL, for reports."""
    source = data if data is not None else path
    if source is None:
        return None
    try:
        return data_url(make_thumbnail(source, C.DIAG_THUMB_PX, fmt="JPEG"), "image/jpeg")
    except Exception:  # a thumbnail is decoration
        return None


def run_checks(
    settings: ClientSettings,
    model: str,
    *,
    store: Any = None,
    probe: bool = True,
    spend: bool = False,
    on_progress: Callable[[str], None] | None = None,
    transport: Any = None,
    now: float | None = None,
    title: str = "",
) -> Report:
    """Run the whole checklist: static checks, history from ``store`` (a
    ``lib.store.Store`` or None), probes unless ``probe=False`` (each recorded in
    a run of kind 'probe'), and the spend-one-image probe when ``spend``."""
    from lib.client import ImageClient, NullRecorder
    from lib.store import AttemptFilter

    register(settings.api_key)
    ctx = CheckContext(settings=settings, model=model, now=now if now is not None else time.time())

    def progress(message: str) -> None:
        if on_progress is not None:
            try:
                on_progress(message)
            except Exception:  # a broken progress display must not stop the checks
                pass

    if probe and settings.endpoint.url:
        recorder = store if store is not None else NullRecorder()
        client = ImageClient(settings=settings, recorder=recorder, keeper=getattr(store, "keeper", None), transport=transport)
        try:
            summary = settings.describe()
            run_id = recorder.start_run(kind="probe", label=f"Diagnostics probes: {settings.provider} / {model}"[:120], settings=summary)
            attempt_no = 0
            started = time.time()
            plan: list[tuple[str, Callable[[int], Any]]] = [
                ("models", lambda n: client.probe_models(run_id=run_id, attempt_no=n, model=model)),
                ("route", lambda n: client.probe_route(model, run_id=run_id, attempt_no=n)),
            ]
            typed = _typed_api_base(settings)
            if typed:
                plan.append(("typed_models", lambda n: client.probe_models(run_id=run_id, attempt_no=n, model=model, api_base=typed)))
            if ctx.delivery == "task":
                plan.append(("task_poll_a", lambda n: client.probe_task_poll(run_id=run_id, attempt_no=n, model=model, shape="a")))
                plan.append(("task_poll_b", lambda n: client.probe_task_poll(run_id=run_id, attempt_no=n, model=model, shape="b")))
            labels = {
                "models": "GET /models (key, host, model list)",
                "route": "the generations route",
                "typed_models": "the base URL as typed",
                "task_poll_a": "the task poll route (shape A)",
                "task_poll_b": "the task poll route (shape B)",
            }
            for name, do in plan:
                attempt_no += 1
                progress(f"Probing {labels[name]}...")
                ctx.probes[name] = do(attempt_no)
            # A task provider answers one of the two poll shapes: one that works is enough.
            polls = [ctx.probes.get(n) for n in ("task_poll_a", "task_poll_b") if ctx.probes.get(n) is not None]
            if polls and any(p.ok for p in polls):
                for n in ("task_poll_a", "task_poll_b"):
                    if n in ctx.probes and not ctx.probes[n].ok:
                        del ctx.probes[n]
            failed = [p for p in ctx.probes.values() if not p.ok]
            recorder.run_finished(
                run_id,
                {
                    "finished_at": time.time(),
                    "status": "failed" if failed else "succeeded",
                    "model": model,
                    "error_type": failed[0].error.error_type if failed and failed[0].error else ("bad_response" if failed else None),
                    "attempts": attempt_no,
                    "latency_ms": int((time.time() - started) * 1000),
                },
            )
        finally:
            client.close()
        ctx.probed = True
    if spend and settings.endpoint.url:
        usd, note = estimate_spend(model)
        progress("Spending one image at the lowest quality" + (f" (about ${usd:.3f})" if usd is not None else "") + "...")
        spend_settings = dataclasses.replace(settings, max_retries=0, use_fallback=False)
        recorder = store if store is not None else NullRecorder()
        with ImageClient(settings=spend_settings, recorder=recorder, keeper=getattr(store, "keeper", None), transport=transport) as client:
            outcome = client.generate(spend_request(model), kind="probe")
        thumb = None
        if outcome.images:
            img = outcome.images[0]
            thumb = thumbnail_data_url(data=img.data, path=img.path)
        ctx.spend = SpendResult(outcome, usd, note, thumb)
    if store is not None:
        progress("Reading recent attempts...")
        since = ctx.now - C.DIAG_HISTORY_WINDOW_S
        ctx.provider_history = store.evidence(AttemptFilter(providers=[settings.provider], since=since))
        ctx.model_history = store.evidence(AttemptFilter(providers=[settings.provider], models=[model], since=since))
    steps = []
    for check in CHECKS:
        try:
            steps.append(check(ctx))
        except Exception as exc:  # one broken check must not hide the other eight
            import logging

            logging.getLogger("imagelab.diagnostics").exception("check %s failed", check.__name__)
            number = CHECKS.index(check) + 1
            steps.append(
                Step(
                    number,
                    STEP_NAMES[number],
                    "not_checked",
                    f"This check hit a bug in Image Prompt Lab ({type(exc).__name__}).",
                    [],
                    "Report it with logs/imagelab.log from the data directory.",
                )
            )
    if ctx.spend is not None and ctx.spend.outcome is not None:
        o = ctx.spend.outcome
        cost = (
            f"estimated ${ctx.spend.estimate_usd:.3f}" if ctx.spend.estimate_usd is not None else f"cost unknown: {ctx.spend.estimate_note}"
        )
        steps[5].evidence.insert(
            0,
            _ev(
                "probe",
                f"Spent one image ({C.DIAG_SPEND_SIZE}, quality {C.DIAG_SPEND_QUALITY}, {cost}): "
                + ("succeeded." if o.ok else f"failed with {o.error.error_type if o.error else 'an error'}."),
                [Link("The test run", f"/?run={quote(o.run_id, safe='')}")] if o.run_id else [],
                prompt=C.DIAG_SPEND_PROMPT,
            ),
        )
    created = datetime.fromtimestamp(ctx.now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = Report(
        provider=settings.provider,
        model=model,
        steps=steps,
        settings=settings_summary(settings, model),
        created_at=created,
        title=title or f"Diagnostics: {settings.preset.label} / {model}",
    )
    return _scrub_report(report, settings.api_key)


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
        report, steps=steps, title=s(report.title), model=s(report.model), settings=scrub_obj(report.settings, extra=extra)
    )


# --------------------------------------------------------------------------
# Saving and loading


def save_report(store: Any, report: Report, *, hide: bool = False) -> str:
    """Store a snapshot in the ``reports`` table; returns its id (the permalink's)."""
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
    out += ["", "_Made with Image Prompt Lab. The API key is never included; signed URL query strings are cut._", ""]
    return "\n".join(out)


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
