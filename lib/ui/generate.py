"""What the Generate page owns: starting a job, reattaching to a run by its link, recent
generations, filling the form from an attempt to re-run, and EvoLink's rehearsal on the sandbox."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.errors import StreamlitAPIException

from lib import constants as C
from lib import errors as E
from lib.generation import GenerationRequest, Outcome
from lib.providers import KNOWN_MODELS, PRESETS, REHEARSAL_KEY, is_rehearsal
from lib.store.records import outcome_from_run
from lib.text import literal
from lib.text import markdown as plain
from lib.ui.media import session_image
from lib.ui.resources import get_runner, get_sandbox, get_store, thumbnail_path
from lib.ui.sidebar import OTHER_MODEL, PageSettings

if TYPE_CHECKING:  # the job runner (and the HTTP client under it) is imported when a generation starts
    from lib.jobs import Job


OWNER_KEY = "_imagelab_session_owner"  # session state: the random id runs started in this browser session carry


def session_owner() -> str:
    """This browser session's owner id: random, made once per session (a reload is a new session).
    Never the key nor anything derived from it."""
    owner = st.session_state.get(OWNER_KEY)
    if not owner:
        owner = st.session_state[OWNER_KEY] = secrets.token_urlsafe(16)
    return owner


def session_runner():
    """The process's runner, with what this session submits belonging to this session."""
    return get_runner().as_owner(session_owner())


def start_job(settings: PageSettings, request: GenerationRequest, slot: str) -> Job | None:
    """Start a generation owned by this session. When its run cannot even be written (a full
    disk, a read-only data directory) the error card says so here, nothing is queued, and the
    form keeps everything typed: None is returned."""
    rerun_of = st.session_state.get("rerun_of")  # History: the first run after a re-run link
    from lib.jobs import JobSpec

    spec = JobSpec(
        settings=settings.client,
        request=request,
        kind="rerun" if rerun_of is not None else "generate",
        rerun_of=int(rerun_of) if rerun_of is not None else None,
        parent_run_id=st.session_state.get(PARENT_KEY),
    )
    try:
        job = session_runner().submit(spec)
    except E.ImageLabError as err:
        from lib.ui.cards import error_card

        error_card(Outcome.without_attempts(request, err, sent=False))
        return None
    st.session_state.pop("rerun_of", None)
    st.session_state.pop(PARENT_KEY, None)
    st.session_state[slot] = job
    return job


WATCH_ONLY = "Started in another browser session: you can watch it here; only that session can cancel it."


def session_right(run_owner: str | None) -> str:
    """What this session may do about a run owned by ``run_owner`` (``jobs.cancel_right``):
    owner, confirm or watch."""
    from lib.jobs import cancel_right
    from lib.ui.gate import app_password

    return cancel_right(run_owner, session_owner(), password_set=bool(app_password()))


def cancel_control(job: Job, container) -> None:
    """The Cancel button of a running generation, for whoever may stop it (``jobs.cancel_right``):
    the session that started it; with an app password, anyone signed in, after confirming;
    otherwise a note says whose it is."""
    right = session_right(job.spec.owner)
    if right == "watch":
        container.caption(WATCH_ONLY)
        return
    if right == "confirm":
        sure = container.checkbox("This is a teammate's generation: cancel it anyway", key="cancel_confirm")
        pressed = container.button("Cancel", key="cancel", icon=":material/cancel:", disabled=not sure)
    else:
        pressed = container.button("Cancel", key="cancel", icon=":material/cancel:")
    if pressed:
        job.cancel()
        job.wait(C.SHUTDOWN_GRACE_S)
        st.rerun()


GRID_CONFIRM_KEY = "compare_cancel_confirm"


def grid_right(runner, view) -> str:
    """What this session may do about a grid's unfinished cells: ``owner`` when they are all its
    own, ``watch`` when any is another session's that it may only watch, else ``confirm``.
    A cell this process does not run (the CLI's) has no session owner."""
    rights = set()
    for cell in view.cells.values():
        if not cell.done:
            job = runner.get(cell.run_id)
            rights.add(session_right(job.spec.owner if job is not None else None))
    if not rights or rights == {"owner"}:
        return "owner"
    return "watch" if "watch" in rights else "confirm"


def may_cancel_cells(right: str) -> bool:
    """Whether Compare's Cancel buttons act: for the owner, or after the confirmation is ticked."""
    return right == "owner" or (right == "confirm" and bool(st.session_state.get(GRID_CONFIRM_KEY)))


