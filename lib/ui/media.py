"""Streaming and edits: the controls, the live partial image, what streaming and reference
images did, the reference images of a stored attempt, and what each model takes.

Every image the app shows travels inside the session's own messages (``session_image``),
and every download is made only when its button is clicked (``session_download``):
Streamlit's ``/media/...`` URLs answer anyone who holds one, without sign-in, for as long as
the file stays in its memory (README, "Serving teammates").
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from lib import constants as C
from lib.generation import Event, GenerationRequest, Outcome
from lib.text import markdown as plain
from lib.ui.resources import get_store, thumbnail_path
from lib.ui.sections import REFERENCES_OPEN, section

MEDIA_UPLOAD_TYPES = ["png", "webp", "jpg", "jpeg"]


NO_FIDELITY = "leave out"
SESSION_IMAGE_MAX_BYTES = 2 * 1048576  # larger images go through the media endpoint rather than bloat the session's messages

_IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif", b"RIFF": "image/webp"}


def image_data_url(image: bytes | str | Path) -> str | None:
    """An image (bytes, or a file) as a ``data:`` URL, or None when it is not a known raster
    image (png, jpeg, gif, webp), cannot be read, or is over ``SESSION_IMAGE_MAX_BYTES``."""
    try:
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
    except OSError:
        return None
    if len(data) > SESSION_IMAGE_MAX_BYTES:
        return None
    mime = next((m for magic, m in _IMAGE_TYPES.items() if data.startswith(magic)), None)
    if mime is None or (mime == "image/webp" and data[8:12] != b"WEBP"):
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def preview_data_url(image: bytes | str | Path, size: int = C.SESSION_PREVIEW_PX) -> str | None:
    """A scaled-down copy of an image (at most ``size`` pixels on a side, WebP) as a ``data:``
    URL, for an image too large to travel whole; None when it cannot be read as an image.
    A stored image's preview is kept beside its thumbnails, so it is made once."""
    from lib.images import make_thumbnail, validate

    for px in (size, size // 2, C.THUMBNAIL_PX):
        data: bytes | None = None
        if not isinstance(image, bytes):
            try:
                data = get_store().keeper.thumbnail(str(image), size=px).read_bytes()
            except Exception:  # outside the images folder, or unreadable: made in memory below
                data = None
        if data is None:
            try:
                raw = image if isinstance(image, bytes) else Path(image).read_bytes()
                validate(raw)  # within the app's pixel cap before it is decoded to scale it
                data = make_thumbnail(raw, px)
            except Exception:  # not an image Pillow can read, or over the cap
                return None
        url = image_data_url(data)
        if url is not None:
            return url
    return None


def session_image(where: Any, image: bytes | str | Path, **kwargs: Any) -> str:
    """``where.image(...)`` with the image inside the session's own message (a ``data:`` URL):
    no ``/media/...`` URL exists for it, so nobody without the session can fetch it, and it
    leaves the server's memory with the message. An image over ``SESSION_IMAGE_MAX_BYTES``
    is shown as a scaled-down preview (its download stays whole); one that cannot be read
    gets a line saying so. Never the media endpoint. Returns "full", "preview" or "none"."""
    url = image_data_url(image)
    shown = "full"
    if url is None:
        url, shown = preview_data_url(image), "preview"
    if url is None:
        where.caption("This image cannot be shown here.")
        return "none"
    where.image(url, **kwargs)
    return shown


def session_download(
    where: Any,
    label: str,
    data: Callable[[], bytes | str],
    *,
    file_name: str,
    key: str,
    mime: str | None = None,
    icon: str = ":material/download:",
    **kwargs: Any,
) -> None:
    """A download button whose file is made only when it is clicked (``data`` is called then,
    outside the page's run: it must not use Streamlit). Until the click no ``/media/...`` URL
    exists; after it, Streamlit keeps the file under a URL no page shows, deleted by the
    second page run (of any session) that finishes after the click. A click does not rerun
    the page."""
    where.download_button(label, data=data, file_name=file_name, mime=mime, key=key, icon=icon, on_click="ignore", **kwargs)


def media_controls(model: str, provider: str | None = None, *, through_dialect: bool = False) -> dict[str, Any]:
    """The streaming toggle, the reference-image and mask uploaders and input_fidelity,
    offered as far as ``model`` takes them (lib/providers.py capabilities; ``through_dialect``:
    a gateway dialect file, which sends no stream). Returns the GenerationRequest fields:
    stream, partial_images, images, mask, input_fidelity."""
    from lib.generation import ReferenceImage
    from lib.providers import PRESETS, capabilities, edit_models, stream_models

    cap = capabilities(model, provider)
    streams_here = cap.streams and not through_dialect
    out: dict[str, Any] = {"stream": False, "partial_images": 2, "keep_partials": False, "images": [], "mask": None, "input_fidelity": None}
    s1, s2 = st.columns([1, 1])
    streams = s1.toggle(
        "Stream partial images",
        key="stream",
        disabled=not streams_here,
        help="Ask for rough previews while the image forms (stream: true). They are shown as they arrive and "
        "kept in memory only; the final image replaces them and is the only one saved.",
    )
    if not cap.streams:
        s1.caption(f"{plain(model)} does not stream. Models that do: {plain(', '.join(stream_models(PRESETS.get(provider or ''))))}.")
    elif through_dialect:
        s1.caption("Through a gateway dialect, requests are sent without streaming.")
    if streams and streams_here:
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

    queued = st.session_state.get("media_rerun_refs")  # from Edit this image, a re-run, or kept from before: in sight
    # Drawn once opened; kept open while it holds files (closed, its uploader would let go of them)
    box = section(
        st,
        "Reference images (edit)",
        REFERENCES_OPEN,
        keep_open=bool(st.session_state.get("ref_images") or queued),
        icon=":material/photo_library:",
    )
    if box is None:
        return out
    with box:
        if not cap.edits:
            st.caption(f"{plain(model)} cannot edit images. Models that can: {plain(', '.join(edit_models(PRESETS.get(provider or ''))))}.")
        references = _references_note(model, provider)
        st.caption(plain(references))
        uploads = (
            st.file_uploader(
                f"Reference images (png, webp or jpg; up to {min(cap.max_reference_images, C.MAX_REFERENCE_IMAGES)}, each under {C.MAX_REFERENCE_IMAGE_BYTES // 1048576} MB)",
                type=MEDIA_UPLOAD_TYPES,
                accept_multiple_files=True,
                key="ref_images",
                help=f"{plain(references)} The result is derived from them, the first one above all.",
            )
            or []
        )
        rerun_refs = st.session_state.get("media_rerun_refs")
        if not uploads and rerun_refs:
            images, mask = rerun_refs
            from_where = st.session_state.get("media_rerun_refs__note") or "From the attempt being re-run"
            st.caption(f"{from_where}: {plain(', '.join(r.filename for r in images))}" + (f", mask {plain(mask.filename)}" if mask else ""))
            with st.container(horizontal=True, key="media_queued_refs"):  # what will be sent, in sight
                for ref in images[: C.MAX_REFERENCE_IMAGES]:
                    session_image(st, ref.data, width=C.THUMBNAIL_PX // 2)
            if st.button("Don't send these", key="ref_clear_rerun"):
                st.session_state["media_rerun_refs"] = st.session_state["media_rerun_refs__note"] = None
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


def _references_note(model: str, provider: str | None) -> str:
    """What this route does with reference images (lib/providers.py), with the sidebar's gateway dialect."""
    from lib.providers import references_note, route
    from lib.ui.dialect import chosen_for

    dialect = chosen_for(provider or "")
    return references_note(route(provider, model), None if dialect is None else str(getattr(dialect, "name", "") or ""))


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
        session_image(
            cols[0], event.image, width="stretch", caption=f"{plain(event.message)}: a rough preview, the final image replaces it"
        )


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
                session_image(cols[i % len(cols)], data, width="stretch", caption=f"partial {i + 1}")


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
                session_image(st, thumb, width="stretch")
            label = "mask" if row["role"] == "mask" else f"image {row['position'] + 1}"
            st.caption(plain(f"{label}: {row['filename']} ({row['width']}x{row['height']}, {row['byte_size'] / 1024:,.0f} KB)"))


def capability_table(provider: str | None = None) -> None:
    """Media: the capability table, for Diagnostics step 6 and anywhere it helps: with a provider,
    one row per route of that provider (each with its source and what is not confirmed)."""
    from lib.providers import capability_rows

    if provider:
        st.caption("What each route of this provider takes. Pre-flight refuses what a route does not take, before sending.")
    else:
        st.caption("What each model takes (lib/providers.py). Pre-flight refuses a combination a model does not take.")
    st.dataframe(capability_rows(provider), hide_index=True, width="stretch")
