"""Generate: one prompt -> images, with live progress and an error card that says what to fix."""

import streamlit as st

from lib import ui
from lib.generation import GenerationRequest
from lib.preflight import check_request_values
from lib.providers import MODERATIONS, OUTPUT_FORMATS, capabilities, request_limits, size_choices, size_rule, takes_free_size
from lib.ui.budget import send_gate
from lib.ui.checks import checks_choice, remember_run_checks, run_checks_section
from lib.ui.generate import cancel_control, running_elsewhere
from lib.ui.library import save_control
from lib.ui.place import GENERATE_VALUES
from lib.ui.sidebar import checked_number, held_default

SLOT = "generate_job"
# History: /?rerun=<attempt id>, and a result's /?reuse= or /?edit= link, prefill the form (and win over the kept one);
# the monitoring banner
rerun_link = any(name in st.query_params for name in ("rerun", ui.REUSE_PARAM, ui.EDIT_PARAM))
ui.prefill_rerun()
ui.prefill_from_result()  # Reuse prompt and settings, Edit this image: from a result on any page
ui.alerts_banner()
settings = ui.page_settings()
# the form, and what the next generation is made from, survive another page and a reload (lib/ui/place.py)
ui.keep_place("generate", ui.GENERATE_INPUTS, values=GENERATE_VALUES, restore=not rerun_link)

# The running job lives in session state and, for a reload or a shared link, in the
# URL (/?run=<run_id>): a reload reattaches to it, or shows its finished result.
linked = st.query_params.get(ui.RUN_PARAM)
job = st.session_state.get(SLOT)
if job is None and linked:
    found = ui.get_runner().get(linked)
    if found is not None and not found.done:
        job = st.session_state[SLOT] = found  # reattach
if job is not None and job.done:
    ui.release_partials(job.events, keep=job.request.keep_partials)  # media: partials live in memory only while shown
    st.session_state[SLOT] = None
    job = None
running = job is not None
shown = job.run_id if running else linked

st.title("Generate")
st.caption("One prompt in, images out. When it fails, the card below says why and what to change.")

prompt = st.text_area(
    "Prompt", key="prompt", height=110, placeholder="Describe the image, e.g. a lighthouse on a basalt cliff at dusk, soft fog"
)
save_spot = st.container()  # library: "Save to library" by the prompt, filled in once the request is read
model = settings.model

typed = dict(settings.problems)  # numbers typed out of range: shown inline, and nothing is sent
provider = settings.client.provider
sizes = [*size_choices(model, provider), *(["custom"] if takes_free_size(model, provider) else [])]
qualities = list(request_limits(model, provider).qualities)
backgrounds = list(capabilities(model, provider).backgrounds)  # the route's: EvoLink takes no background parameter
for widget, options, what in (("size_choice", sizes, "size"), ("quality", qualities, "quality"), ("background", backgrounds, "background")):
    chosen = st.session_state.get(widget)
    if chosen is not None and chosen not in options:  # another model was picked: say so, do not switch silently
        takes = ", ".join(o for o in options if o != "custom")
        st.info(ui.plain(f"{model} does not take {what} '{chosen}'; it takes {takes}. Pick one below."))
        st.session_state[widget] = options[0]

c1, c2, c3, c4 = st.columns(4)
size_choice = c1.selectbox(
    "Size",
    sizes,
    key="size_choice",
    help="Custom sizes (gpt-image-2): both sides multiples of 16, 655,360 to 8,294,400 pixels, no side over 3,840, "
    "long side at most 3 times the short one.",
)
quality = c2.selectbox("Quality", qualities, key="quality")
output_format = c3.selectbox("Format", OUTPUT_FORMATS, key="output_format")
for widget, default in (("n", 1), ("size_w", 2048), ("size_h", 1152), ("compression", 90)):
    st.session_state.setdefault(widget, default)  # a re-run may have set them: no second default on the widget
n = checked_number(c4, "Images", "n", typed, step=1, help=f"From 1 to {request_limits(model, provider).max_n} on this route.")
if size_choice == "custom":
    w_col, h_col = st.columns(2)
    w = checked_number(w_col, "Width", "size_w", typed, step=16)
    h = checked_number(h_col, "Height", "size_h", typed, step=16)
    size = f"{w}x{h}" if w is not None and h is not None else ""