def grid_cancel_note(right: str) -> None:
    """Under Compare's buttons while a grid runs: whose it is, and the confirmation when needed."""
    if right == "watch":
        st.caption("Started in another browser session: you can watch this grid here; only that session can cancel its cells.")
    elif right == "confirm":
        st.checkbox("Not started in this session: cancel its cells anyway", key=GRID_CONFIRM_KEY)


RUN_PARAM = "run"  # /?run=<run_id>: Generate, reattached to that run
ELSEWHERE_REFRESH_S = 1.0  # a run another process runs: how often the page looks whether it ended


def running_elsewhere(run_id: str) -> bool:
    """A linked run that another process still runs (the command line, another server of the app):
    a note saying so, live until it ends, and its Cancel (a stop request through the database) for
    whoever may stop it. False, showing nothing, for any other run; a run whose process is gone is
    ended 'interrupted' first, and then shown like any finished run."""
    from lib.store.recovery import owner_alive

    if get_runner().get(run_id) is not None:
        return False
    store = get_store()
    run = store.run(run_id)
    if run is None or run.get("status") not in (None, "queued", "running"):
        return False
    if not owner_alive(run.get("owner_token"), run.get("owner_pid")):
        store.mark_interrupted()
        return False
    where = "the command line" if not run.get("owner_session") else "another server of this app"
    st.info(f"This generation runs in another process ({where}): its result shows here when it ends.", icon=":material/terminal:")
    asked = run.get("cancel_requested_at") is not None
    right = session_right(run.get("owner_session"))
    if asked:
        st.caption("Asked to stop: it stops at its next step, within a second or two.")
    elif right == "watch":
        st.caption(WATCH_ONLY)
    else:
        sure = right == "owner" or st.checkbox("Not started here: cancel it anyway", key="cancel_confirm")
        if st.button("Cancel", key="cancel", icon=":material/cancel:", disabled=not sure):
            get_runner().cancel_run(run_id)
            st.rerun()

    @st.fragment(run_every=ELSEWHERE_REFRESH_S)
    def until_it_ends() -> None:
        now = get_store().run(run_id)
        if now is None or now.get("status") not in (None, "queued", "running"):
            st.rerun()

    until_it_ends()
    return True


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


def recent_generations(current: str | None) -> str | None:
    """This browser session's recent generations, from the store (others' prompts are not shown;
    their runs open by link). Returns the run id the user chose to open, if any."""
    mine = get_store().recent_runs(limit=C.RECENT_RUNS + 1, owner_session=session_owner())  # this session's only
    runs = [r for r in mine if r.get("kind") in ("generate", "rerun") and r["id"] != current]
    if not runs:
        return None
    st.subheader("Recent generations")
    chosen = None
    for r in runs[: C.RECENT_RUNS]:
        with st.container(border=True):
            cols = st.columns([1, 4, 2])
            thumb = thumbnail_path(r.get("thumb"))
            if thumb:
                session_image(cols[0], thumb, width="stretch")
            cols[1].text(literal(r.get("prompt") or r.get("label") or "(empty prompt)", limit=160))
            status = r.get("status") or "running"
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.get("created_at") or 0))
            detail = " · ".join(
                x for x in (status, r.get("error_type") or "", r.get("model") or "", f"{r.get('image_count') or 0} image(s)", when) if x
            )
            cols[1].caption(plain(detail))
            if cols[2].button("Open", key=f"open-{r['id']}", icon=":material/open_in_new:"):
                chosen = r["id"]
            if cols[2].button("Reuse prompt and settings", key=f"reuse-{r['id']}", icon=":material/replay:"):
                send_to_generate(r["id"])
    return chosen


def rerun_base_url(store, attempt_id: int) -> str | None:
    """The base URL an attempt was sent to, as its run's settings kept it (else the attempt's
    own URL): "" when it was kept masked (it cannot be sent again), None when none is known."""
    from lib.providers import GENERATIONS_PATH
    from lib.redact import MASK

    attempt = store.attempt(attempt_id) or {}
    run = store.run(attempt.get("run_id")) if attempt.get("run_id") else None
    settings = (run or {}).get("settings")
    base_url = settings.get("base_url") if isinstance(settings, dict) else None
    if not base_url:
        url = attempt.get("url") or ""
        base_url = url[: -len(GENERATIONS_PATH)] if url.endswith(GENERATIONS_PATH) else url
    if not base_url:
        return None
    return "" if MASK in base_url else base_url


