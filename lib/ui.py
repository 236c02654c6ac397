"""Shared Streamlit widgets: the settings sidebar, progress, result and error cards.

The only module under lib/ that imports Streamlit. Everything it shows comes
from lib/ objects; it holds no SQL, no HTTP and no image decoding.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from lib import constants as C
from lib import redact
from lib.config import Config, client_settings, shared_values
from lib.errors import CHECKLIST_STEPS, describe, step_of
from lib.generation import ClientSettings, Event, GenerationRequest, Outcome, RequestPreview, key_hint
from lib.jobs import Job, JobRunner, JobSpec, install_shutdown
from lib.pricing import format_usd
from lib.providers import KEY_SOURCES, KNOWN_MODELS, PRESETS, build_endpoint, check_model
from lib.sandbox import DIALECTS, SCENARIOS, SandboxServer
from lib.store import DamagedDatabase, Store, configure_logging
from lib.store.records import outcome_from_run
from lib.text import markdown as plain

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


def config() -> Config:
    """The operator's configuration: Streamlit's secrets and the environment (lib.config)."""
    return Config.load(secrets=_secrets())


# --------------------------------------------------------------------------
# Settings


@dataclass
class PageSettings:
    client: ClientSettings  # where and how to send
    model: str  # the model picked in the sidebar


def init_state() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    # Streamlit resets a widget's value when the same key is drawn on another page (a new widget),
    # so moving from Generate to Compare put every number in the sidebar at its minimum (a 1 s read
    # timeout). Writing the values back makes them the session's own and they survive page changes.
    for key in list(st.session_state.keys()):
        if key in DEFAULTS or key == "model_custom" or str(key).startswith(("typed_key__", "fallbacks__")):
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
        (sb.error if problem.severity == "fail" else sb.warning if problem.severity == "warn" else sb.caption)(plain(problem.message))

    # Key: typed (session only) > secrets.toml > environment
    _keep_provider_entry(provider_id, f"typed_key__{provider_id}", "typed")  # Compare: typed keys of every provider stay
    typed = sb.text_input(
        "API key",
        type="password",
        key=f"typed_key__{provider_id}",
        placeholder=f"from secrets or ${preset.key_env}" if preset.needs_key else "not needed",
        help=f"Kept in this browser session only, never written anywhere. Otherwise read from .streamlit/secrets.toml or ${preset.key_env}.",
    )
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

    with sb.expander("Reliability", expanded=False):
        use_fallback = st.checkbox("Fall back to other models", key="use_fallback")
        chain_key = f"fallbacks__{provider_id}"
        st.session_state.setdefault(chain_key, [m for m in preset.fallbacks if m != model])
        fallbacks = st.multiselect("Fallback chain", models, key=chain_key, disabled=not use_fallback, accept_new_options=True)
        read_timeout = st.number_input(
            "Read timeout (s)",
            min_value=1.0,
            max_value=900.0,
            step=10.0,
            key="read_timeout",
            help="Image models often take 1-2 minutes; below 120 s, timeouts are likely.",
        )
        if read_timeout < C.MIN_RECOMMENDED_READ_TIMEOUT_S:
            st.caption(f"Below {C.MIN_RECOMMENDED_READ_TIMEOUT_S:.0f} s, slow prompts will time out.")
        task_deadline = st.number_input(
            "Task deadline (s)",
            min_value=10.0,
            max_value=3600.0,
            step=30.0,
            key="task_deadline",
            help="Async gateways: a task still unfinished after this long ends as a timeout.",
        )
        run_deadline = st.number_input(
            "Run deadline (s)",
            min_value=10.0,
            max_value=7200.0,
            step=60.0,
            key="run_deadline",
            help="The whole generation, every retry and fallback included, stops here.",
        )
        max_retries = st.number_input("Retries", min_value=0, max_value=6, step=1, key="max_retries")
        rate = st.number_input("Rate limit (requests/s)", min_value=0.1, max_value=50.0, step=0.5, key="rate_per_s")
        concurrency = st.number_input("Parallel requests", min_value=1, max_value=16, step=1, key="max_concurrency")

    headers: dict[str, str] = {}
    if provider_id == "sandbox":
        with sb.expander("Sandbox behaviour", expanded=True):
            scenario = st.selectbox("Scenario", list(SCENARIOS), format_func=SCENARIO_LABELS.get, key="sandbox_scenario")
            st.caption(SCENARIOS[scenario] + (" Lower the read timeout to see it sooner." if scenario == "timeout" else ""))
            dialect = st.selectbox(
                "Delivery",
                list(DIALECTS),
                format_func=DIALECT_LABELS.get,
                key="sandbox_dialect",
                help="How the sandbox hands back images.  \n"
                + "  \n".join(f"**{DIALECT_LABELS[d]}**: {text}" for d, text in DIALECTS.items()),
            )
            latency = st.selectbox("Latency", list(LATENCIES), key="sandbox_latency")
        # The scenario header wins over #tags in the prompt: send it only for a scenario other than Healthy.
        headers = {"X-Sandbox-Dialect": dialect}
        if scenario != "healthy":
            headers["X-Sandbox-Scenario"] = scenario
        if LATENCIES[latency] is not None:
            headers["X-Sandbox-Latency"] = LATENCIES[latency]

    client = client_settings(
        cfg,
        provider_id,
        base_url=base_url,
        key=resolved,
        read_timeout_s=float(read_timeout),
        task_deadline_s=float(task_deadline),
        run_deadline_s=float(run_deadline),
        max_retries=int(max_retries),
        fallbacks=tuple(fallbacks),
        use_fallback=bool(use_fallback),
        rate_per_s=float(rate),
        max_concurrency=int(concurrency),
        extra_headers=headers,
    )
    return PageSettings(client=client, model=model)


def leave_pages_folder_mode() -> None:
    """A permalink to a page other than the default one, opened first after the server
    starts, is run by Streamlit as an old-style ``pages/`` folder app: streamlit_app.py
    (page config, st.navigation) never runs and the sidebar lists file names. Streamlit
    decides this before any script of ours runs, so the page switches it off and reruns:
    the rerun goes through st.navigation and lands on the same page."""
    global _left_pages_folder_mode
    if _left_pages_folder_mode:  # once per process is enough: st.navigation keeps it off from then on
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without it has no such mode
        return
    _left_pages_folder_mode = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_left_pages_folder_mode = False


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


# --------------------------------------------------------------------------
# Jobs


def start_job(settings: PageSettings, request: GenerationRequest, slot: str) -> Job:
    rerun_of = st.session_state.pop("rerun_of", None)  # History: the first run after a re-run link
    spec = JobSpec(
        settings=settings.client,
        request=request,
        kind="rerun" if rerun_of is not None else "generate",
        rerun_of=int(rerun_of) if rerun_of is not None else None,
    )
    job = get_runner().submit(spec)
    st.session_state[slot] = job
    return job


# --------------------------------------------------------------------------
# Rendering


# --------------------------------------------------------------------------
# Generate: reattach, finished runs from the store, recent generations (engine)

RUN_PARAM = "run"  # /?run=<run_id>: Generate, reattached to that run


def find_run(run_id: str) -> tuple[Job | None, Outcome | None, str]:
    """A run to show: a job of this process (running or recently done), else the
    stored record; with its prompt. (None, None, "") when there is no such run."""
    job = get_runner().get(run_id)
    if job is not None:
        return job, job.outcome, job.request.prompt
    store = get_store()
    run = store.run(run_id)
    if run is None:
        return None, None, ""
    return None, outcome_from_run(run, store.root), run.get("prompt") or run.get("label") or ""


def live_label(job: Job) -> str:
    ahead = job.queue_position
    if job.status == "queued" or ahead is not None:
        where = f"{ahead} ahead" if ahead else "next in line"
        return f"Queued ({where}) for {job.model_now}... {job.elapsed_s:.0f} s"
    return f"Generating with {job.model_now}... {job.elapsed_s:.0f} s"


def show_outcome(outcome: Outcome, *, key_prefix: str, prompt: str = "", request: GenerationRequest | None = None) -> None:
    """A finished run: its prompt, events, images, error card and inspectors."""
    o = outcome
    if prompt:
        st.caption("Prompt of this generation")
        st.text(redact.scrub(prompt, limit=2000))
    if o.status == "succeeded":
        label, state = f"Done in {o.latency_ms / 1000:.1f} s", "complete"
    elif o.status == "cancelled":
        label, state = "Cancelled", "error"
    elif o.status == "interrupted":
        label, state = "Interrupted: the app stopped during this generation", "error"
    else:
        label, state = f"Failed: {o.error.info.title if o.error else 'unknown'}", "error"
    render_events(o.events, label=label, state=state, expanded=False)
    if o.status == "cancelled":
        st.info(
            "You cancelled this generation. Nothing more was sent after that; the attempts so far are recorded.", icon=":material/cancel:"
        )
    if o.images:  # also the images kept before a later one failed
        result_card(o, key_prefix=key_prefix)
    if request is not None:
        media_summary(o, request)  # media: partials received, reference images sent
    error_card(o)  # draws nothing on success or cancel
    inspectors(o)


def recent_generations(current: str | None) -> str | None:
    """Recent generations from the store (not session state): a reload loses nothing.
    Returns the run id the user chose to open, if any."""
    runs = [r for r in get_store().recent_runs(limit=C.RECENT_RUNS + 1) if r.get("kind") in ("generate", "rerun") and r["id"] != current]
    if not runs:
        return None
    st.subheader("Recent generations")
    chosen = None
    for r in runs[: C.RECENT_RUNS]:
        with st.container(border=True):
            cols = st.columns([1, 5, 1])
            thumb = thumbnail_path(r.get("thumb"))
            if thumb:
                cols[0].image(thumb, width="stretch")
            cols[1].text(redact.scrub(r.get("prompt") or r.get("label") or "(empty prompt)", limit=160))
            status = r.get("status") or "running"
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.get("created_at") or 0))
            detail = " · ".join(
                x for x in (status, r.get("error_type") or "", r.get("model") or "", f"{r.get('image_count') or 0} image(s)", when) if x
            )
            cols[1].caption(plain(detail))
            if cols[2].button("Open", key=f"open-{r['id']}", icon=":material/open_in_new:"):
                chosen = r["id"]
    return chosen


def event_line(event: Event) -> str:
    icon = {
        "started": ":material/send:",
        "submitted": ":material/upload:",
        "waiting": ":material/hourglass_top:",
        "queued": ":material/schedule:",
        "polling": ":material/sync:",
        "downloading": ":material/download:",
        "saved": ":material/check:",
        "retry": ":material/replay:",
        "fallback": ":material/alt_route:",
        "skipped": ":material/skip_next:",
        "failed": ":material/error:",
        "succeeded": ":material/task_alt:",
        "accepted": ":material/schedule:",
        "cancelled": ":material/cancel:",
        "interrupted": ":material/power_settings_new:",
        "partial": ":material/blur_on:",
        "streamed": ":material/image:",
        "note": ":material/info:",
    }.get(event.kind, ":material/info:")
    return f"{icon} `{event.elapsed_s:6.1f} s` {plain(event.message)}"


def render_events(events: list[Event], *, label: str, state: str, expanded: bool) -> None:
    # Not a `with` block: leaving one would mark the status complete while the job still runs.
    box = st.status(plain(label), state=state, expanded=expanded)
    for event in list(events):
        box.markdown(event_line(event))


def result_card(outcome: Outcome, *, key_prefix: str) -> None:
    o = outcome
    hops = f" (asked for {o.requested_model})" if o.model != o.requested_model else ""
    # Two rows of two: a model id like gpt-image-1.5 stays readable on a narrow screen.
    top, bottom = st.columns([3, 2]), st.columns([3, 2])
    top[0].metric("Model used", plain(o.model), help=f"Requested: {plain(o.requested_model)}")
    top[1].metric("Latency", f"{o.latency_ms / 1000:.1f} s")
    tokens = (o.usage or {}).get("total_tokens")
    bottom[0].metric("Tokens", f"{tokens:,}" if isinstance(tokens, int) else "-", help="Usage as reported by the provider")
    bottom[1].metric("Attempts", len(o.attempts))
    first_error_note(o)
    if o.note:
        st.caption("Not everything came back:")
        st.text(redact.scrub(o.note, limit=600))
    cost, basis = run_cost(o)  # History: every attempt's stored estimate
    if cost is not None:
        st.caption(f"Estimated cost: {format_usd(cost)} ({basis}, an estimate, not a bill)")
    if hops:
        st.caption(f"Generated by {plain(o.model)}{plain(hops)}, after falling back.")
    if o.revised_prompt:
        st.caption("Revised prompt (as the provider rewrote it):")
        st.text(redact.scrub(str(o.revised_prompt)))
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
                "Download",
                data=data,
                file_name=f"{o.model}-{image.info.sha256[:10]}.{image.info.ext}",
                mime=image.info.mime,
                key=f"{key_prefix}-dl-{i}",
                icon=":material/download:",
            )


def error_card(outcome: Outcome) -> None:
    err = outcome.error
    if err is None:
        return
    card = describe(err)
    step_no = step_of(err)
    step = f"Checklist step {step_no}: {CHECKLIST_STEPS[step_no]}" if step_no else f"Area: {card['step_name']}"
    with st.container(border=True, key="error_card"):
        status = f"HTTP {card['http_status']}" if card["http_status"] else "no HTTP status"
        st.error(f"**{card['title']}**  \n`{card['error_type']}` · {status} · {step}", icon=":material/error:")
        st.markdown("**What the provider said**" if card["http_status"] else "**What happened**")
        st.code(redact.scrub(card["provider_message"] or card["message"]), language=None, wrap_lines=True)
        st.markdown(f"**How to fix it**  \n{card['fix']}")
        notes = []
        if card["param"]:
            notes.append(f"parameter: {plain(card['param'])}")
        if card.get("provider_code"):
            notes.append(f"code: {plain(card['provider_code'])}")
        if card["retry_after_s"] is not None:
            notes.append(f"provider asked to wait {card['retry_after_s']:.1f} s")
        if card["request_id"]:
            notes.append(f"request id: {plain(card['request_id'])}")
        notes.append("retried automatically" if card["retryable"] else "not retried (it would fail the same way)")
        st.caption(" · ".join(notes))
        checklist_link(err)
        first_error_note(outcome)
    if len(outcome.attempts) > 1:
        attempts_table(outcome)


def first_error_note(outcome: Outcome) -> None:
    """After a fallback, the first model's error stays visible: it is usually the real cause."""
    first = outcome.first_error
    if first is None or not outcome.attempts:
        return
    model = outcome.attempts[0].model
    st.warning(
        f"First tried {plain(model)}: {first.info.title} ({first.error_type}"
        + (f", HTTP {first.status}" if first.status else "")
        + "). The app then fell back to another model.",
        icon=":material/alt_route:",
    )
    st.code(redact.scrub(first.provider_message or first.message, limit=1000), language=None, wrap_lines=True)


