"""The nine checks of the checklist (``check_key`` .. ``check_latency``), each reading a
``CheckContext`` and returning a ``Step``, and ``run_checks``: static checks, history,
the live probes and the opt-in spend probe, in that order."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from lib import constants as C
from lib import errors as E
from lib import pricing
from lib.diagnostics.evidence import CheckContext, SpendResult, _ev, _history_items, _probe_item, _worst
from lib.diagnostics.probes import probe_dialect_create, probe_dialect_poll, probe_models, probe_route, probe_task_poll
from lib.diagnostics.report import STEP_NAMES, Evidence, Link, Report, Step, _scrub_report, attempt_link
from lib.dialects import Dialect
from lib.errors import ERROR_INFO
from lib.generation import ClientSettings, GenerationRequest, Outcome
from lib.images import data_url, make_thumbnail
from lib.preflight import check_key as preflight_key
from lib.providers import KEY_SOURCES, check_model
from lib.redact import register, strip_query

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
    problem = key_refusal(s)
    foreign = _foreign_key_shape(s)
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
    accepted = any(p.ok for p in ctx.probes.values())
    if foreign and not accepted and not problem:  # a refusal by the provider (401) is then explained by it
        items.append(_ev("static", foreign))
        if "fail" not in statuses:
            statuses.append("warn")
            verdict = foreign
        fix = f"Use a key from {preset.label} (set {preset.key_env}, or type it in the sidebar)."
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


# Key shapes only OpenAI issues (project, service-account and admin keys); gateways issue their own.
_OPENAI_KEY = re.compile(r"^sk-(?:proj|svcacct|admin)-")


def _foreign_key_shape(settings: ClientSettings) -> str:
    """Why the key looks like another provider's ("" when it does not): an OpenAI key for a gateway preset."""
    if settings.provider in ("openai", "custom", "sandbox") or not _OPENAI_KEY.match(settings.api_key or ""):
        return ""
    return f"The key is shaped like an OpenAI key (it starts with an OpenAI project, service-account or admin prefix); {settings.preset.label} issues its own keys and refuses OpenAI's."


def key_refusal(settings: ClientSettings) -> str:
    """Why the key is not sent as it is ("" when it may go): the pre-flight rule of
    generations, and the key-to-host rule. The probes follow it too: a key a
    generation would refuse is not sent by a probe either."""
    problem = preflight_key(settings.api_key, settings.preset)
    if not problem and settings.api_key and settings.endpoint.url:
        destination = settings.key_problem(settings.endpoint.url)  # a configured key goes only to its own host
        problem = destination[1] if destination else None
    return problem or ""


