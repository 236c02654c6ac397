"""Generate: one prompt -> images, with live progress and an error card that says what to fix."""

import logging

import streamlit as st

from lib import ui
from lib.generation import GenerationRequest
from lib.providers import BACKGROUNDS, FIXED_SIZES, MODERATIONS, OUTPUT_FORMATS, QUALITIES, check_size

SLOT = "generate_job"
# --- History (issue 10): /?rerun=<attempt id> prefills the form; the monitoring banner ---
ui.prefill_rerun()
ui.alerts_banner()
# --- end History ---
settings = ui.page_settings()
history = st.session_state.setdefault("generate_history", [])

# A finished job moves from the running slot into this session's history.
job = st.session_state.get(SLOT)
if job is not None and job.done:
    ui.release_partials(job.events, keep=job.request.keep_partials)  # media (issue 12): partials live in memory only while shown
    history.insert(0, job)
    st.session_state[SLOT] = None
    job = None
running = job is not None

st.title("Generate")
st.caption("One prompt in, images out. When it fails, the card below says why and what to change.")

prompt = st.text_area("Prompt", key="prompt", height=110, placeholder="Describe the image, e.g. a lighthouse on a basalt cliff at dusk, soft fog")
model = settings.model

c1, c2, c3, c4 = st.columns(4)
size_choice = c1.selectbox("Size", [*FIXED_SIZES, "custom"], key="size_choice", help="Custom sizes: gpt-image-2 only, sides divisible by 16.")
quality = c2.selectbox("Quality", QUALITIES, key="quality")
output_format = c3.selectbox("Format", OUTPUT_FORMATS, key="output_format")
n = c4.number_input("Images", min_value=1, max_value=10, value=1, key="n")
d1, d2, d3, d4 = st.columns(4)
if size_choice == "custom":
    w = d1.number_input("Width", min_value=16, max_value=3840, value=2048, step=16, key="size_w")
    h = d1.number_input("Height", min_value=16, max_value=3840, value=1152, step=16, key="size_h")
    size = f"{int(w)}x{int(h)}"
else:
    size = size_choice
background = d2.selectbox("Background", BACKGROUNDS, key="background")
moderation = d3.selectbox("Moderation", MODERATIONS, key="moderation")
compression = None
if output_format in ("jpeg", "webp"):
    compression = d4.slider("Compression", 0, 100, 90, key="compression")

size_problem = check_size(size, model)
if size_problem:
    st.warning(size_problem)
if background == "transparent" and output_format == "jpeg":
    st.warning("A transparent background needs png or webp.")

# --- Media (issue 12): streaming partial images, reference images, mask, input_fidelity ---
media = ui.media_controls(model)
# --- end Media ---

request = GenerationRequest(
    prompt=prompt, model=model, size=size, n=int(n), quality=quality, background=background,
    output_format=output_format, output_compression=compression, moderation=moderation, **media,
)

if st.button("Generate", type="primary", key="generate", disabled=running, icon=":material/brush:"):
    ui.start_job(settings, request, SLOT)
    st.rerun()


@st.fragment(run_every=0.5)
def live_progress() -> None:
    current = st.session_state.get(SLOT)
    if current is None:
        return
    if current.done:
        st.rerun()  # the whole page, to show the result
    ui.render_partial(current.events)  # media (issue 12): the latest partial image while streaming
    ui.render_events(current.events, label=f"Generating with {current.request.model}... {current.elapsed_s:.0f} s", state="running", expanded=True)


try:
    if running:
        live_progress()
    elif history:
        last = history[0]
        outcome = last.outcome
        label = f"Done in {outcome.latency_ms / 1000:.1f} s" if outcome.ok else f"Failed: {outcome.error.info.title if outcome.error else 'unknown'}"
        ui.render_events(last.events, label=label, state="complete" if outcome.ok else "error", expanded=False)
        if outcome.images:  # also the images kept before a later one failed
            ui.result_card(outcome, key_prefix=f"res-{last.run_id}")
        ui.media_summary(outcome, last.request)  # media (issue 12): partials received, reference images sent
        ui.error_card(outcome)  # draws nothing on success
        ui.inspectors(outcome)

    if len(history) > 1 or (history and running):
        st.subheader("Earlier in this session")
        for past in history[1:] if not running else history:
            o = past.outcome
            with st.container(border=True):
                cols = st.columns([1, 5])
                thumb = ui.thumbnail_path(o.images[0].rel_path) if o.images else None
                if thumb:
                    cols[0].image(thumb, width="stretch")
                verdict = f":green[ok] in {o.latency_ms / 1000:.1f} s" if o.ok else f":red[{o.error.error_type if o.error else 'failed'}]"
                shown = ui.plain(past.request.prompt, limit=140) or "(empty prompt)"  # user text: never markup
                cols[1].markdown(f"**{shown}**  \n{ui.plain(o.model)} · {ui.plain(past.request.size)} · {verdict} · {len(o.attempts)} attempt(s)")
except Exception as exc:  # never a raw traceback
    logging.getLogger("imagelab.app").exception("generate page failed")
    ui.show_unexpected(exc)
