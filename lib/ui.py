"""Shared Streamlit widgets: the settings sidebar, progress, result and error cards.

The only module under lib/ that imports Streamlit. Everything it shows comes
from lib/ objects; it holds no SQL, no HTTP and no image decoding.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from lib import constants as C
from lib.generation import ClientSettings, Event, GenerationRequest, Outcome, RequestPreview, key_hint
from lib.errors import describe
from lib.jobs import Job, JobRunner, JobSpec, install_shutdown
from lib.providers import KEY_SOURCES, KNOWN_MODELS, PRESETS, build_endpoint, check_model, resolve_key
from lib.sandbox import DIALECTS, SCENARIOS, SandboxServer
from lib.store import Store, configure_logging

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
}
assert set(SCENARIO_LABELS) == set(SCENARIOS)

OTHER_MODEL = "Other..."
DEFAULTS: dict[str, Any] = {
    "provider": "sandbox",
    "model_choice": "gpt-image-2",
    "use_fallback": True,
    "read_timeout": C.DEFAULT_READ_TIMEOUT_S,
    "max_retries": C.DEFAULT_MAX_RETRIES,
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


# --------------------------------------------------------------------------
# Process-wide resources


@st.cache_resource(show_spinner=False)
def get_store() -> Store:
    store = Store()
    configure_logging(store.root)
    return store


@st.cache_resource(show_spinner="Starting the local sandbox...")
def get_sandbox() -> SandboxServer:
    """The sandbox, started once per server process, on first use."""
    return SandboxServer().start()


def get_runner() -> JobRunner:
    """One runner (and one set of provider limiters) per server process and database."""
    return _runner_for(str(get_store().path))


@st.cache_resource(show_spinner=False)
def _runner_for(db_path: str) -> JobRunner:
    store = get_store()
    runner = JobRunner(recorder=store, keeper=store.keeper)
    install_shutdown(runner)
    return runner


def _secrets() -> dict[str, Any]:
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets.toml, or an unreadable one
        return {}


# --------------------------------------------------------------------------
# Settings


@dataclass
class PageSettings:
    client: ClientSettings  # where and how to send
    model: str  # the model picked in the sidebar


def init_state() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


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
        base_url = sb.text_input(
            "Base URL",
            value=preset.base_url,
            key=f"base_url__{provider_id}",
            placeholder="https://api.example.com/v1",
            help="Paste the host, the /v1 base, or the full .../images/generations URL.",
        )
    endpoint = build_endpoint(base_url, preset=preset if provider_id != "sandbox" else None)
    sb.caption("Requests go to")
    sb.code(endpoint.url or "(no endpoint yet)", language=None, wrap_lines=True)
    for problem in endpoint.problems:
        (sb.error if problem.severity == "fail" else sb.warning if problem.severity == "warn" else sb.caption)(problem.message)

    # Key: typed (session only) > secrets.toml > environment
    typed = sb.text_input(
        "API key",
        type="password",
        key=f"typed_key__{provider_id}",
        placeholder=f"from secrets or ${preset.key_env}" if preset.needs_key else "not needed",
        help=f"Kept in this browser session only, never written anywhere. Otherwise read from .streamlit/secrets.toml or ${preset.key_env}.",
    )
    key, source = resolve_key(preset, typed=typed, secrets=_secrets(), environ=os.environ)
    if key:
        hint = key_hint(key)
        sb.caption(f"Key: {KEY_SOURCES[source]}" + (f" (ends in `{hint}`)" if hint else " (short key)"))
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
        (sb.error if mc.near_miss else sb.warning)(mc.message)

    with sb.expander("Reliability", expanded=False):
        use_fallback = st.checkbox("Fall back to other models", key="use_fallback")
        chain_key = f"fallbacks__{provider_id}"
        st.session_state.setdefault(chain_key, [m for m in preset.fallbacks if m != model])
        fallbacks = st.multiselect("Fallback chain", models, key=chain_key, disabled=not use_fallback, accept_new_options=True)
        read_timeout = st.number_input(
            "Read timeout (s)", min_value=1.0, max_value=900.0, step=10.0, key="read_timeout",
            help="Image models often take 1-2 minutes; below 120 s, timeouts are likely.",
        )
        if read_timeout < C.MIN_RECOMMENDED_READ_TIMEOUT_S:
            st.caption(f"Below {C.MIN_RECOMMENDED_READ_TIMEOUT_S:.0f} s, slow prompts will time out.")
        max_retries = st.number_input("Retries", min_value=0, max_value=6, step=1, key="max_retries")
        rate = st.number_input("Rate limit (requests/s)", min_value=0.1, max_value=50.0, step=0.5, key="rate_per_s")
        concurrency = st.number_input("Parallel requests", min_value=1, max_value=16, step=1, key="max_concurrency")

    headers: dict[str, str] = {}
    if provider_id == "sandbox":
        with sb.expander("Sandbox behaviour", expanded=True):
            scenario = st.selectbox("Scenario", list(SCENARIOS), format_func=SCENARIO_LABELS.get, key="sandbox_scenario")
            st.caption(SCENARIOS[scenario] + (" Lower the read timeout to see it sooner." if scenario == "timeout" else ""))
            dialect = st.selectbox("Delivery", list(DIALECTS), format_func=DIALECT_LABELS.get, key="sandbox_dialect", help="How the sandbox hands back images.  \n" + "  \n".join(f"**{DIALECT_LABELS[d]}**: {text}" for d, text in DIALECTS.items()))
            latency = st.selectbox("Latency", list(LATENCIES), key="sandbox_latency")
        headers = {"X-Sandbox-Scenario": scenario, "X-Sandbox-Dialect": dialect}
        if LATENCIES[latency] is not None:
            headers["X-Sandbox-Latency"] = LATENCIES[latency]

    client = ClientSettings(
        provider=provider_id,
        base_url=base_url,
        api_key=key,
        key_source=source,
        read_timeout_s=float(read_timeout),
        max_retries=int(max_retries),
        fallbacks=tuple(fallbacks),
        use_fallback=bool(use_fallback),
        rate_per_s=float(rate),
        max_concurrency=int(concurrency),
        extra_headers=headers,
    )
    return PageSettings(client=client, model=model)


def page_settings() -> PageSettings:
    """Every page starts here: the shared sidebar, or a clear message if it fails."""
    try:
        return settings_sidebar()
    except Exception as exc:  # never a raw traceback
        logging.getLogger("imagelab.app").exception("settings failed")
        show_unexpected(exc)
        st.stop()
        raise  # unreachable: st.stop() ends the script


# --------------------------------------------------------------------------
# Jobs


def start_job(settings: PageSettings, request: GenerationRequest, slot: str) -> Job:
    job = get_runner().submit(JobSpec(settings=settings.client, request=request))
    st.session_state[slot] = job
    return job


# --------------------------------------------------------------------------
# Rendering


def event_line(event: Event) -> str:
    icon = {
        "started": ":material/send:", "submitted": ":material/upload:", "waiting": ":material/hourglass_top:",
        "queued": ":material/schedule:", "polling": ":material/sync:", "downloading": ":material/download:",
        "saved": ":material/check:", "retry": ":material/replay:", "fallback": ":material/alt_route:",
        "skipped": ":material/skip_next:", "failed": ":material/error:", "succeeded": ":material/task_alt:",
    }.get(event.kind, ":material/info:")
    return f"{icon} `{event.elapsed_s:6.1f} s` {event.message}"


def render_events(events: list[Event], *, label: str, state: str, expanded: bool) -> None:
    # Not a `with` block: leaving one would mark the status complete while the job still runs.
    box = st.status(label, state=state, expanded=expanded)
    for event in list(events):
        box.markdown(event_line(event))


def result_card(outcome: Outcome, *, key_prefix: str) -> None:
    o = outcome
    hops = f" (asked for {o.requested_model})" if o.model != o.requested_model else ""
    cols = st.columns(4)
    cols[0].metric("Model used", o.model, help=f"Requested: {o.requested_model}")
    cols[1].metric("Latency", f"{o.latency_ms / 1000:.1f} s")
    cols[2].metric("Attempts", len(o.attempts))
    tokens = (o.usage or {}).get("total_tokens")
    cols[3].metric("Tokens", f"{tokens:,}" if isinstance(tokens, int) else "-", help="Usage as reported by the provider")
    if hops:
        st.caption(f"Generated by {o.model}{hops}, after falling back.")
    if o.revised_prompt:
        st.caption(f"Revised prompt: {o.revised_prompt}")
    count = len(o.images)
    columns = st.columns([3, 2]) if count == 1 else st.columns(min(count, 3))
    if count == 1:
        columns = columns[:1]  # one image: two thirds of the width, not a wall of pixels
    for i, image in enumerate(o.images):
        with columns[i % len(columns)]:
            if image.path and Path(image.path).is_file():
                st.image(image.path, width="stretch", output_format="PNG" if image.info.format == "PNG" else "auto")
                data = Path(image.path).read_bytes()
            else:
                data = image.data or b""
                st.image(data, width="stretch")
            st.caption(f"{image.info.width}x{image.info.height} {image.info.format}, {image.info.byte_size / 1024:,.0f} KB")
            st.download_button(
                "Download", data=data, file_name=f"{o.model}-{image.info.sha256[:10]}.{image.info.ext}",
                mime=image.info.mime, key=f"{key_prefix}-dl-{i}", icon=":material/download:",
            )


def error_card(outcome: Outcome) -> None:
    err = outcome.error
    if err is None:
        return
    card = describe(err)
    step = f"Checklist step {card['step']}: {card['step_name']}" if card["step"] else f"Area: {card['step_name']}"
    with st.container(border=True, key="error_card"):
        status = f"HTTP {card['http_status']}" if card["http_status"] else "no HTTP status"
        st.error(f"**{card['title']}**  \n`{card['error_type']}` · {status} · {step}", icon=":material/error:")
        st.markdown("**What the provider said**" if card["http_status"] else "**What happened**")
        st.code(card["provider_message"] or card["message"], language=None, wrap_lines=True)
        st.markdown(f"**How to fix it**  \n{card['fix']}")
        notes = []
        if card["param"]:
            notes.append(f"parameter: `{card['param']}`")
        if card["code"]:
            notes.append(f"code: `{card['code']}`")
        if card["retry_after_s"] is not None:
            notes.append(f"provider asked to wait {card['retry_after_s']:.1f} s")
        if card["request_id"]:
            notes.append(f"request id: `{card['request_id']}`")
        notes.append("retried automatically" if card["retryable"] else "not retried (it would fail the same way)")
        st.caption(" · ".join(notes))
    if len(outcome.attempts) > 1:
        attempts_table(outcome)


def attempts_table(outcome: Outcome) -> None:
    rows = [
        {
            "#": a.attempt_no, "model": a.model, "status": a.status, "error": a.error_type or "",
            "HTTP": a.http_status or "", "latency (s)": round(a.latency_ms / 1000, 2), "fell back from": a.fallback_from or "",
        }
        for a in outcome.attempts
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


def inspectors(outcome: Outcome) -> None:
    preview: RequestPreview | None = outcome.preview
    if preview is not None:
        with st.expander("What was sent", icon=":material/upload:"):
            st.markdown(f"`{preview.method}` `{preview.url}`")
            st.caption("Headers (the key is masked)")
            st.json(preview.headers)
            st.caption("JSON body")
            st.json(preview.body)
            st.caption("The same request with curl (reads the key from your environment)")
            st.code(preview.curl, language="bash", wrap_lines=True)
    if outcome.raw_response:
        with st.expander("What came back", icon=":material/download:"):
            st.caption("The last answer, with base64 shortened to its length")
            st.code(outcome.raw_response, language="json" if "{" in outcome.raw_response[:200] else None, wrap_lines=True)


def thumbnail_path(rel_path: str | None) -> str | None:
    if not rel_path:
        return None
    try:
        return str(get_store().keeper.thumbnail(rel_path))
    except (OSError, ValueError):
        return None


def show_unexpected(exc: BaseException) -> None:
    """A last-resort card for a page that failed: never a raw traceback."""
    st.error(
        f"**Something went wrong on this page** ({type(exc).__name__}). Your data is safe; the details are in "
        "logs/imagelab.log in the data directory. Reload the page to continue.",
        icon=":material/error:",
    )