def attempts_table(outcome: Outcome) -> None:
    rows = [
        {
            "#": a.attempt_no,
            "model": a.model,
            "status": a.status,
            "error": a.error_type or "",
            "HTTP": a.http_status or "",
            "latency (s)": round(a.latency_ms / 1000, 2),
            "fell back from": a.fallback_from or "",
        }
        for a in outcome.attempts
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


def inspectors(outcome: Outcome) -> None:
    preview: RequestPreview | None = outcome.preview
    if preview is not None:
        title = "What was sent" if outcome.sent else "What would have been sent (pre-flight stopped it: nothing went out)"
        with st.expander(title, icon=":material/upload:"):
            st.code(f"{preview.method} {redact.scrub(preview.url)}", language=None, wrap_lines=True)
            st.caption("Headers (the key is masked)")
            st.json(preview.headers)
            if preview.form is not None:  # an edit: files by name and size, never the bytes
                st.caption("Multipart form (files by name and size)")
                st.dataframe(preview.form, hide_index=True, width="stretch")
            else:
                st.caption("JSON body")
                st.json(preview.body)
            st.caption("The same request with curl (reads the key from your environment)")
            st.code(preview.curl, language="bash", wrap_lines=True)
    if outcome.raw_response:
        with st.expander("What came back", icon=":material/download:"):
            st.caption("The last answer, with base64 shortened to its length")
            raw = redact.scrub(outcome.raw_response)
            st.code(raw, language="json" if "{" in raw[:200] else None, wrap_lines=True)


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


# --------------------------------------------------------------------------
# Provider and user text is data, never markup


# --------------------------------------------------------------------------
# Operator settings and guards


def app_password() -> str:
    """The optional password that guards every page (lib.config); "" for none."""
    return config().app_password


def password_gate() -> bool:
    """True when the visitor may use the app. With a password set, and until it is
    given (compared in constant time, once per browser session), the only page is a
    sign-in form: ``st.navigation`` is still called, with that one page, so Streamlit
    never falls back to listing (and running) the files in pages/."""
    expected = app_password()
    if not expected:
        return True
    token = hashlib.sha256(("imagelab:" + expected).encode()).hexdigest()
    if hmac.compare_digest(str(st.session_state.get("_imagelab_signed_in", "")), token):
        return True

    def sign_in() -> None:
        st.title("Image Prompt Lab")
        st.caption("This deployment is protected by a password. Ask the person who runs it.")
        with st.form("sign_in"):
            given = st.text_input("Password", type="password", key="app_password_input")
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
                st.session_state["_imagelab_signed_in"] = token
                st.rerun()
            time.sleep(C.PASSWORD_FAIL_DELAY_S)
            st.error("That is not the password.")

    # The sign-in form answers at every page's address, so a shared permalink
    # (/history?attempt=12) opens its page right after sign-in.
    stems = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "pages").glob("*.py") if p.stem.isidentifier())
    pages = [st.Page(sign_in, title="Sign in", icon=":material/lock:", url_path="sign-in", default=True)]
    pages += [st.Page(sign_in, title="Sign in", url_path=stem) for stem in stems]
    st.navigation(pages, position="hidden").run()
    return False