def prefill_rerun() -> int | None:
    """Generate: ``/?rerun=<attempt id>`` fills the form and the sidebar with that attempt's
    prompt, parameters, provider and model (once), and remembers which attempt it came from."""
    from lib.history import rerun_request

    raw = st.query_params.get("rerun")
    if raw is None:
        return st.session_state.get("rerun_of")
    del st.query_params["rerun"]
    found = rerun_request(get_store(), int(raw)) if raw.isdigit() and len(raw) < 13 else None
    if found is None:
        st.warning("The re-run link does not point at a recorded attempt; the form was left as it was.")
        return None
    skipped = fill_form(found)
    st.session_state["rerun_of"] = found["attempt_id"]
    st.session_state.pop(PARENT_KEY, None)
    st.info(
        f"Re-running attempt #{found['attempt_id']}: its prompt, parameters, provider, base URL and model are filled in below."
        + (f" Not restored: {', '.join(skipped)}." if skipped else ""),
        icon=":material/replay:",
    )
    return found["attempt_id"]


def fill_form(found: dict) -> list[str]:
    """Fill Generate's form and sidebar from an attempt (``history.rerun_request``): prompt,
    parameters, provider, base URL, model, streaming and the reference images of an edit (never
    the key). Returns what could not be restored."""
    from lib.providers import BACKGROUNDS, MODERATIONS, OUTPUT_FORMATS, request_limits, size_choices

    request, ss, skipped = found["request"], st.session_state, []
    from lib.ui.place import filled_by_link

    filled_by_link()  # the link's values win over the kept place
    ss["prompt"] = request.prompt
    if request.size in size_choices(request.model):
        ss["size_choice"] = request.size
    else:
        try:
            w, h = (int(v) for v in request.size.lower().split("x"))
            ss["size_choice"], ss["size_w"], ss["size_h"] = "custom", w, h  # out of range: refused on the page, not clamped
        except ValueError:
            skipped.append("size")
    for key, value, allowed in (
        ("quality", request.quality, request_limits(request.model).qualities),
        ("output_format", request.output_format, OUTPUT_FORMATS),
        ("background", request.background, BACKGROUNDS),
        ("moderation", request.moderation, MODERATIONS),
    ):
        if value in allowed:
            ss[key] = value
        else:
            skipped.append(key)
    ss["n"] = int(request.n)  # out of range: refused on the page, not clamped
    if request.output_compression is not None:
        ss["compression"] = max(0, min(int(request.output_compression), 100))
    provider = found["provider"]
    if provider in PRESETS:
        ss["provider"] = provider
        if provider != "sandbox":  # the sandbox's address is this process's own
            base_url = rerun_base_url(get_store(), found["attempt_id"])
            if base_url:
                ss[f"base_url__{provider}"] = base_url
            elif base_url is not None:
                skipped.append("base URL (it was stored masked; type it again)")
        models = list(dict.fromkeys([*PRESETS[provider].models, *KNOWN_MODELS]))
        if request.model in models:
            ss["model_choice"] = request.model
        else:
            ss["model_choice"], ss["model_custom"] = OTHER_MODEL, request.model
    else:
        skipped.append("provider")
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
        ss["media_rerun_refs__note"] = None
    except (OSError, ValueError) as err:
        ss["media_rerun_refs"] = None
        skipped.append(f"reference images ({err})")
    return skipped


PARENT_KEY = "parent_run_id"  # session state: the run whose result the next generation is made from
REUSE_PARAM = "reuse"  # /?reuse=<run id>: Generate, filled with that run's prompt and settings
EDIT_PARAM = "edit"  # /?edit=<run id>&image=<i>: ...and that run's image i as the reference image
IMAGE_PARAM = "image"
GENERATE_PAGE = "pages/generate.py"


def send_to_generate(run_id: str, *, edit_image: int | None = None) -> None:
    """Open Generate filled from a run's result: its prompt and settings ("Reuse prompt and
    settings") or, with ``edit_image``, that image as the reference of an edit ("Edit this image")."""
    params = {REUSE_PARAM: run_id} if edit_image is None else {EDIT_PARAM: run_id, IMAGE_PARAM: str(int(edit_image))}
    try:
        st.switch_page(GENERATE_PAGE, query_params=params)
    except StreamlitAPIException:  # a script run outside the app's navigation
        st.query_params.from_dict(params)
        st.rerun()


def last_attempt_of(run: dict) -> int | None:
    """The attempt a run's result came from: its last one that kept images, else its last one."""
    attempts = run.get("attempts") or []
    kept = [a for a in attempts if a.get("images")]
    chosen = (kept or attempts)[-1:] if attempts else []
    return int(chosen[0]["id"]) if chosen else None


