"""The prompt library's widgets: "Save to library" by Generate's prompt, the Library page
(search, a prompt's versions side by side with the word diff and their results), and the
way prompts reach Compare's builder (rows from the library, "Edit and re-run").

The rules are ``lib.library``'s, the rows ``lib.store.prompts``'; this module only draws.
Compare's builder inputs are written here (``fill_builder``, ``add_rows``): by the library and by
"Edit and re-run"; the builder's widgets keep them across pages (``persist_state="session"``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib import library as L
from lib.history import when
from lib.text import html as html_text
from lib.text import literal
from lib.text import markdown as plain
from lib.ui.media import session_image
from lib.ui.place import COMPARE_PLACE, put_in_place
from lib.ui.resources import get_store, thumbnail_path

COMPARE_PAGE = "pages/compare.py"
GENERATE_PAGE = "pages/generate.py"
# Compare's builder: widget keys and the GridPlan.builder_values() field each one shows
BUILDER_FIELDS = {
    "compare_rows_mode": "rows_mode",
    "compare_template": "template",
    "compare_vars": "vars",
    "compare_prompts": "prompts",
    "compare_targets": "targets",
    "compare_vary": "vary",
    "compare_vary_values": "vary_values",
    "compare_size": "size",
    "compare_quality": "quality",
    "compare_format": "output_format",
    "compare_background": "background",
    "compare_moderation": "moderation",
    "compare_n": "n",
    "compare_fallback": "fallback",
    "compare_title": "title",
    "compare_repeats": "repeats",
}
NO_VARY = "(nothing)"
RESULTS_SHOWN = 4  # thumbnails per version
ANY_TAG = "(any tag)"


def fill_builder(values: dict[str, Any], *, options: dict[str, list[Any]] | None = None) -> list[str]:
    """Set Compare's builder inputs from ``GridPlan.builder_values()``. A value a select box does
    not offer (``options``: widget key -> its choices) is left as it was; returns what was left."""
    left: list[str] = []
    for key, name in BUILDER_FIELDS.items():
        if name not in values:
            continue
        value = values[name]
        if key == "compare_vary":
            value = value or NO_VARY
        allowed = (options or {}).get(key)
        if allowed is not None and value not in allowed:
            left.append(f"{name} {value}")
            continue
        st.session_state[key] = value
    return left


def add_rows(texts: list[str]) -> int:
    """Append prompts to Compare's rows (one per line, switching the builder to prompts per line);
    a prompt already there is not added twice. Returns how many were added."""
    ss = st.session_state
    present = [line.strip() for line in (ss.get("compare_prompts") or "").splitlines() if line.strip()]
    if ss.get("compare_rows_mode") == "Template":
        present = []  # the template's rows are replaced by prompts
    added = [row for row in dict.fromkeys(L.as_row(t) for t in texts) if row and row not in present]
    put_in_place(COMPARE_PLACE, {"compare_rows_mode": "One prompt per line", "compare_prompts": "\n".join([*present, *added])})
    return len(added)


# --------------------------------------------------------------------------
# Saving from Generate


def save_control(where: Any, text: str, settings: dict[str, Any] | None = None) -> None:
    """ "Save to library" by the prompt: a name and tags; saving the same text again makes no version."""
    pop = where.popover("Save to library", icon=":material/bookmark_add:")
    name = pop.text_input("Name", key="library_save_name", placeholder="e.g. Neon sign, poster")
    tags = pop.text_input("Tags (optional)", key="library_save_tags", placeholder="comma-separated, e.g. poster, neon")
    if not pop.button("Save", key="library_save", type="primary", icon=":material/save:"):
        return
    try:
        saved = get_store().save_prompt(name, text, tags=tags if tags.strip() else None, settings=settings)
    except L.LibraryError as err:
        where.error(str(err), icon=":material/edit_note:")
        return
    if saved["created"]:
        where.success(plain(f"Saved to the library as {saved['name']}, version {saved['version']}."), icon=":material/bookmark:")
    else:
        where.info(
            plain(f"{saved['name']}: this text is already its version {saved['version']}, so no new version was made."),
            icon=":material/bookmark:",
        )


# --------------------------------------------------------------------------
# The Library page


def diff_html(segments: list[L.Segment]) -> str:
    """The word diff as HTML: added words underlined in green, removed ones struck through in red (a little
    apart from the words that replace them)."""
    parts = []
    for seg in segments:
        text = html_text(literal(seg.text)).replace("\n", "<br>")
        if seg.op == "added":
            parts.append(f'<ins style="background:#d8f5dd;color:#0b5d1e">{text}</ins>')
        elif seg.op == "removed":
            parts.append(f'<del style="background:#fbe0e0;color:#8a1010;margin-right:.25em">{text}</del>')
        else:
            parts.append(f"<span>{text}</span>")
    return '<div class="imagelab-diff" style="line-height:1.6;white-space:normal">' + "".join(parts) + "</div>"


def _version_label(v: dict[str, Any]) -> str:
    return f"v{v['version']} · {when(v['created_at'])} UTC"


def _version_column(col: Any, prompt: dict[str, Any], version: dict[str, Any], side: str) -> None:
    col.markdown(f"**{side}: version {version['version']}**")
    col.caption(f"Saved {when(version['created_at'])} UTC")
    col.code(literal(version["text"]), language=None, wrap_lines=True)
    if version.get("settings"):
        col.caption(plain(" · ".join(f"{k} {v}" for k, v in version["settings"].items())))
    results = get_store().results_for_text(version["text"], limit=RESULTS_SHOWN)
    if not results:
        col.caption("No results with this exact text yet.")
        return
    col.caption(f"Latest {len(results)} result{'s' if len(results) != 1 else ''} with this text")
    thumbs = col.columns(2)
    for i, r in enumerate(results):
        spot = thumbs[i % 2]
        thumb = thumbnail_path(r["path"])
        if thumb:
            session_image(spot, thumb, width="stretch")
        spot.caption(plain(f"{r['model']} @ {r['provider']} · {when(r['started_at'])}"))
        spot.page_link("pages/history.py", label="In History", icon=":material/manage_search:", query_params={"attempt": str(r["id"])})


def library_page() -> None:
    ss = st.session_state
    store = get_store()
    st.title("Library")
    st.caption(
        "Prompts saved from Generate, each save of a changed text a new version. Pick two versions to see what changed "
        "and what each one produced; send any of them to Generate or as rows to Compare."
    )
    s1, s2 = st.columns([3, 1])
    search = s1.text_input("Search", key="library_search", placeholder="a name or any words of any version")
    tags = [ANY_TAG, *(t for t, _ in store.prompt_tags())]
    if ss.get("library_tag") not in tags:
        ss["library_tag"] = ANY_TAG
    tag = s2.selectbox("Tag", tags, key="library_tag")
    found = store.prompts(search=search, tag="" if tag == ANY_TAG else tag)
    if not found:
        if search or tag != ANY_TAG:
            st.info("No saved prompt matches. Clear the search or the tag to see them all.", icon=":material/search_off:")
        else:
            st.info("The library is empty. On Generate, write a prompt and use Save to library.", icon=":material/bookmark:")
        return
    by_id = {p["id"]: p for p in found}
    if ss.get("library_prompt") not in by_id:
        ss["library_prompt"] = found[0]["id"]
    chosen = st.selectbox(
        "Prompt",
        list(by_id),
        key="library_prompt",
        format_func=lambda i: (
            f"{by_id[i]['name']} ({by_id[i]['versions']} version{'s' if by_id[i]['versions'] != 1 else ''})"
            + (f" · {', '.join(by_id[i]['tags'])}" if by_id[i]["tags"] else "")
        ),
    )
    prompt = by_id[chosen]
    versions = store.prompt_versions(prompt["id"])
    if not versions:
        st.warning("This prompt has no versions.")
        return
    numbers = [v["version"] for v in versions]
    keys = (f"library_a_{prompt['id']}", f"library_b_{prompt['id']}")
    if ss.get(keys[0]) not in numbers:
        ss[keys[0]] = numbers[-2] if len(numbers) > 1 else numbers[-1]
    if ss.get(keys[1]) not in numbers:
        ss[keys[1]] = numbers[-1]
    by_number = {v["version"]: v for v in versions}
    p1, p2 = st.columns(2)
    a = by_number[p1.selectbox("Version A", numbers, key=keys[0], format_func=lambda n: _version_label(by_number[n]))]
    b = by_number[p2.selectbox("Version B", numbers, key=keys[1], format_func=lambda n: _version_label(by_number[n]))]

    if a["version"] == b["version"]:
        st.caption("A and B are the same version: pick another one to see what changed.")
    else:
        segments = L.word_diff(a["text"], b["text"])
        added, removed = L.diff_counts(segments)
        st.markdown(
            f"**From version {a['version']} to version {b['version']}:** {added} word{'s' if added != 1 else ''} added, {removed} removed"
        )
        with st.container(border=True, key="library_diff"):
            st.html(diff_html(segments))
    c1, c2 = st.columns(2)
    _version_column(c1, prompt, a, "A")
    _version_column(c2, prompt, b, "B")

    actions = st.container(horizontal=True)
    if actions.button(f"Use version {b['version']} in Generate", key="library_to_generate", icon=":material/brush:"):
        put_in_place("generate", {"prompt": b["text"]})
        st.switch_page(GENERATE_PAGE)
    pair = [a["text"], b["text"]] if a["version"] != b["version"] else [b["text"]]
    label = f"Versions {a['version']} and {b['version']} as Compare rows" if len(pair) == 2 else f"Version {b['version']} as a Compare row"
    if actions.button(label, key="library_pair_to_compare", icon=":material/grid_view:"):
        add_rows(pair)
        st.switch_page(COMPARE_PAGE)
    if len(versions) > 2 and actions.button(
        f"All {len(versions)} versions as Compare rows", key="library_all_to_compare", icon=":material/view_list:"
    ):
        add_rows([v["text"] for v in versions])
        st.switch_page(COMPARE_PAGE)


def library_rows_picker() -> None:
    """In Compare's builder: add a saved prompt (its latest or any version) as a row."""
    ss = st.session_state
    store = get_store()
    saved = store.prompts(limit=200)
    if not saved:
        return
    with st.expander("Rows from the library", icon=":material/bookmark:"):
        by_id = {p["id"]: p for p in saved}
        if ss.get("compare_library_prompt") not in by_id:
            ss["compare_library_prompt"] = saved[0]["id"]
        l1, l2 = st.columns([3, 1])
        chosen = l1.selectbox("Saved prompt", list(by_id), key="compare_library_prompt", format_func=lambda i: by_id[i]["name"])
        versions = store.prompt_versions(chosen)
        options = ["all", *(v["version"] for v in reversed(versions))]
        l2.selectbox(
            "Version", options, key=f"compare_library_version_{chosen}", format_func=lambda v: "every version" if v == "all" else f"v{v}"
        )
        st.button("Add as rows", key="compare_library_add", icon=":material/playlist_add:", on_click=_add_saved)
        if ss.get("compare_library_note"):
            st.caption(ss.pop("compare_library_note"))


def _add_saved() -> None:
    """Runs before the page draws the rows' text area, so it may change it; reads the picks as they are now."""
    prompt_id = st.session_state.get("compare_library_prompt")
    version = st.session_state.get(f"compare_library_version_{prompt_id}", "all")
    versions = get_store().prompt_versions(prompt_id) if prompt_id is not None else []
    texts = [v["text"] for v in versions if version == "all" or v["version"] == version]
    added = add_rows(texts)
    st.session_state["compare_library_note"] = (
        f"{added} row{'s' if added != 1 else ''} added." if added else "Those prompts are already rows of the grid."
    )