def damaged_database_card(err: DamagedDatabase) -> None:
    with st.container(border=True, key="damaged_database"):
        st.error("**The database cannot be opened**", icon=":material/database:")
        st.text(err.message)


# --------------------------------------------------------------------------
# Diagnostics


def checklist_link(err) -> None:
    """A link from an error card to its step of the diagnostics checklist."""
    from lib.diagnostics import step_link

    step = step_of(err)
    if step:
        try:
            st.page_link(
                "pages/diagnostics.py",
                label=f"Open checklist step {step} in Diagnostics",
                icon=":material/checklist:",
                query_params={"step": str(step)},
            )
        except Exception:  # a script run outside the app's navigation
            st.markdown(f"[Open checklist step {step} in Diagnostics]({step_link(step)})")


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
    return client_settings(cfg, provider_id, base_url=base_url, key=resolved, extra_headers=headers, **shared_values(page.client))


def app_base_url() -> str:
    """The address this app is reached at (for absolute links in exports), or ''."""
    try:
        url = getattr(st.context, "url", None) or ""
    except Exception:
        return ""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


# --------------------------------------------------------------------------
# History: the monitoring banner, re-run prefill, cost on the result card

_alerts_cache: dict[tuple[str, float], tuple[float, list[Any]]] = {}


def alerts_banner(read_timeout_s: float | None = None) -> None:
    """A banner per alert rule that holds (lib/monitoring.py), each linking to the History view showing why."""
    from lib import monitoring

    if read_timeout_s is None:
        read_timeout_s = float(st.session_state.get("read_timeout", C.DEFAULT_READ_TIMEOUT_S))
    try:
        store = get_store()
        key = (str(store.path), float(read_timeout_s))
        cached = _alerts_cache.get(key)
        now = time.time()
        if cached and now - cached[0] < C.MONITOR_CACHE_S:
            alerts = cached[1]
        else:
            alerts = monitoring.check(store, read_timeout_s=read_timeout_s, now=now)
            _alerts_cache[key] = (now, alerts)
    except Exception:  # the banner must never take a page down
        logging.getLogger("imagelab.app").exception("monitoring check failed")
        return
    for i, alert in enumerate(alerts):
        box = st.container(key=f"alert-{alert.rule}-{i}")
        (box.error if alert.severity == "error" else box.warning)(
            f"**{plain(alert.title)}**  \n{plain(alert.message)}", icon=":material/notifications_active:"
        )
        box.page_link(
            "pages/history.py", label="Show these attempts in History", icon=":material/manage_search:", query_params=alert.params
        )