else:
    size = size_choice
rule = size_rule(model, provider)  # a ratio size goes with a resolution word on the routes that take one
resolution = (
    st.selectbox("Resolution", rule.resolutions, key="resolution", help="1K is about 1 MP, 2K about 4 MP, 4K up to 8.29 MP.")
    if size in rule.ratios
    else None
)
ui.evolink_panel(settings)  # EvoLink: image_urls, callback_url, a rehearsal on the sandbox
with_compression = output_format in ("jpeg", "webp")
d = st.columns(3 if with_compression else 2)
background = d[0].selectbox("Background", backgrounds, key="background")
moderation = d[1].selectbox("Moderation", MODERATIONS, key="moderation")
held = held_default("compression", whole=True, lo=0, hi=100)
compression = d[2].slider("Compression", 0, 100, value=held, key="compression") if with_compression else None

# Media: streaming partial images, reference images, mask, input_fidelity
ui.keep_references("ref_images", "ref_mask", page="generate")  # reference images survive another page and a reload
media = ui.media_controls(model, provider, through_dialect=settings.client.dialect is not None)

request = GenerationRequest(
    prompt=prompt,
    model=model,
    size=size,
    resolution=resolution,
    n=n if n is not None else 1,
    quality=quality,
    background=background,
    output_format=output_format,
    output_compression=compression,
    moderation=moderation,
    **media,
)

save_control(save_spot, prompt, {"model": model, **request.params()})
checks = checks_choice("gen", images=request.n, size=size, persist="session")  # opt-in; made once the images are saved

# What the model does not take (size, n, quality, prompt length...), by the rules pre-flight applies
problem = None if typed else check_request_values(request, model, provider)
if problem and (problem[1] != "prompt" or prompt):
    st.warning(ui.plain(problem[0]))
if background == "transparent" and output_format == "jpeg":
    st.warning("A transparent background needs png or webp.")
if typed:
    st.error("Not sent until fixed: " + " ".join(typed.values()), icon=":material/error:")
if checks.problem:
    st.error("Not sent until fixed: " + checks.problem, icon=":material/fact_check:")
blocked = bool(typed) or bool(checks.problem)

buttons = st.container(horizontal=True)  # buttons side by side, never squeezed into narrow columns
clicked = buttons.button(
    "Generate", type="primary", key="generate", disabled=running or blocked, icon=":material/brush:", shortcut="Ctrl+Enter"
)
if running:
    cancel_control(job, buttons)  # the owner's (or, with an app password, a confirmed teammate's)


def send():
    started = ui.start_job(settings, request, SLOT)  # None: it could not start, and the card says why
    if started is not None:
        st.query_params[ui.RUN_PARAM] = started.run_id
        remember_run_checks(started.run_id, checks, lambda _provider: settings.client)
    return started


# The estimate, today's spend, the confirmation above the threshold, the refusal over the budget
if send_gate("generate", [(settings.client.provider, request)], clicked, send, disabled=running or blocked) is not None:
    st.rerun()


@st.fragment(run_every=0.5)
def live_progress() -> None:
    current = st.session_state.get(SLOT)
    if current is None:
        return
    if current.done:
        st.rerun()  # the whole page, to show the result
    ui.render_partial(current.events)  # media: the latest partial image while streaming
    ui.render_events(current.events, label=ui.live_label(current), state="running", expanded=True)


if running:
    live_progress()
elif shown and not running_elsewhere(shown):  # another process's run (the CLI): a note and its Cancel instead
    found, outcome, shown_prompt = ui.find_run(shown)
    if outcome is not None:
        ui.show_outcome(outcome, key_prefix=f"res-{shown}", prompt=shown_prompt, request=found.request if found is not None else None)
        if outcome.images:
            run_checks_section(shown, settings.client.provider)
    elif found is None:
        st.info("No generation with this link was found in this app's database.", icon=":material/link_off:")
opened = ui.recent_generations(shown)
if opened:
    st.query_params[ui.RUN_PARAM] = opened
    st.rerun()