def _not_probed(ctx: CheckContext) -> list[Evidence]:
    if not ctx.key_refused:
        return []
    return [_ev("static", "Not probed live: the key is not sent as it is (see step 1), so no request went out.")]


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
    for problem in endpoint.problems:
        if problem.severity == "info":
            items.append(_ev("static", ctx.text(problem.message)))
            continue
        items.append(_ev("static", ctx.text(problem.message)))
        statuses.append(problem.severity)
        verdict = ctx.text(problem.message, limit=200)
        fix = ctx.text(problem.fix) if problem.fix else fix  # the builder names what to set
    corrected = bool(endpoint.correction) and not endpoint.ok  # the builder's one rule: url and api_base are the corrected ones
    if not endpoint.ok:
        statuses.append("fail")
        refused = _ev("static", "No request is sent: generations refuse this base URL until it is corrected.")
        if endpoint.url:
            items[:1] = [refused]  # not "Requests go to": nothing goes there as the settings are
        else:
            items.append(refused)
        fails = [ctx.text(p.message) for p in endpoint.problems if p.severity == "fail"]
        verdict = " ".join(fails) if fails else "No usable endpoint can be built from this base URL."
        fix = verdict
        if corrected:
            verdict = f"{endpoint.correction}: the corrected URL is {ctx.text(endpoint.url)}."
            fix = f"{endpoint.correction}. Set the base URL to {ctx.text(endpoint.api_base)}; requests then go to {ctx.text(endpoint.url)}."
    typed = ctx.probes.get("typed_models")
    if typed is not None:
        items.append(_probe_item(typed, "The base URL as typed"))
        if not typed.ok:  # the app's requests go to the corrected URL: a warning for other tools, not a failure
            statuses.append("warn")
            verdict = (
                f"The base URL as typed does not work ({typed.http_status or 'no answer'}); the app corrected it to "
                f"{ctx.text(endpoint.api_base)} and sends there."
            )
            fix = f"Set the base URL to {ctx.text(endpoint.api_base)} (the app sends there already; other tools using your URL will fail)."
    route = ctx.probes.get("route")
    if route is not None:
        err = route.error
        if corrected:
            items.append(_probe_item(route, "The corrected generations route"))
            if route.ok:
                items.append(_ev("probe", "The corrected URL answers like an image API: only the base URL needs changing."))
        else:
            items.append(_probe_item(route, "Generations route"))
        if corrected:
            pass  # the step fails on the settings as they are; the probe only proves the correction
        elif route.ok:
            statuses.append("pass")
            if not any(st in ("warn", "fail") for st in statuses):
                verdict = "The generations route exists and answers like an image API."
        elif route.http_status is None and (err is None or err.error_type == "network"):
            statuses.append("fail")
            verdict = "The host could not be reached."
            fix = ERROR_INFO["network"].fix
            if err is not None:
                items.append(_ev("probe", ctx.text(err.message, limit=300)))
        elif route.http_status is None:  # the host answered, but not in time or not within what a probe reads
            statuses.append("warn")
            verdict = (
                f"The host answered the probe too slowly (no full answer within {C.PROBE_TIMEOUT_S:.0f} s); the route could not be confirmed."
                if err.error_type == "timeout"
                else f"The host's answer to the probe could not be read ({err.error_type}); the route could not be confirmed."
            )
            items.append(_ev("probe", ctx.text(err.message, limit=300)))
            fix = (
                "An image API answers a body without a prompt at once and briefly. Check that the base URL is the provider's API; "
                "if it is, run the checks again later."
            )
        elif route.is_json and err is not None and 400 <= route.http_status < 500 and E.step_of(err) not in (1, 2, None):
            statuses.append("pass")  # the route read the body and refused it for another step's reason (the model, a parameter, limits)
            if not any(st in ("warn", "fail") for st in statuses):
                verdict = (
                    f"The generations route exists and answers like an image API "
                    f"(HTTP {route.http_status}, {err.error_type}: see step {E.step_of(err)})."
                )
        elif 300 <= route.http_status < 400 and route.location.startswith("https://") and endpoint.root.startswith("http://"):
            statuses.append("fail")
            secure = "https" + endpoint.api_base[len("http") :]
            verdict = f"The host redirects plain http to https ({route.http_status}): the API is served over https only."
            fix = f"Set the base URL to {ctx.text(secure)}."
        elif route.http_status in (404, 405) or 300 <= route.http_status < 400:
            statuses.append("fail")
            verdict = {
                404: "The generations route does not exist at this address (404).",
                405: "This URL exists but does not take POST (405): it is not the API route.",
            }.get(
                route.http_status,
                f"The address redirects ({route.http_status})"
                + (f" to {ctx.text(route.location, limit=120)}" if route.location else "")
                + "; the API is elsewhere (a redirect to a sign-in or home page means the base URL is not the API).",
            )
        elif route.http_status >= 500:
            statuses.append("warn")
            verdict = f"The host answered with a server error ({route.http_status}); the route could not be confirmed."
            fix = ERROR_INFO["server_error"].fix
        elif route.http_status in (401, 403):  # refused before the route was looked at: it is neither confirmed nor ruled out
            if not any(st in ("warn", "fail") for st in statuses):
                verdict = (
                    f"The endpoint is well formed; the route is not confirmed: the provider refused the key "
                    f"(HTTP {route.http_status}) before looking at it. Fix the key (step 1) and run the checks again."
                )
        elif (err is not None and err.code == "html_answer") or "html" in (route.content_type or "").lower():
            page = route.http_status < 300  # a web page instead of the API; an HTML error page may come from a proxy in front of it
            statuses.append("fail" if page else "warn")
            verdict = (
                f"The address answers with a web page (HTML, HTTP {route.http_status}), not the image API."
                if page
                else f"The generations route answered HTTP {route.http_status} with a web page; the route could not be confirmed."
            )
            fix = "Set the base URL to the provider's API base (usually ending in /v1), not its website or a sign-in page."
        elif route.is_json:  # 2xx or 4xx in JSON: the route read the request; what it said is another step's
            statuses.append("pass")
            if not any(st in ("warn", "fail") for st in statuses):
                verdict = f"The host answers like an image API (HTTP {route.http_status} to a body without a prompt)."
        else:
            statuses.append("warn")
            verdict = f"The generations route answered HTTP {route.http_status} with something that is not JSON; the route could not be confirmed."
            items.append(_ev("probe", ctx.text(route.body_preview or "(an empty answer)", limit=300)))
    items.extend(_not_probed(ctx))
    hist, count, unresolved = _history_items(ctx, 2, model=False, only=lambda t: t != "server_error")
    items.extend(hist)
    if count:
        statuses.append("fail" if unresolved and route is None else "warn")
        if not any(st == "fail" for st in statuses[:-1]):
            verdict = f"{count} recent request(s) could not reach the endpoint."
    # A 5xx says the host answered: a warning here (the wrong host, or the provider's own trouble), never a failure.
    other, server, _ = _history_items(ctx, 2, model=False, only=lambda t: t == "server_error")
    if server:
        items.extend(other)
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
    dialect = getattr(s.dialect, "name", None) if s.dialect is not None and isinstance(getattr(s.dialect, "is_async", None), bool) else None
    if dialect is not None:
        how = (
            f"Through the dialect '{dialect}', images come "
            f"{'as an async task, polled at its poll route' if delivery == 'task' else 'in the create answer itself'}. "
        )
    elif s.provider == "custom":
        how = (
            "A Custom gateway delivers images as its answers show: "
            f"{'recent answers were async tasks, polled' if delivery == 'task' else 'no async task seen yet'}; the client reads both shapes either way. "
        )
    else:
        how = (
            f"{s.preset.label} delivers images {'as an async task that is polled' if delivery == 'task' else 'in the answer itself (sync)'}; "
            "the client reads both shapes either way. "
        )
    items.append(_ev("static", ctx.text(how) + f"Read timeout {s.read_timeout_s:.0f} s, task deadline {s.task_deadline_s:.0f} s."))
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
        err = spend.outcome.error
        if spend.outcome.ok:
            items.append(
                _ev("probe", f"The test image came back {'through an async task' if task_seen else 'in the answer itself (sync)'}.")
            )
        elif err is not None and E.step_of(err) == 4:
            statuses.append("fail")
            verdict = f"The test image failed: {err.info.title}."
            fixes.append(ERROR_INFO[err.error_type].fix)
        elif err is not None:
            items.append(
                _ev("probe", f"The test image failed before delivery could be seen: {err.info.title} (step {E.step_of(err) or '-'}).")
            )
    dialect_status, dialect_fix = dialect_items(ctx, items)
    if dialect_status != "pass":
        statuses.append(dialect_status)
        verdict = items[-1].text
        fixes.append(dialect_fix)
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