def prefill_rerun() -> int | None:
    """Generate: ``/?rerun=<attempt id>`` fills the form and the sidebar with that attempt's
    prompt, parameters, provider and model (once), and remembers which attempt it came from."""
    from lib.history import rerun_request
    from lib.providers import BACKGROUNDS, FIXED_SIZES, MODERATIONS, OUTPUT_FORMATS, QUALITIES

    raw = st.query_params.get("rerun")
    if raw is None:
        return st.session_state.get("rerun_of")
    del st.query_params["rerun"]
    found = rerun_request(get_store(), int(raw)) if raw.isdigit() and len(raw) < 13 else None
    if found is None:
        st.warning("The re-run link does not point at a recorded attempt; the form was left as it was.")
        return None
    request, ss, skipped = found["request"], st.session_state, []
    ss["prompt"] = request.prompt
    if request.size in FIXED_SIZES:
        ss["size_choice"] = request.size
    else:
        try:
            w, h = (int(v) for v in request.size.lower().split("x"))
            ss["size_choice"], ss["size_w"], ss["size_h"] = "custom", max(16, min(w, C.MAX_EDGE_PX)), max(16, min(h, C.MAX_EDGE_PX))
        except ValueError:
            skipped.append("size")
    for key, value, allowed in (
        ("quality", request.quality, QUALITIES),
        ("output_format", request.output_format, OUTPUT_FORMATS),
        ("background", request.background, BACKGROUNDS),
        ("moderation", request.moderation, MODERATIONS),
    ):
        if value in allowed:
            ss[key] = value
        else:
            skipped.append(key)
    ss["n"] = max(C.MIN_N, min(int(request.n), C.MAX_N))
    if request.output_compression is not None:
        ss["compression"] = max(0, min(int(request.output_compression), 100))
    provider = found["provider"]
    if provider in PRESETS:
        ss["provider"] = provider
        models = list(dict.fromkeys([*PRESETS[provider].models, *KNOWN_MODELS]))
        if request.model in models:
            ss["model_choice"] = request.model
        else:
            ss["model_choice"], ss["model_custom"] = OTHER_MODEL, request.model
    else:
        skipped.append("provider")
    ss["rerun_of"] = found["attempt_id"]
    # Media: a re-run of an edit sends its kept reference images again
    ss["stream"] = bool(request.stream)
    if request.stream and isinstance(request.partial_images, int):
        ss["partial_images"] = max(0, min(request.partial_images, C.MAX_PARTIAL_IMAGES))
    from lib.providers import capabilities

    if request.input_fidelity and request.input_fidelity in capabilities(request.model).input_fidelity:
        ss["input_fidelity"] = request.input_fidelity
    try:
        images, mask = get_store().reference_images(found["attempt_id"])
        ss["media_rerun_refs"] = (images, mask) if images else None
    except (OSError, ValueError) as err:
        ss["media_rerun_refs"] = None
        skipped.append(f"reference images ({err})")
    st.info(
        f"Re-running attempt #{found['attempt_id']}: its prompt, parameters, provider and model are filled in below."
        + (f" Not restored: {', '.join(skipped)}." if skipped else ""),
        icon=":material/replay:",
    )
    return found["attempt_id"]


