"""The settings every page shares, in the sidebar: provider, base URL, key, model, reliability
and the sandbox's behaviour; and the same settings moved to another provider (Compare)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from lib import constants as C
from lib.config import client_settings, shared_values
from lib.generation import ClientSettings, key_hint
from lib.preflight import parse_number
from lib.providers import KEY_SOURCES, KNOWN_MODELS, PRESETS, Endpoint, build_endpoint, check_model
from lib.sandbox import DIALECTS, SCENARIOS
from lib.store import DamagedDatabase
from lib.text import code_span
from lib.text import markdown as plain
from lib.ui.budget import CONFIRM_KEY, budget_sidebar
from lib.ui.cards import damaged_database_card, show_unexpected
from lib.ui.dialect import chosen_for, dialect_rehearsal, dialect_sidebar, routes_caption
from lib.ui.place import keep_place, note_run, remember_browser
from lib.ui.resources import config, get_sandbox, get_store, leave_pages_folder_mode
from lib.ui.sections import RELIABILITY_OPEN, SANDBOX_OPEN, section

SCENARIO_LABELS = {
    "healthy": "Healthy",
    "slow": "Slow (8 s)",
    "auth": "Bad key (401)",
    "permission": "No access (403)",
    "endpoint_not_found": "Wrong route (404 page)",
    "model_not_found": "Unknown model (404)",
    "fallback": "gpt-image-2 missing (fallback)",
    "bad_request": "Bad parameter (400)",
    "content_policy": "Content policy block",
    "rate_limited": "Rate limited, then fine",
    "rate_limited_always": "Rate limited (always)",
    "quota_exceeded": "Out of credits (429 quota)",
    "server_error": "Server error (502 page)",
    "timeout": "Hangs (timeout)",
    "network": "Connection dropped",
    "bad_response": "Malformed JSON",
    "invalid_image": "Not an image",
    "image_fetch_failed": "Expired image URL",
    "task_failed": "Async task fails",
    "stream_error": "Error event mid-stream",
}


assert set(SCENARIO_LABELS) == set(SCENARIOS)


OTHER_MODEL = "Other..."


DEFAULTS: dict[str, Any] = {
    "provider": "sandbox",
    "model_choice": "gpt-image-2",
    "use_fallback": True,
    "read_timeout": C.DEFAULT_READ_TIMEOUT_S,
    "max_retries": C.DEFAULT_MAX_RETRIES,
    "task_deadline": C.DEFAULT_TASK_DEADLINE_S,
    "run_deadline": C.DEFAULT_RUN_DEADLINE_S,
    "rate_per_s": C.DEFAULT_RATE_PER_S,
    "max_concurrency": C.DEFAULT_MAX_CONCURRENCY,
    "sandbox_scenario": "healthy",
    "sandbox_dialect": "b64",
    "sandbox_latency": "1-3 s (like a provider)",
}


DIALECT_LABELS = {
    "b64": "Sync, base64 (OpenAI)",
    "url": "Sync, image URL",
    "task_a": "Async task, shape A",
    "task_b": "Async task, shape B",
}


assert set(DIALECT_LABELS) == set(DIALECTS)


LATENCIES = {"1-3 s (like a provider)": None, "none": "0", "5 s": "5"}

# The Reliability section's numbers, in the order it draws them
RELIABILITY_NUMBERS = ("read_timeout", "task_deadline", "run_deadline", "max_retries", "rate_per_s", "max_concurrency")


@dataclass
class PageSettings:
    client: ClientSettings  # where and how to send
    model: str  # the model picked in the sidebar
    problems: dict[str, str] = field(default_factory=dict)  # widget key -> why its typed value cannot be used

    def refusal(self) -> str | None:
        """Why nothing may be sent with these settings (a setting typed out of its range), or None."""
        return " ".join(self.problems.values()) or None


def held_default(name: str, *, whole: bool, lo: float | None = None, hi: float | None = None) -> int | float | None:
    """The value the session holds for the number widget ``name``, as that widget's default. A
    browser that draws the widget afresh (a click made before the page's first run had finished)
    then shows the session's value, not the widget's minimum. Of the widget's own type (``whole``:
    it holds ints, else floats; Streamlit refuses a mix), within ``lo``..``hi`` when given; None
    when the session holds no value the widget can take."""
    held = st.session_state.get(name)
    if not isinstance(held, int | float) or isinstance(held, bool) or not math.isfinite(held):
        return None
    if (lo is not None and held < lo) or (hi is not None and held > hi):
        return None
    if not whole:
        return float(held)
    return int(held) if float(held).is_integer() else None


def checked_number(container: Any, label: str, name: str, problems: dict[str, str], **kwargs: Any) -> Any:
    """A number widget that keeps what was typed, with no silent clamping: the value is read
    against the field's rule in lib.preflight, and a value out of range shows the rule inline,
    goes into ``problems`` and comes back as None (so nothing is sent with it). Its default is
    the session's value (``held_default``); the step's type says whether it holds whole numbers."""
    held = held_default(name, whole=not isinstance(kwargs.get("step"), float))
    if "value" not in kwargs and held is not None:
        kwargs["value"] = held
    raw = container.number_input(label, key=name, **kwargs)
    value, problem = parse_number(name, raw)
    if problem:
        container.error(problem, icon=":material/error:")
        problems[name] = problem
    return value


SIDEBAR_PLACE = "sidebar"  # the provider settings' kept place (lib/ui/place.py); typed keys are never kept
SIDEBAR_KEPT_PREFIXES = ("base_url__", "fallbacks__", "budget__", "moderate__")
MODERATE_KEY = "moderate__{provider}"  # the check before paying, per provider (lib.client._moderation)


def init_state() -> None:
    # A reload, or another page drawn since: the provider, base URLs (a Custom one too), model and numbers come back
    note_run()
    keep_place(SIDEBAR_PLACE, [*DEFAULTS, "model_custom", CONFIRM_KEY], prefixes=SIDEBAR_KEPT_PREFIXES, every_page=True)
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    # Streamlit resets a widget's value when the same key is drawn on another page (a new widget),
    # so moving from Generate to Compare put every number in the sidebar at its minimum (a 1 s read
    # timeout). Writing the values back makes them the session's own and they survive page changes.
    for key in list(st.session_state.keys()):
        if key in DEFAULTS or key == "model_custom" or str(key).startswith(("typed_key__", "fallbacks__", "base_url__", "moderate__")):
            st.session_state[key] = st.session_state[key]


def settings_sidebar() -> PageSettings:
    """The settings every page shares, in the sidebar; kept in session state."""
    init_state()
    sb = st.sidebar
    sb.header("Settings")
    provider_ids = list(PRESETS)
    provider_id = sb.selectbox("Provider", provider_ids, format_func=lambda p: PRESETS[p].label, key="provider")
    preset = PRESETS[provider_id]
    if preset.note:
        sb.caption(preset.note)

    if provider_id == "sandbox":
        base_url = get_sandbox().base_url
    else:
        st.session_state.setdefault(f"base_url__{provider_id}", preset.base_url)
        base_url = sb.text_input(
            "Base URL",
            key=f"base_url__{provider_id}",
            placeholder="https://api.example.com/v1",
            help="Paste the host, the /v1 base, or the full .../images/generations URL.",
        )
    endpoint = build_endpoint(base_url, preset=preset if provider_id != "sandbox" else None)
    routes = sb.empty()  # where requests go: filled once the dialect is known (a dialect has routes of its own)
    for problem in endpoint.problems:
        (sb.error if problem.severity == "fail" else sb.warning if problem.severity == "warn" else sb.caption)(plain(problem.message))

    # Key: typed (session only) > secrets.toml > environment
    _keep_provider_entry(provider_id, f"typed_key__{provider_id}", "typed")  # Compare: typed keys of every provider stay
    if provider_id != "sandbox":
        typed = key_input(sb, provider_id)
    else:  # the sandbox takes any key or none: its box is with the sandbox's behaviour, below, and read here
        typed = str(st.session_state.get(f"typed_key__{provider_id}") or "")
    cfg = config()
    resolved = cfg.key_for(provider_id, base_url=base_url, typed=typed)
    st.session_state.setdefault("provider_entries", {})[provider_id] = {"typed": typed, "base_url": base_url}
    key, source = resolved.key, resolved.source
    if key:
        hint = key_hint(key)
        sb.caption(f"Key: {KEY_SOURCES[source]}" + (f" (ends in `{hint}`)" if hint else " (short key)"))
        if resolved.withheld:
            sb.error(plain(resolved.withheld), icon=":material/key_off:")
    elif preset.needs_key:
        sb.warning(f"No key: type one, or set ${preset.key_env}.")

    # Model: known ids plus free text, checked with "did you mean"
    models = list(dict.fromkeys([*preset.models, *KNOWN_MODELS]))
    choice = sb.selectbox("Model", [*models, OTHER_MODEL], key="model_choice", help="Pick a known id, or choose Other to type any id.")
    if choice == OTHER_MODEL:
        model = sb.text_input("Model id", key="model_custom", placeholder="e.g. my-gateway-model").strip()
    else:
        model = choice
    model = model or preset.default_model
    mc = check_model(model, preset)
    if not mc.known:
        (sb.error if mc.near_miss else sb.warning)(plain(mc.message))

    moderate = moderation_toggle(provider_id, endpoint)

    ss = st.session_state
    chain_key = f"fallbacks__{provider_id}"
    ss.setdefault(chain_key, [m for m in preset.fallbacks if m != model])
    problems: dict[str, str] = {}
    # Closed, the section's widgets are not drawn: their values are the session's (init_state keeps them),
    # read by the same rules; one that cannot be used opens the section, where it shows what is wrong.
    kept = {name: parse_number(name, ss.get(name)) for name in RELIABILITY_NUMBERS}
    box = section(sb, "Reliability", RELIABILITY_OPEN, keep_open=any(problem for _, problem in kept.values()))
    if box is None:
        use_fallback = bool(ss.get("use_fallback"))
        fallbacks = list(ss.get(chain_key) or [])
        read_timeout, task_deadline, run_deadline, max_retries, rate, concurrency = (kept[name][0] for name in RELIABILITY_NUMBERS)
    else:
        with box:
            use_fallback = st.checkbox("Fall back to other models", key="use_fallback")
            fallbacks = st.multiselect("Fallback chain", models, key=chain_key, disabled=not use_fallback, accept_new_options=True)
            read_timeout = checked_number(
                st,
                "Read timeout (s)",
                "read_timeout",
                problems,
                step=10.0,
                help="Image models often take 1-2 minutes; below 120 s, timeouts are likely. From 1 to 900 s.",
            )
            if read_timeout is not None and read_timeout < C.MIN_RECOMMENDED_READ_TIMEOUT_S:
                st.caption(f"Below {C.MIN_RECOMMENDED_READ_TIMEOUT_S:.0f} s, slow prompts will time out.")
            task_deadline = checked_number(
                st,
                "Task deadline (s)",
                "task_deadline",
                problems,
                step=30.0,
                help="Async gateways: a task still unfinished after this long ends as a timeout. From 10 to 3,600 s.",
            )
            run_deadline = checked_number(
                st,
                "Run deadline (s)",
                "run_deadline",
                problems,
                step=60.0,
                help="The whole generation, every retry and fallback included, stops here. From 10 to 7,200 s.",
            )
            max_retries = checked_number(st, "Retries", "max_retries", problems, step=1, help="From 0 to 6.")
            rate = checked_number(st, "Rate limit (requests/s)", "rate_per_s", problems, step=0.5, help="From 0.1 to 50.")
            concurrency = checked_number(st, "Parallel requests", "max_concurrency", problems, step=1, help="From 1 to 16.")
    budget_sidebar(provider_id, problems)  # the daily budget and the confirmation threshold
    if problems:
        sb.error("Not sent until fixed: " + " ".join(problems.values()), icon=":material/tune:")

    headers: dict[str, str] = {}
    if provider_id == "sandbox":
        scenario, dialect, latency = sandbox_behaviour(sb, provider_id)
        # The scenario header wins over #tags in the prompt: send it only for a scenario other than Healthy.
        headers = {"X-Sandbox-Dialect": dialect}
        if scenario != "healthy":
            headers["X-Sandbox-Scenario"] = scenario
        if LATENCIES[latency] is not None:
            headers["X-Sandbox-Latency"] = LATENCIES[latency]

    dialect = dialect_sidebar(sb, provider_id)  # the Custom provider's gateway dialect
    routes.caption(routes_caption(endpoint, dialect))
    client = client_settings(
        cfg,
        provider_id,
        base_url=base_url,
        key=resolved,
        # A value typed out of range is refused (problems): the defaults only fill the settings object,
        # which pages do not send while a problem stands.
        read_timeout_s=float(read_timeout if read_timeout is not None else DEFAULTS["read_timeout"]),
        task_deadline_s=float(task_deadline if task_deadline is not None else DEFAULTS["task_deadline"]),
        run_deadline_s=float(run_deadline if run_deadline is not None else DEFAULTS["run_deadline"]),
        max_retries=int(max_retries if max_retries is not None else DEFAULTS["max_retries"]),
        fallbacks=tuple(fallbacks),
        use_fallback=bool(use_fallback),
        rate_per_s=float(rate if rate is not None else DEFAULTS["rate_per_s"]),
        max_concurrency=int(concurrency if concurrency is not None else DEFAULTS["max_concurrency"]),
        extra_headers=headers,
        moderate=moderate,
        dialect=dialect,
    )
    remember_browser(sb)  # the browser's place token, for a reload
    return PageSettings(client=client, model=model, problems=problems)


def key_input(container: Any, provider_id: str, *, label: str = "API key") -> str:
    preset = PRESETS[provider_id]
    return container.text_input(
        label,
        type="password",
        key=f"typed_key__{provider_id}",
        placeholder=f"from secrets or ${preset.key_env}" if preset.needs_key else "not needed",
        help=f"Kept in this browser session only, never written anywhere. Otherwise read from .streamlit/secrets.toml or ${preset.key_env}.",
    )


SANDBOX_BEHAVIOUR = ("sandbox_scenario", "sandbox_dialect", "sandbox_latency")


def sandbox_behaviour(sb: Any, provider_id: str) -> tuple[str, str, str]:
    """What the sandbox does: its scenario, delivery and latency (returned), with the box for the key
    it is sent (any, or none; read with the other providers' keys). Folded away until opened, unless
    a behaviour other than the usual one is picked: what is being rehearsed stays in sight."""
    ss = st.session_state
    rehearsing = any(ss.get(name, DEFAULTS[name]) != DEFAULTS[name] for name in SANDBOX_BEHAVIOUR)
    box = section(sb, "Sandbox behaviour", SANDBOX_OPEN, keep_open=rehearsing)
    if box is None:
        scenario, dialect, latency = (str(ss.get(name, DEFAULTS[name])) for name in SANDBOX_BEHAVIOUR)
        return scenario, dialect, latency
    with box:
        scenario = st.selectbox("Scenario", list(SCENARIOS), format_func=SCENARIO_LABELS.get, key="sandbox_scenario")
        st.caption(SCENARIOS[scenario] + (" Lower the read timeout to see it sooner." if scenario == "timeout" else ""))
        dialect = st.selectbox(
            "Delivery",
            list(DIALECTS),
            format_func=DIALECT_LABELS.get,
            key="sandbox_dialect",
            help="How the sandbox hands back images.  \n" + "  \n".join(f"**{DIALECT_LABELS[d]}**: {text}" for d, text in DIALECTS.items()),
        )
        latency = st.selectbox("Latency", list(LATENCIES), key="sandbox_latency")
        key_input(st, provider_id, label="API key (optional)")
        dialect_rehearsal(st, get_sandbox().url)
    return scenario, dialect, latency


def page_settings() -> PageSettings:
    """Every page starts here: the shared sidebar, or a clear message if it fails."""
    leave_pages_folder_mode()
    try:
        get_store()
    except DamagedDatabase as err:  # a card naming the file and what to do; nothing written over it
        damaged_database_card(err)
        st.stop()
    try:
        return settings_sidebar()
    except Exception as exc:  # never a raw traceback
        logging.getLogger("imagelab.app").exception("settings failed")
        show_unexpected(exc)
        st.stop()
        raise  # unreachable: st.stop() ends the script


def _provider_entry(provider_id: str) -> dict[str, str]:
    """What the sidebar last resolved for a provider: Streamlit forgets a widget's
    value once it is not drawn, i.e. as soon as another provider is picked in the sidebar."""
    return st.session_state.get("provider_entries", {}).get(provider_id, {})


def _keep_provider_entry(provider_id: str, widget_key: str, field: str) -> None:
    """Put back what was typed for this provider when the sidebar shows it again."""
    value = _provider_entry(provider_id).get(field)
    if value and widget_key not in st.session_state:
        st.session_state[widget_key] = value


def client_settings_for(page: PageSettings, provider_id: str) -> ClientSettings:
    """The sidebar's settings moved to another provider: its base URL and key as
    the sidebar would resolve them (typed in this session > secrets > environment)."""

    if provider_id == page.client.provider:
        return page.client
    preset = PRESETS[provider_id]
    if provider_id == "sandbox":
        base_url = get_sandbox().base_url
    else:
        base_url = st.session_state.get(f"base_url__{provider_id}") or _provider_entry(provider_id).get("base_url") or preset.base_url
    typed = st.session_state.get(f"typed_key__{provider_id}") or _provider_entry(provider_id).get("typed", "")
    cfg = config()
    resolved = cfg.key_for(provider_id, base_url=base_url, typed=typed)
    headers = {k: v for k, v in page.client.extra_headers.items() if not k.startswith("X-Sandbox-")}
    moderate = st.session_state.get(MODERATE_KEY.format(provider=provider_id))  # None: never shown, the operator's setting
    return client_settings(
        cfg,
        provider_id,
        base_url=base_url,
        key=resolved,
        extra_headers=headers,
        moderate=moderate,
        dialect=chosen_for(provider_id),
        **shared_values(page.client),
    )


def moderation_toggle(provider_id: str, endpoint: Endpoint) -> bool:
    """The check before paying for one provider: off unless the operator's setting or this toggle turns it on."""
    from lib.client import MODERATION_MODEL, NO_ROUTE

    key = MODERATE_KEY.format(provider=provider_id)
    on, source = config().moderation.for_provider(provider_id)
    st.session_state.setdefault(key, on)
    moderate = st.sidebar.toggle(
        "Check the prompt before paying",
        key=key,
        help=f"Send the prompt and reference images to this provider's moderations route ({MODERATION_MODEL}, free at OpenAI) "
        "first; a flagged prompt stops there and no image is paid for. If the check cannot be made, the image request goes ahead."
        + (f" Default from {source}." if source else ""),
    )
    if moderate and NO_ROUTE.missing(provider_id, endpoint.api_base):
        st.sidebar.caption(f"No moderations route at `{code_span(endpoint.moderations_url)}`: prompts here are sent unchecked.")
    return bool(moderate)
