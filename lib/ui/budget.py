"""Spend guardrails on the page: the sidebar's Budget section, the estimate under a send button,
the one-click confirmation above the threshold, and the refusal of a send over today's budget.
The rules are ``lib.budget``'s; this module only shows them and keeps the session's settings."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

from lib import budget as B
from lib.config import parse_usd
from lib.pricing import format_usd
from lib.text import markdown as plain
from lib.ui.resources import config, get_store
from lib.ui.sections import BUDGET_OPEN, section

ENTRIES = "budget_entries"  # provider id -> what was typed as its daily budget (survives provider switches)
CONFIRM_KEY = "confirm_above"  # the sidebar's confirmation threshold (text, USD)
BUDGET_KEY = "budget__{provider}"
PENDING = "budget_pending__{kind}"  # a send waiting for its confirmation


# --------------------------------------------------------------------------
# The session's settings


def _label(provider_id: str) -> str:
    return f"Daily budget for {B.provider_label(provider_id)} (USD)"


def session_budget(provider_id: str) -> tuple[float | None, str | None]:
    """(the session's daily budget for a provider, what is wrong with what was typed)."""
    raw = st.session_state.get(ENTRIES, {}).get(provider_id, "")
    return parse_usd(raw, label=_label(provider_id))


def limit_for(provider_id: str) -> B.Limit:
    """The limit that applies to a provider in this session: the operator's and the session's, the lower."""
    return B.limit_for(provider_id, config().budget, session_budget(provider_id)[0])


def threshold() -> float:
    value, _ = parse_usd(st.session_state.get(CONFIRM_KEY, ""), label="Ask to confirm above")
    return B.confirm_threshold(config().budget, value)


def budget_sidebar(provider_id: str, problems: dict[str, str]) -> None:
    """The sidebar's Budget section for the provider on screen: its daily budget, the confirmation
    threshold, and what was spent today (UTC). A value that is not an amount goes into ``problems``:
    nothing is sent until it is fixed."""
    ss = st.session_state
    entries = ss.setdefault(ENTRIES, {})
    key = BUDGET_KEY.format(provider=provider_id)
    # Written back before the widgets are drawn: their values survive another page's run and a provider switch
    ss[key] = ss[key] if key in ss else entries.get(provider_id, "")
    if CONFIRM_KEY in ss:
        ss[CONFIRM_KEY] = ss[CONFIRM_KEY]
    operator = config().budget
    op_usd, op_source = operator.daily_for(provider_id)
    # Closed, the section's two fields are not drawn: what was typed is read from the session by the same
    # rules, and one that is not an amount (or an operator's setting that was ignored) opens it.
    entries[provider_id] = ss[key]
    value, problem = parse_usd(ss[key], label=_label(provider_id))
    _, confirm_problem = parse_usd(ss.get(CONFIRM_KEY, ""), label="Ask to confirm above")
    box = section(
        st.sidebar,
        "Budget",
        BUDGET_OPEN,
        keep_open=bool(problem or confirm_problem or operator.problems),
        icon=":material/savings:",
    )
    if box is None:
        return
    with box:
        raw = st.text_input(
            _label(provider_id),
            key=key,
            placeholder=f"operator's limit: {format_usd(op_usd)}" if op_usd is not None else "no limit",
            help="Estimated spend per UTC day (00:00 to 24:00 UTC), for this browser session. "
            "The operator's limit, if set, still applies: the lower of the two counts.",
        )
        entries[provider_id] = raw
        value, problem = parse_usd(raw, label=_label(provider_id))
        if problem:
            st.error(plain(problem), icon=":material/error:")
            problems[key] = problem
        raw_confirm = st.text_input(
            "Ask to confirm above (USD)",
            key=CONFIRM_KEY,
            placeholder=format_usd(B.confirm_threshold(operator)).lstrip("~"),
            help="A Generate or a grid estimated above this asks for one confirmation click first.",
        )
        _, confirm_problem = parse_usd(raw_confirm, label="Ask to confirm above")
        if confirm_problem:
            st.error(plain(confirm_problem), icon=":material/error:")
            problems[CONFIRM_KEY] = confirm_problem
        check = B.check_send(get_store(), provider_id, 0.0, B.limit_for(provider_id, operator, value))
        st.caption(plain(check.status_line() + " Estimates, not a bill."))
        if op_usd is not None:
            st.caption(plain(f"Operator's limit: {format_usd(op_usd)} ({op_source})."))
        for issue in operator.problems:
            st.warning(plain(f"Budget setting ignored: {issue}"), icon=":material/warning:")


# --------------------------------------------------------------------------
# The gate in front of a send button


def _fingerprint(kind: str, items: list[tuple[str, Any]]) -> str:
    data = [(pid, request.to_dict()) for pid, request in items]
    return hashlib.sha256(json.dumps([kind, data], sort_keys=True, default=str).encode()).hexdigest()[:24]


def _typed_problems(providers: list[str]) -> list[str]:
    return [p for p in (session_budget(pid)[1] for pid in providers) if p]


def send_gate(
    kind: str,
    items: list[tuple[str, Any]],
    clicked: bool,
    send: Callable[[], Any],
    *,
    disabled: bool = False,
    what: str = "this generation",
    plan_cells: list[Any] | None = None,
    quiet: bool = False,
) -> Any:
    """Under a send button: the estimate of what it sends, today's spend per provider, and the
    decisions. A click sends at once when the estimate is within the confirmation threshold; above
    it, the click only asks, and one click on the confirmation (a button of its own, below, tied to
    exactly this request) sends. A second click on the send button never confirms. Every send is
    checked against today's budget, under ``lib.budget.sending``; a send that does not fit is
    refused with what was spent, the limit and where to change it. Returns what ``send`` returned,
    or None when nothing was sent.

    ``plan_cells`` (Compare): the grid's cells; the estimate and the check then cover the cells
    today's budgets let start, and the others are announced as not started. ``quiet``: the estimate
    and spend lines only once the button was clicked (a secondary button beside a main one)."""
    ss = st.session_state
    pending_key = PENDING.format(kind=kind)
    pending = ss.get(pending_key)
    if quiet and not clicked and pending is None:
        return None
    providers = list(dict.fromkeys(pid for pid, _ in items))
    store = get_store()
    fit = B.plan_cells(store, plan_cells, limit_for) if plan_cells is not None else None
    sending_items = [(c.target.provider, c.request) for c in fit.start] if fit is not None else items
    fingerprint = _fingerprint(kind, sending_items)  # a grid: exactly the cells that would start
    cost = B.send_cost(sending_items)
    limit = threshold()
    if pending is not None and (disabled or pending.get("fingerprint") != fingerprint):
        ss.pop(pending_key, None)  # the request changed (or cannot be sent): its confirmation is void
        pending = None

    line = f"Estimated cost of {what}: {cost.label()}. A fallback to another model is not counted unless it happens."
    st.caption(plain(line + f" Asks to confirm above {format_usd(limit)}."))
    for pid in providers:
        st.caption(plain(B.check_send(store, pid, 0.0, limit_for(pid)).status_line()))
    if fit is not None and fit.skip:
        st.warning(
            plain(
                f"Today's budget lets {len(fit.start)} of {len(fit.start) + len(fit.skip)} cells start; the other {len(fit.skip)} "
                "will not be started. " + " ".join(fit.reasons.values())
            ),
            icon=":material/savings:",
        )

    def refused() -> str | None:
        """Why this send may not go now (today's budgets, a budget typed wrong), or None."""
        problems = _typed_problems(providers)
        if problems:
            return "Not sent until fixed: " + " ".join(problems)
        if fit is not None:  # a grid: the runner starts only the cells that fit, checked again as it submits
            return " ".join(fit.reasons.values()) if not fit.start else None
        for pid in providers:
            share = B.send_cost([(p, r) for p, r in items if p == pid]).usd
            check = B.check_send(store, pid, share, limit_for(pid))
            if not check.ok:
                return check.message
        return None

    def checked_send() -> Any:
        with B.sending():  # the check and the run rows it allows, before any other send is checked
            why = refused()
            if why:
                st.error(plain(why), icon=":material/savings:")
                return None
            return send()

    if clicked and not disabled and pending is None:
        if not B.needs_confirmation(cost.usd, limit):
            return checked_send()
        why = refused()  # over the budget: refused now, not asked first
        if why:
            st.error(plain(why), icon=":material/savings:")
            return None
        pending = {"fingerprint": fingerprint, "usd": cost.usd, "token": uuid.uuid4().hex[:12]}
        ss[pending_key] = pending
    if pending is None:
        return None
    with st.container(border=True, key=f"budget-confirm-{kind}"):
        st.warning(
            plain(f"{what[0].upper() + what[1:]} is estimated at {format_usd(pending['usd'])}, above {format_usd(limit)}. Send it?"),
            icon=":material/savings:",
        )
        row = st.container(horizontal=True)
        confirm = row.button(
            plain(f"Confirm and send ({format_usd(pending['usd'])}, estimate)"),
            key=f"{kind}_confirm_{pending['token']}",
            type="primary",
            icon=":material/check:",
        )
        dismiss = row.button("Not now", key=f"{kind}_dismiss_{pending['token']}", icon=":material/close:")
    if dismiss:
        ss.pop(pending_key, None)
        st.rerun()
    if confirm and (ss.get(pending_key) or {}).get("token") == pending["token"]:
        ss.pop(pending_key, None)  # consumed once: a second click finds nothing to confirm
        return checked_send()
    return None


__all__ = ["budget_sidebar", "limit_for", "send_gate", "session_budget", "threshold"]