def run_cost(outcome: Outcome) -> tuple[float | None, str]:
    """The stored estimate of a run's attempts (lib/pricing.py), summed, and its basis."""
    store = get_store()
    total, bases = 0.0, set()
    found = False
    for a in outcome.attempts:
        try:
            row = store.attempt(int(a.attempt_id))
        except (TypeError, ValueError):
            row = None
        if row and row.get("cost_usd") is not None:
            found = True
            total += row["cost_usd"]
            bases.add(row.get("cost_basis") or "")
    basis = "from usage" if bases == {"usage"} else "from size x quality" if bases == {"size_quality"} else "mixed"
    return (total if found else None), basis


# --------------------------------------------------------------------------
# Media: streaming partial images, reference images and a mask

MEDIA_UPLOAD_TYPES = ["png", "webp", "jpg", "jpeg"]
NO_FIDELITY = "leave out"


def media_controls(model: str) -> dict[str, Any]:
    """The streaming toggle, the reference-image and mask uploaders and input_fidelity,
    offered as far as ``model`` takes them (lib/providers.py capabilities). Returns the
    GenerationRequest fields: stream, partial_images, images, mask, input_fidelity."""
    from lib.generation import ReferenceImage
    from lib.providers import capabilities, edit_models, stream_models

    cap = capabilities(model)
    out: dict[str, Any] = {"stream": False, "partial_images": 2, "keep_partials": False, "images": [], "mask": None, "input_fidelity": None}
    s1, s2 = st.columns([1, 1])
    streams = s1.toggle(
        "Stream partial images",
        key="stream",
        disabled=not cap.streams,
        help="Ask for rough previews while the image forms (stream: true). They are shown as they arrive and "
        "kept in memory only; the final image replaces them and is the only one saved.",
    )
    if not cap.streams:
        s1.caption(f"{plain(model)} does not stream. Models that do: {plain(', '.join(stream_models()))}.")
    if streams and cap.streams:
        out["stream"] = True
        out["partial_images"] = int(
            s2.slider(
                "Partial images", 0, C.MAX_PARTIAL_IMAGES, 2, key="partial_images", help="0-3 previews; a fast image may come with fewer."
            )
        )
        out["keep_partials"] = bool(
            s1.checkbox(
                "Keep the partial images",
                key="keep_partials",
                help="Show them under the result for this session (in memory; they are never written to disk).",
            )
        )

    with st.expander("Reference images (edit)", icon=":material/photo_library:", expanded=bool(st.session_state.get("ref_images"))):
        if not cap.edits:
            st.caption(f"{plain(model)} cannot edit images. Models that can: {plain(', '.join(edit_models()))}.")
        st.caption("With reference images the request goes to the edits route, beside the generations route: .../v1/images/edits.")
        uploads = (
            st.file_uploader(
                f"Reference images (png, webp or jpg; up to {min(cap.max_reference_images, C.MAX_REFERENCE_IMAGES)}, each under {C.MAX_REFERENCE_IMAGE_BYTES // 1048576} MB)",
                type=MEDIA_UPLOAD_TYPES,
                accept_multiple_files=True,
                key="ref_images",
                help="With reference images the request goes to /v1/images/edits; the result is derived from them, the first one above all.",
            )
            or []
        )
        rerun_refs = st.session_state.get("media_rerun_refs")
        if not uploads and rerun_refs:
            images, mask = rerun_refs
            st.caption(
                f"From the attempt being re-run: {plain(', '.join(r.filename for r in images))}"
                + (f", mask {plain(mask.filename)}" if mask else "")
            )
            if st.button("Don't send these", key="ref_clear_rerun"):
                st.session_state["media_rerun_refs"] = None
                st.rerun()
            out["images"], out["mask"] = list(images), mask
        else:
            out["images"] = [ReferenceImage(u.name, u.getvalue()) for u in uploads]
        if out["images"] or uploads:
            mask_file = st.file_uploader(
                f"Mask (optional: a PNG with transparency, the size of the first image, under {C.MAX_MASK_BYTES // 1048576} MB)",
                type=["png"],
                key="ref_mask",
                disabled=not cap.mask,
                help="Fully transparent pixels mark where the first image may change.",
            )
            if mask_file is not None:
                out["mask"] = ReferenceImage(mask_file.name, mask_file.getvalue(), "mask")
            if cap.input_fidelity:
                choice = st.selectbox(
                    "Input fidelity",
                    [NO_FIDELITY, *cap.input_fidelity],
                    key="input_fidelity",
                    help="How closely to keep the features (faces, logos) of the reference images.",
                )
                out["input_fidelity"] = None if choice == NO_FIDELITY else choice
            else:
                st.caption(f"{plain(model)} takes no input_fidelity; it is left out.")
    return out