def dialect_items(ctx: CheckContext, items: list[Evidence]) -> tuple[str, str]:
    """A Custom provider's gateway dialect, checked: which one is in use, whether its file
    loaded, its poll route, and the test image's live answers read through it (task id
    found, status words known, results readable). Adds the evidence to ``items``; returns
    (status, fix)."""
    from lib.dialects import Dialect

    dialect = ctx.settings.dialect
    if dialect is None:
        if ctx.provider == "custom":
            items.append(_ev("static", "Gateway dialect: OpenAI-compatible (no dialect file chosen)."))
        return "pass", ""
    if not isinstance(dialect, Dialect):
        items.append(_ev("static", ctx.text(f"The gateway dialect cannot be used: {dialect}", limit=1500)))
        return "fail", "Fix the dialect file at the lines named (or choose another dialect); nothing is sent until it loads."
    items.append(_ev("static", ctx.text(f"Gateway dialect in use: {dialect.describe()} (file {dialect.source or '?'}).")))
    status, fix = "pass", ""
    poll = ctx.probes.get("dialect_poll")
    if poll is not None:
        items.append(_probe_item(poll, "The dialect's poll route"))
        if not poll.ok and poll.http_status not in (401, 403):
            items.append(_ev("probe", "The dialect's poll route does not answer like a task API."))
            status, fix = "fail", "Check [poll] path and query in the dialect file against the gateway's documentation."
    spend = ctx.spend
    outcome = spend.outcome if spend is not None else None
    if outcome is None:
        return status, fix
    accepted = [ev for ev in outcome.events if ev.kind == "accepted" and ev.data.get("task_id")]
    words = list(dict.fromkeys(str(ev.data["status"]) for ev in outcome.events if ev.kind == "polling" and ev.data.get("status")))
    if dialect.is_async and accepted:
        path = dialect.task_id.text if dialect.task_id else "?"
        items.append(_ev("probe", ctx.text(f"Live answer: the task id was found at {path} ({accepted[0].data['task_id']}).", limit=300)))
    if words:
        items.append(
            _ev(
                "probe",
                ctx.text(
                    f"Live answer: status word(s) seen at {dialect.status.text if dialect.status else '?'}: {', '.join(words)}; all listed in the file.",
                    limit=300,
                ),
            )
        )
    err = outcome.error
    if outcome.ok:
        where = (dialect.results or dialect.create_results).text if (dialect.results or dialect.create_results) else "the image fields"
        items.append(_ev("probe", f"Live answer: {len(outcome.images)} image(s) read at {where}."))
    elif err is not None and (err.code or "").startswith("dialect_"):
        items.append(_ev("probe", ctx.text(f"The live answer does not fit the dialect: {err.message}", limit=600)))
        status, fix = "fail", "Change the field named above in the dialect file (Describe this answer, below, reads a pasted answer)."
    return status, fix


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
    limited = route is not None and route.error is not None and route.error.error_type in ("quota_exceeded", "rate_limited")
    if limited:  # a 429, or a 402/403 a provider words as quota: the error type says which
        items.append(_probe_item(route, "Generations route"))
        if route.error.error_type == "quota_exceeded":
            statuses.append("fail")
            verdict = "The provider says this account is out of credits or quota."
            fix = ERROR_INFO["quota_exceeded"].fix
        else:
            statuses.append("warn")
            from lib.client import over_cap, wait_text

            wait = ""
            if route.retry_after_s is not None:
                wait = f" (it asked to wait {wait_text(route.retry_after_s)}"
                wait += (
                    f", more than the {C.MAX_RETRY_AFTER_S:.0f} s this app waits: not waited for)" if over_cap(route.retry_after_s) else ")"
                )
            verdict = f"The provider is rate-limiting this key right now{wait}."
            fix = ERROR_INFO["rate_limited"].fix
    elif route is not None and (route.ok or (route.is_json and 200 <= (route.http_status or 0) < 300)):
        # only an answer past the key and the route says anything about limits
        statuses.append("pass")
        items.append(_ev("probe", f"The generations route answered {route.http_status}, not 429: no rate limit or quota block right now."))
    elif ctx.spend is not None and ctx.spend.outcome is not None and ctx.spend.outcome.ok:
        statuses.append("pass")
        items.append(_ev("probe", "The test image went through: no rate limit or quota block right now."))
    elif route is not None:
        items.append(
            _ev(
                "probe",
                f"The generations route answered {route.http_status or 'nothing'} before any limit applied: limits not checked live.",
            )
        )
    live_clean = "pass" in statuses
    bucket = ctx.history(5, model=False)
    hist, count, unresolved = _history_items(ctx, 5, model=False)
    items.extend(hist)
    live_statuses = list(statuses)
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
    early = bool((bucket or {}).get("retry_after", {}).get("early"))  # the app's own retries: live answers do not excuse them
    if (live_clean or not unresolved) and not early:
        # Live beats old: errors older than the last success, or before a clean live probe, inform.
        history_statuses = ["warn" if st == "fail" else st for st in statuses[len(live_statuses) :]]
        if "fail" in statuses[len(live_statuses) :]:
            verdict = (
                "Earlier requests met rate limits or quota; the provider accepts requests now."
                if live_clean
                else "Earlier requests met rate limits or quota; requests have succeeded since."
            )
        statuses = live_statuses + history_statuses
    budget = (bucket or {}).get("rate_budget") or {}
    latest = budget.get("latest")
    if latest:  # what the provider last announced of its rate-limit budget (x-ratelimit-* headers)
        from lib.client import RateBudget

        announced = RateBudget(
            remaining_requests=latest["ratelimit_remaining_requests"],
            remaining_tokens=latest["ratelimit_remaining_tokens"],
            limit_requests=latest["ratelimit_limit_requests"],
            limit_tokens=latest["ratelimit_limit_tokens"],
            reset_requests_s=latest["ratelimit_reset_s"],
        )
        age = max(0.0, ctx.now - (latest["started_at"] or ctx.now))
        held = (
            f"The app held {budget['held']} request(s) back for it ({budget['held_ms'] / 1000:,.1f} s in all) instead of meeting a 429."
            if budget.get("held")
            else "The app did not need to slow down for it."
        )
        items.append(
            _ev(
                "history",
                f"Latest budget the provider announced ({age:,.0f} s ago, {ctx.text(latest['model'] or '?', 80)}): "
                f"{announced.describe()}. {held}",
                [Link(f"Attempt #{latest['id']}", attempt_link(latest["id"]))],
            )
        )
        if not statuses:
            statuses.append("warn" if announced.spent else "pass")
            verdict = (
                "The provider's announced rate-limit budget was spent at its latest answer; requests wait for its reset."
                if announced.spent
                else "The provider announces a rate-limit budget and it is not exhausted."
            )
            fix = ERROR_INFO["rate_limited"].fix if announced.spent else fix
    if not statuses:
        return Step(
            5,
            STEP_NAMES[5],
            "not_checked",
            "No recent attempts to judge limits by, and the probe did not get past the key or the route."
            if route is not None
            else "No probe and no recent attempts to judge limits by.",
            items,
            "Run the checks with probes, or generate a few images first.",
        )
    status = _worst(*statuses)
    if status == "pass":
        fix = "Nothing to fix."
    return Step(5, STEP_NAMES[5], status, verdict, items, fix)