def prefill_from_result() -> str | None:
    """Generate: ``/?reuse=<run id>`` fills the form from that run's prompt and settings;
    ``/?edit=<run id>&image=<i>`` does too and puts its image i in the reference images, ready
    for an edit prompt. Either way the next generation records that run as its parent. Returns
    the parent run id the form is filled from, if any."""
    from lib.history import rerun_request

    qp = st.query_params
    run_id, editing = qp.get(REUSE_PARAM), False
    if run_id is None and qp.get(EDIT_PARAM) is not None:
        run_id, editing = qp.get(EDIT_PARAM), True
    if run_id is None:
        return st.session_state.get(PARENT_KEY)
    raw_image = qp.get(IMAGE_PARAM) or "0"
    for name in (REUSE_PARAM, EDIT_PARAM, IMAGE_PARAM):
        if name in qp:
            del qp[name]
    store = get_store()
    run = store.run(run_id) if len(run_id) <= 64 else None
    attempt_id = last_attempt_of(run) if run else None
    found = rerun_request(store, attempt_id) if attempt_id is not None else None
    if found is None:
        st.warning("That link does not point at a recorded generation; the form was left as it was.")
        return None
    skipped = fill_form(found)
    ss = st.session_state
    ss.pop("rerun_of", None)
    ss[PARENT_KEY] = run_id
    if editing:
        index = int(raw_image) if raw_image.isdigit() and len(raw_image) < 4 else -1
        try:
            ref = store.result_reference(run_id, index)
        except (OSError, ValueError) as err:
            ref = None
            skipped.append(f"the image ({err})")
        if ref is not None:
            ss["media_rerun_refs"], ss["media_rerun_refs__note"] = ([ref], None), f"Image {index + 1} of the result being edited"
            st.info(
                f"Image {index + 1} of this result is the reference image below, with the prompt and settings that made it. "
                "Change the prompt to say what to edit, then Generate: the edit goes to the edits route.",
                icon=":material/edit:",
            )
        else:
            st.warning("This result has no such image any more; its prompt and settings are filled in, with no reference image.")
    else:
        if ss.get("media_rerun_refs"):  # the result was itself an edit: its reference images come too
            ss["media_rerun_refs__note"] = "The reference images of the result being reused"
        st.info(
            "The prompt and settings of that result are filled in below (the API key is not part of them: the one set is used).",
            icon=":material/replay:",
        )
    if skipped:
        st.caption(plain("Not restored: " + ", ".join(skipped) + "."))
    return run_id


# --------------------------------------------------------------------------
# EvoLink: how its references travel, callback_url, and a rehearsal on the sandbox's EvoLink face

EVOLINK_BASE_KEY = "base_url__evolink"  # the sidebar's Base URL field of the EvoLink provider
EVOLINK_TYPED_KEY = "typed_key__evolink"  # and its API key field


def _point_evolink_at(base_url: str, key: str) -> None:
    """Set the sidebar's EvoLink base URL (and the rehearsal's placeholder key, or none), before the sidebar is drawn."""
    st.session_state[EVOLINK_BASE_KEY] = base_url
    typed = st.session_state.get(EVOLINK_TYPED_KEY) or ""
    if (key and not typed) or (not key and typed == REHEARSAL_KEY):  # a key typed by the user is left as it is
        st.session_state[EVOLINK_TYPED_KEY] = key


def evolink_panel(settings: PageSettings) -> None:
    """On the EvoLink provider: what differs there, and one click to rehearse on the local sandbox (and back)."""
    client = settings.client
    if client.provider != "evolink":
        return
    preset = PRESETS["evolink"]
    rehearsing = is_rehearsal(client.endpoint.api_base, preset)
    with st.expander("EvoLink: references, callbacks, rehearsal", icon=":material/theater_comedy:", expanded=rehearsing):
        st.caption(
            "Sizes are a ratio with a resolution (1K, 2K, 4K), WIDTHxHEIGHT, or auto. Reference images are uploaded to "
            "EvoLink's file API first (links kept 72 hours) and sent as links in image_urls; your EvoLink key goes only "
            "to api.evolink.ai and its file host, files-api.evolink.ai. callback_url is not used: EvoLink cannot reach "
            "an app on your machine, so the app polls the task instead."
        )
        if rehearsing:
            st.success("Rehearsing: requests go to the local sandbox, which answers in EvoLink's shapes. Nothing reaches EvoLink.")
            st.button(
                "Back to EvoLink",
                key="evolink_leave_sandbox",
                icon=":material/cloud:",
                on_click=_point_evolink_at,
                args=(preset.base_url, ""),
            )
        else:
            st.button(
                "Rehearse on the sandbox",
                key="evolink_use_sandbox",
                icon=":material/science:",
                help="Point the EvoLink base URL at the local sandbox: tasks, ratio sizes, uploads and image_urls as EvoLink "
                "has them, with no key of yours sent anywhere (a placeholder key is used).",
                on_click=_point_evolink_at,
                args=(get_sandbox().evolink_base_url, REHEARSAL_KEY),
            )