def compare_media_controls() -> dict[str, Any]:
    """Compare's grid-wide media options: streaming partials in every cell, and
    reference images (plus an optional mask) sent with every cell as an edit. Returns the
    GridPlan fields: stream, partial_images, references, reference_mask."""
    from lib.generation import ReferenceImage
    from lib.providers import edit_models, stream_models

    out: dict[str, Any] = {"stream": False, "partial_images": 2, "references": [], "reference_mask": None}
    with st.expander(
        "Streaming and reference images (every cell)",
        icon=":material/photo_library:",
        expanded=bool(st.session_state.get("compare_ref_images") or st.session_state.get("compare_stream")),
    ):
        s1, s2 = st.columns(2)
        if s1.toggle(
            "Stream partial images",
            key="compare_stream",
            help=f"Cells show rough previews while their image forms. Models that stream: {', '.join(stream_models())}.",
        ):
            out["stream"] = True
            out["partial_images"] = int(s2.slider("Partial images", 0, C.MAX_PARTIAL_IMAGES, 2, key="compare_partial_images"))
        uploads = (
            st.file_uploader(
                f"Reference images for every cell (png, webp or jpg; up to {C.MAX_REFERENCE_IMAGES}, each under "
                f"{C.MAX_REFERENCE_IMAGE_BYTES // 1048576} MB)",
                type=MEDIA_UPLOAD_TYPES,
                accept_multiple_files=True,
                key="compare_ref_images",
                help=f"With reference images every cell is an edit (/v1/images/edits). Models that edit: {', '.join(edit_models())}.",
            )
            or []
        )
        out["references"] = [ReferenceImage(u.name, u.getvalue()) for u in uploads]
        if uploads:
            mask_file = st.file_uploader(
                f"Mask (optional: a PNG with transparency, the size of the first image, under {C.MAX_MASK_BYTES // 1048576} MB)",
                type=["png"],
                key="compare_ref_mask",
            )
            if mask_file is not None:
                out["reference_mask"] = ReferenceImage(mask_file.name, mask_file.getvalue(), "mask")
    return out