def route_summary(provider: str, model: str) -> str:
    """What the route takes, in one sentence with its source and what is not confirmed."""
    from lib.providers import route, route_row

    row = route_row(route(provider, model))
    text = (
        f"Route {row['route']}: n {row['n']}; quality {row['quality']}; sizes {row['sizes']}; prompts up to {row['prompt']}; "
        f"edits {row['edits']}; streaming {row['streams']}; priced by {row['pricing']}. Source: {row['source']}"
    )
    if row["not confirmed"] != "-":
        text += f" Not confirmed: {row['not confirmed']}"
    return text


def check_shape(ctx: CheckContext) -> Step:
    items: list[Evidence] = [_ev("static", route_summary(ctx.provider, ctx.model))]
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
        elif o.error is not None:
            items.append(_ev("probe", _spend_failed_elsewhere(o.error, "the request and answer shape")))
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
    elif bucket is not None and bucket["total"] and bucket.get("last_success_at"):
        statuses.append("pass")  # only an answer that carried an image proves the shape
        items.append(_ev("history", f"No rejected parameter or unreadable answer among {bucket['total']} attempt(s)."))
    if not statuses:
        return Step(
            6,
            STEP_NAMES[6],
            "not_checked",
            _nothing_seen(ctx, "No recent successful attempt for this model"),
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
        elif o.error is not None:
            items.append(_ev("probe", _spend_failed_elsewhere(o.error, "decoding and keeping")))
    decoded_now = "pass" in statuses
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
        statuses.append("fail" if unresolved and not decoded_now else "warn")  # the test image decoded now beats old failures
        verdict = (
            f"The test image decoded now; earlier, {count} image(s) could not be decoded or downloaded."
            if decoded_now
            else f"{count} recent image(s) could not be decoded or downloaded."
        )
        fix = " ".join(dict.fromkeys(ERROR_INFO[t].fix for t in bucket["errors"] if t in ERROR_INFO))
    elif images.get("count") and "pass" not in statuses:
        statuses.append("pass")  # only images that were made prove decoding and keeping
    if not statuses:
        return Step(
            7,
            STEP_NAMES[7],
            "not_checked",
            _nothing_seen(ctx, "No recent images for this model"),
            items,
            "Generate an image, or run the checks with 'spend one image'.",
        )
    status = _worst(*statuses)
    return Step(7, STEP_NAMES[7], status, verdict, items, fix if status != "pass" else "Nothing to fix.")


def _spend_failed_elsewhere(err: Any, what: str) -> str:
    step = E.step_of(err)
    return f"The test image failed ({err.info.title}, {'step ' + str(step) if step else 'no step'}), so it proves nothing about {what}."


def _nothing_seen(ctx: CheckContext, start: str) -> str:
    spend = ctx.spend
    if spend is not None and spend.outcome is not None and not spend.outcome.ok:
        return f"{start}, and the test image failed."
    return f"{start}, and no test image was made."


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
            (
                f"{count} recent request(s) were blocked by the safety system; blocked requests are never retried."
                if count
                else "The harmless test prompt was blocked by the safety system; blocked requests are never retried."
            ),
            items,
            ERROR_INFO["content_policy"].fix,
        )
    if bucket is None or not bucket["total"] or not bucket.get("last_success_at"):
        # Only requests the provider accepted went past its safety system: none, nothing checked.
        return Step(
            8,
            STEP_NAMES[8],
            "not_checked",
            "No recent successful attempt for this model to look for blocks around.",
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
    spend_ok = spend is not None and spend.outcome is not None and spend.outcome.ok
    if spend_ok:
        items.append(_ev("probe", f"The test image took {spend.outcome.latency_ms / 1000:.1f} s."))
        statuses.append("warn" if spend.outcome.latency_ms >= timeout_ms * C.DIAG_LATENCY_WARN_FRACTION else "pass")
    elif spend is not None and spend.outcome is not None and spend.outcome.error is not None:
        err = spend.outcome.error
        if err.error_type == "timeout" and E.step_of(err) == 9:
            statuses.append("fail")
            verdict = f"The test image got no answer within the {s.read_timeout_s:.0f} s read timeout."
            fix = ERROR_INFO["timeout"].fix
            items.append(_ev("probe", verdict))
        else:
            items.append(_ev("probe", _spend_failed_elsewhere(err, "latency")))
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
        other = min(count, (bucket or {}).get("timeouts_other_settings", 0))
        if other:
            items.append(_ev("history", f"{other} of them were made with another read timeout than {s.read_timeout_s:.0f} s."))
        # Timeouts made with another timeout, or older than a success, inform; they do not fail.
        statuses.append("fail" if unresolved and not spend_ok and other < count else "warn")
        verdict = f"{count} recent request(s) got no answer within the read timeout" + (
            f" ({other} with another read timeout)." if other else "."
        )
        fix = ERROR_INFO["timeout"].fix
    if not statuses:
        return Step(
            9,
            STEP_NAMES[9],
            "not_checked",
            _nothing_seen(ctx, "No successful attempts to measure latency by"),
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


# What each setting a check reads is called, for "out of date: ... changed".
SETTING_LABELS = {
    "provider": "provider",
    "model": "model",
    "endpoint": "endpoint URL",
    "base_url": "base URL",
    "key_source": "key source",
    "key_hint": "key",
    "key_env": "key variable",
    "delivery": "delivery",
    "connect_timeout_s": "connect timeout",
    "read_timeout_s": "read timeout",
    "task_deadline_s": "task deadline",
    "run_deadline_s": "run deadline",
    "max_retries": "retries",
    "use_fallback": "fallback",
    "fallbacks": "fallback chain",
    "rate_per_s": "rate limit",
    "burst": "burst",
    "max_concurrency": "parallel requests",
    "sandbox": "sandbox scenario or dialect",
    "dialect": "gateway dialect",
    "extra_headers": "extra headers",
}


def settings_fingerprint(settings: ClientSettings, model: str) -> dict[str, Any]:
    """Every setting a check reads, as a report records it (``settings_summary``): two runs
    with equal fingerprints checked the same thing."""
    return settings_summary(settings, model)


def fingerprint_digest(settings: ClientSettings, model: str) -> str:
    """A short digest of ``settings_fingerprint`` and of the key itself (two keys may share their
    last four characters), to tell in memory whether results are still current; never stored."""
    body = json.dumps(settings_fingerprint(settings, model), sort_keys=True, default=str)
    key = hashlib.sha256((settings.api_key or "").encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{body}\n{key}".encode()).hexdigest()[:24]


def stale_changes(report: Report, settings: ClientSettings, model: str) -> list[str]:
    """What changed, in words, between the settings ``report`` was made with and these; [] when
    the report still describes them. A report of another provider or model is out of date too."""
    now = settings_fingerprint(settings, model)
    then = dict(report.settings)
    then.setdefault("provider", report.provider)
    then.setdefault("model", report.model)
    names = sorted(set(now) | set(then), key=lambda k: list(SETTING_LABELS).index(k) if k in SETTING_LABELS else 99)
    changed = [SETTING_LABELS.get(k, k.replace("_", " ")) for k in names if k != "provider_label" and now.get(k) != then.get(k)]
    return list(dict.fromkeys(changed))


def estimate_spend(model: str) -> tuple[float | None, str]:
    """The estimated cost of the spend probe: the price function and the parameters its
    attempt is recorded with (``pricing.estimate`` of ``spend_request(model).params()``,
    one image, no usage), so the figure shown before it is the figure recorded after it,
    unless the provider reports token usage, which then prices it."""
    try:
        cost = pricing.estimate(model, spend_request(model).params(), None, 1)
    except Exception as exc:  # an estimate must not stop the checks
        return None, f"no estimate ({type(exc).__name__})"
    return cost.usd, cost.note or cost.basis


def recorded_spend_cost(model: str, outcome: Outcome) -> pricing.Cost | None:
    """The cost the spend probe's attempt was recorded with: the same function the recorder
    uses, on the same parameters, with the usage the provider reported."""
    try:
        status = outcome.status if outcome.status in ("succeeded", "failed", "cancelled", "interrupted") else "failed"
        return pricing.estimate(model, spend_request(model).params(), outcome.usage, len(outcome.images), status=status)
    except Exception:  # an estimate must not stop the checks
        return None


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
    history: bool = True,
    on_progress: Callable[[str], None] | None = None,
    transport: Any = None,
    now: float | None = None,
    title: str = "",
) -> Report:
    """Run the whole checklist: static checks, history from ``store`` (a
    ``lib.store.Store`` or None; not read with ``history=False``: live checks only),
    probes unless ``probe=False`` (each recorded in a run of kind 'probe'), and the
    spend-one-image probe when ``spend``."""
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

    ctx.key_refused = key_refusal(settings) if probe else ""
    if probe and settings.endpoint.url and not ctx.key_refused:
        recorder = store if store is not None else NullRecorder()
        client = ImageClient(settings=settings, recorder=recorder, keeper=getattr(store, "keeper", None), transport=transport)
        try:
            summary = settings.describe()
            run_id = recorder.start_run(kind="probe", label=f"Diagnostics probes: {settings.provider} / {model}"[:120], settings=summary)
            attempt_no = 0
            started = time.time()
            dialect = settings.dialect if isinstance(settings.dialect, Dialect) else None
            plan: list[tuple[str, Callable[[int], Any]]] = [
                # A base URL refused for its path: the endpoint is the corrected one, so the probes try the correction.
                ("models", lambda n: probe_models(client, run_id=run_id, attempt_no=n, model=model)),
                (
                    "route",
                    (lambda n: probe_dialect_create(client, dialect, model, run_id=run_id, attempt_no=n))
                    if dialect is not None
                    else (lambda n: probe_route(client, model, run_id=run_id, attempt_no=n)),
                ),
            ]
            typed = _typed_api_base(settings)
            if settings.endpoint.correction:
                typed = None
            if typed:
                plan.append(("typed_models", lambda n: probe_models(client, run_id=run_id, attempt_no=n, model=model, api_base=typed)))
            if dialect is not None and dialect.is_async:
                plan.append(("dialect_poll", lambda n: probe_dialect_poll(client, dialect, model, run_id=run_id, attempt_no=n)))
            elif ctx.delivery == "task" and dialect is None:
                plan.append(("task_poll_a", lambda n: probe_task_poll(client, run_id=run_id, attempt_no=n, model=model, shape="a")))
                plan.append(("task_poll_b", lambda n: probe_task_poll(client, run_id=run_id, attempt_no=n, model=model, shape="b")))
            labels = {
                "models": "GET /models (key, host, model list)",
                "route": "the generations route",
                "typed_models": "the base URL as typed",
                "task_poll_a": "the task poll route (shape A)",
                "task_poll_b": "the task poll route (shape B)",
                "dialect_poll": "the dialect's poll route",
            }
            for name, do in plan:
                attempt_no += 1
                progress(f"Probing {labels[name]}...")
                result = do(attempt_no)
                if result is None:  # a dialect route a probe cannot fill
                    attempt_no -= 1
                    continue
                ctx.probes[name] = result
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
    if spend and settings.endpoint.url and not ctx.key_refused:
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
    if store is not None and history:
        progress("Reading recent attempts...")
        since = ctx.now - C.DIAG_HISTORY_WINDOW_S
        # The route being diagnosed: this provider, endpoint URL and key (and model).
        urls = sorted({strip_query(u) for u in (settings.endpoint.url, settings.endpoint.edits_url) if u})
        route = {"urls": urls, "key_hint": settings.key_hint, "read_timeout_s": settings.read_timeout_s}
        ctx.provider_history = store.evidence(AttemptFilter(providers=[settings.provider], since=since), **route)
        ctx.model_history = store.evidence(AttemptFilter(providers=[settings.provider], models=[model], since=since), **route)
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
        recorded = recorded_spend_cost(model, o)
        if recorded is not None and recorded.usd is not None and recorded.usd != ctx.spend.estimate_usd:
            cost += f"; recorded ${recorded.usd:.3f}, {recorded.note}"
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