def latest_partial(events: list[Event]) -> Event | None:
    """The newest streamed partial image among a job's events (None before the first)."""
    for event in reversed(list(events)):
        if event.kind == "partial" and event.image:
            return event
    return None


def render_partial(events: list[Event]) -> None:
    """The live view of a streamed generation: the latest partial image, replaced by the final one."""
    event = latest_partial(events)
    if event is None:
        return
    with st.container(key="partial_preview"):
        cols = st.columns([3, 2])
        cols[0].image(event.image, width="stretch", caption=f"{plain(event.message)}: a rough preview, the final image replaces it")


def release_partials(events: list[Event], *, keep: bool) -> None:
    """Drop the partial images' bytes once a job is over, unless the user asked to keep them."""
    if keep:
        return
    for event in events:
        if event.image is not None:
            event.image = None


def media_summary(outcome: Outcome, request: GenerationRequest) -> None:
    """Under the result: what streaming and the reference images did."""
    notes = []
    if request.stream:
        first = f", the first after {outcome.first_partial_ms / 1000:.1f} s" if outcome.first_partial_ms is not None else ""
        notes.append(f"Streamed: {outcome.partial_count} partial image(s){first}.")
    if request.images:
        names = ", ".join(r.filename for r in request.images)
        notes.append(
            f"Edited from {len(request.images)} reference image(s): {names}"
            + (f"; mask {request.mask.filename}" if request.mask else "")
            + "."
        )
    if notes:
        st.caption(plain(" ".join(notes)))
    if outcome.partials:
        with st.expander(f"Partial images kept ({len(outcome.partials)})"):
            cols = st.columns(min(len(outcome.partials), 4))
            for i, data in enumerate(outcome.partials):
                cols[i % len(cols)].image(data, width="stretch", caption=f"partial {i + 1}")


def attempt_media(attempt: dict[str, Any]) -> None:
    """For History's attempt detail: first-partial latency and the reference images sent.

    ``attempt`` is a row from ``Store.attempt`` (it carries ``inputs``)."""
    if attempt.get("first_partial_ms") is not None:
        st.caption(
            f"First partial image after {attempt['first_partial_ms'] / 1000:.2f} s (whole request {((attempt.get('latency_ms') or 0) / 1000):.2f} s)."
        )
    inputs = attempt.get("inputs")
    if inputs is None and attempt.get("id") is not None:
        inputs = get_store().attempt_inputs(attempt["id"])
    if not inputs:
        return
    st.caption("Reference images sent with this edit")
    cols = st.columns(min(len(inputs), 6))
    for i, row in enumerate(inputs):
        thumb = thumbnail_path(row["path"])
        with cols[i % len(cols)]:
            if thumb:
                st.image(thumb, width="stretch")
            label = "mask" if row["role"] == "mask" else f"image {row['position'] + 1}"
            st.caption(plain(f"{label}: {row['filename']} ({row['width']}x{row['height']}, {row['byte_size'] / 1024:,.0f} KB)"))


def capability_table() -> None:
    """Media: the model capability table, for Diagnostics step 6 and anywhere it helps."""
    from lib.providers import capability_rows

    st.caption("What each model takes (lib/providers.py). Pre-flight refuses a combination a model does not take.")
    st.dataframe(capability_rows(), hide_index=True, width="stretch")
