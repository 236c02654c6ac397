"""Your place is kept: a page's inputs survive moving to another page and a reload.

Streamlit forgets a widget's value as soon as a page without that widget runs, and a reload is a
new session with nothing in it. So every page calls ``keep_place(page, keys)`` at its top, before
drawing its widgets:

- within a browser session, the values are copied into session state under keys of this module's
  own, and written back into the widgets' keys when the page is drawn again;
- across a reload, the same values are kept in the database (``Store.keep_place``) under a random
  token the browser holds in a cookie (``constants.PLACE_COOKIE``): never in a link, so a teammate
  opening a shared link has their own place, not yours; dropped after
  ``constants.PLACE_KEEP_DAYS`` days. API keys are never kept (``typed_key__*`` is refused here).

Reference images are files: ``keep_references`` keeps them in the session and, for a reload, as
content-addressed files with rows of the place (``Store.keep_place_refs``), never in the cookie.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from typing import Any

import streamlit as st

from lib import constants as C
from lib.ui.resources import get_store

PLACE_STATE = "_imagelab_place"  # session state: page -> {widget key: value}
LOADED_STATE = "_imagelab_place_loaded"  # session state: pages whose kept place was read from the database
SAVED_STATE = "_imagelab_place_saved"  # session state: page -> what was last written to the database
TOKEN_STATE = "_imagelab_place_token"  # session state: this browser's token
COOKIE_SET_STATE = "_imagelab_place_cookie_set"
REGISTERED_STATE = "_imagelab_place_pages"  # session state: page -> (keys, prefixes, page script hash)
CURRENT_PAGE_STATE = "_imagelab_place_current"  # session state: the page script this run is of...
PREVIOUS_PAGE_STATE = "_imagelab_place_previous"  # ...and the one the run before was of
LINK_FILLED_STATE = "_imagelab_place_link_filled"  # session state: a link filled the inputs in this run
REFS_STATE = "_imagelab_place_refs"  # session state: uploader key -> kept reference images
NEVER_KEPT = ("typed_key__",)  # what is typed there is an API key: kept nowhere

GENERATE_INPUTS = (  # Generate's form: prompt, parameters, streaming (reference images: ``keep_references``)
    "prompt",
    "size_choice",
    "size_w",
    "size_h",
    "resolution",
    "quality",
    "output_format",
    "n",
    "background",
    "moderation",
    "compression",
    "stream",
    "partial_images",
    "keep_partials",
    "input_fidelity",
)

COMPARE_PLACE = "compare"  # Compare's builder, kept by address (``note_run``)
GENERATE_VALUES = ("parent_run_id", "rerun_of")  # what the next generation is made from (lineage, a re-run)

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")


def _cookie_token() -> str | None:
    """The token the browser sent with this session's first request, if it has a well-formed one."""
    try:
        value = st.context.cookies.get(C.PLACE_COOKIE)
    except Exception:  # no browser behind this session (a test run)
        return None
    return value if isinstance(value, str) and _TOKEN_SHAPE.fullmatch(value) else None


def browser_token() -> str:
    """This browser's place token: the one its cookie holds, else a new random one (the cookie is
    written by ``remember_browser``). Nothing derived from a key or from the user."""
    ss = st.session_state
    token = ss.get(TOKEN_STATE)
    if not token:
        token = _cookie_token()
        if token:
            ss[COOKIE_SET_STATE] = True  # the browser already holds it
        else:
            token = secrets.token_urlsafe(24)
        ss[TOKEN_STATE] = token
    return token


def remember_browser(where: Any = None) -> None:
    """Write the token into the browser's cookie once per session (when it did not send one), so a
    reload finds this place. A small script in the sidebar; the cookie is for this site's path
    only, same-site, and expires with the kept places.

    Not in a session's first run: its first view holds nothing the person chose yet (a reload
    would show the same), and the script is one more element for the browser to load before the
    page is drawn. Any run after it (a widget changed, a page opened) writes it; until then,
    nothing is kept in the database either (``_save``)."""
    ss = st.session_state
    token = browser_token()
    if ss.get(COOKIE_SET_STATE) or _first_run():
        return
    ss[COOKIE_SET_STATE] = True
    max_age = int(C.PLACE_KEEP_DAYS * 86400)
    script = (
        "<script>document.cookie = "
        f"'{C.PLACE_COOKIE}={token}; path=/; max-age={max_age}; SameSite=Strict'"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
    (where or st.sidebar).html(script, unsafe_allow_javascript=True)


def _keepable(key: str, value: Any) -> bool:
    """What may be written to the database: plain values, no key, no overlong text."""
    if key.startswith(NEVER_KEPT):
        return False
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return len(value) <= C.PLACE_MAX_TEXT_CHARS
    if isinstance(value, dict):
        return all(isinstance(k, str) and _keepable(k, v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(isinstance(v, str | int | float | bool) and (not isinstance(v, str) or len(v) <= C.PLACE_MAX_TEXT_CHARS) for v in value)
    return False


def _matches(key: str, keys: Iterable[str], prefixes: Iterable[str]) -> bool:
    return key in keys or key.startswith(tuple(prefixes))


def _page_hash() -> str:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        return str(ctx.page_script_hash) if ctx is not None else ""
    except Exception:
        return ""


def _page_path(page_hash: str) -> str:
    """The address of the page a script hash stands for ("compare"), "" when unknown."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        info = ctx.pages_manager.get_pages().get(page_hash) if ctx is not None else None
        return str((info or {}).get("url_pathname") or "")
    except Exception:
        return ""


def _kept_by_address() -> dict[str, tuple[str, ...]]:
    """Pages whose inputs are kept from here, before the page draws them: the page address -> its
    widget keys. Compare's builder: the keys "Edit and re-run" fills (``library.BUILDER_FIELDS``)."""
    from lib.ui.library import BUILDER_FIELDS

    return {COMPARE_PLACE: tuple(BUILDER_FIELDS)}


def note_run() -> None:
    """Called once at the top of every page's run (the shared sidebar does): which page ran last.
    When the user has just left a page, the values its widgets held at the moment of leaving are
    kept now (they are gone by the end of this run). A page of ``_kept_by_address`` has its place
    kept here."""
    ss = st.session_state
    current = _page_hash()
    previous = ss.get(CURRENT_PAGE_STATE)
    ss[PREVIOUS_PAGE_STATE], ss[CURRENT_PAGE_STATE] = previous, current
    if previous is not None and previous != current:
        for page, (keys, prefixes, page_hash) in ss.get(REGISTERED_STATE, {}).items():
            if page_hash == previous:
                kept = ss.setdefault(PLACE_STATE, {}).setdefault(page, {})
                _capture(kept, keys, prefixes)
                _save(page, kept)
    address = _page_path(current)
    keys = _kept_by_address().get(address)
    if keys:
        keep_place(address, keys)


def _first_run() -> bool:
    """Whether this run is the session's first (``note_run`` has seen no run before it)."""
    return st.session_state.get(PREVIOUS_PAGE_STATE) is None


def _arrived() -> bool:
    """Whether this run is the first of this session, or the first on this page since another page ran."""
    ss = st.session_state
    return _first_run() or ss.get(PREVIOUS_PAGE_STATE) != ss.get(CURRENT_PAGE_STATE)


def _capture(kept: dict[str, Any], keys: tuple[str, ...], prefixes: tuple[str, ...]) -> None:
    ss = st.session_state
    for key in [*keys, *(k for k in list(ss.keys()) if isinstance(k, str) and prefixes and k.startswith(prefixes))]:
        if key in ss and not key.startswith(NEVER_KEPT):
            kept[key] = ss[key]


def keep_place(
    page: str,
    keys: Iterable[str],
    *,
    prefixes: Iterable[str] = (),
    values: Iterable[str] = (),
    restore: bool = True,
    every_page: bool = False,
) -> dict[str, Any]:
    """Keep and restore ``page``'s inputs (the widget ``keys``, and every key starting with one of
    ``prefixes``). Call it before the page draws those widgets. On the page, what its widgets hold
    is kept; arriving on it (from another page, or a reload: a new session) its kept values are put
    back into the widgets, unless ``restore`` is False (a link that fills the form itself wins).
    ``values``: session values that are no widget's (what the next run is made from), kept as they
    are, their absence too. ``every_page``: widgets drawn on every page (the sidebar), restored
    only in a new session. Returns the page's kept values."""
    values = tuple(values)
    keys = tuple(k for k in (*keys, *values) if not k.startswith(NEVER_KEPT))
    prefixes = tuple(p for p in prefixes if not p.startswith(NEVER_KEPT))
    ss = st.session_state
    new_session = PLACE_STATE not in ss or page not in ss.get(LOADED_STATE, set())
    filled_by_link = bool(ss.get(LINK_FILLED_STATE))
    if every_page:
        # Streamlit may hand a widget drawn on every page back at its first value on another page
        # (the provider went back to Sandbox on the way back from Compare): the kept values win there
        arrived = new_session or _arrived()
        restore = restore and not filled_by_link
    else:
        ss.setdefault(REGISTERED_STATE, {})[page] = (keys, prefixes, _page_hash())
        arrived = _arrived()
    pages: dict[str, dict[str, Any]] = ss.setdefault(PLACE_STATE, {})
    kept = pages.setdefault(page, {})
    loaded: set[str] = ss.setdefault(LOADED_STATE, set())
    if page not in loaded:  # a new session: what this browser left here before the reload
        loaded.add(page)
        for key, value in _stored_place(page).items():
            if _matches(key, keys, prefixes) and _keepable(key, value):
                kept.setdefault(key, value)
    if arrived and restore:
        for key, value in kept.items():
            if new_session and key in ss:  # set by a link in this new session's first run: the link wins
                continue
            if key in values and value is None:
                ss.pop(key, None)
            elif _matches(key, keys, prefixes) and not key.startswith(NEVER_KEPT):
                try:
                    ss[key] = list(value) if isinstance(value, tuple) else value
                except Exception:  # a key Streamlit does not let us set (a button's): left to its widget
                    logging.getLogger("imagelab.app").debug("place: %s not restored", key)
    else:
        _capture(kept, keys, prefixes)
        kept.update({key: ss.get(key) for key in values})  # gone from the session: gone from the place
    if not every_page:
        ss.pop(LINK_FILLED_STATE, None)  # the page's own inputs were the last to read it
    _save(page, kept)
    return kept


def put_in_place(page: str, values: dict[str, Any]) -> None:
    """Set some of ``page``'s kept inputs, for a control on another page that sends the user
    there with them (a Library version to Generate, rows to Compare): arriving, they are what
    the page's widgets get back."""
    ss = st.session_state
    kept = ss.setdefault(PLACE_STATE, {}).setdefault(page, {})
    kept.update(values)
    for key, value in values.items():
        ss[key] = value
    _save(page, kept)


def filled_by_link() -> None:
    """A link has just filled the page's inputs and the sidebar (a re-run): this run, they are
    kept as the link set them instead of being restored."""
    st.session_state[LINK_FILLED_STATE] = True


def _stored_place(page: str) -> dict[str, Any]:
    try:
        return get_store().place(browser_token(), page)
    except Exception:  # the place is a convenience: it never takes a page down
        logging.getLogger("imagelab.app").exception("reading the kept place failed")
        return {}


def _save(page: str, kept: dict[str, Any]) -> None:
    ss = st.session_state
    if _first_run() and not ss.get(COOKIE_SET_STATE):
        return  # a first run, under a token the browser does not hold yet: kept from the next run on
    data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kept.items() if _keepable(k, v)}
    saved: dict[str, Any] = ss.setdefault(SAVED_STATE, {})
    if saved.get(page) == data:
        return
    try:
        get_store().keep_place(browser_token(), page, data)
    except Exception:
        logging.getLogger("imagelab.app").exception("keeping the place failed")
        return
    saved[page] = data


def forget_place(page: str, keys: Iterable[str] = ()) -> None:
    """Forget ``page``'s kept values for ``keys`` (all of them when none are named), in the
    session and the database: what a "clear the form" does."""
    ss = st.session_state
    kept = ss.setdefault(PLACE_STATE, {}).setdefault(page, {})
    for key in list(keys) or list(kept):
        kept.pop(key, None)
    _save(page, kept)


UPLOADED_NOTE = "Uploaded before the reload"  # what restored uploads say they are
MOVED_NOTE = "Kept from before you left this page"
REFS_LOADED_STATE = "_imagelab_place_refs_loaded"  # session state: pages whose kept references were read
REFS_SAVED_STATE = "_imagelab_place_refs_saved"  # session state: page -> what was last kept of its references
REFS_SAY_STATE = "_imagelab_place_refs_say"  # session state: page -> what to say about its kept references


def _refs_mark(images: list[Any], mask: Any, note: str) -> tuple:
    """What a set of references is, cheaply (a bytes object remembers its hash)."""
    return tuple((r.role, r.filename, len(r.data), hash(r.data)) for r in [*images, *([mask] if mask else [])]) + (note,)


def keep_references(uploader_key: str, mask_key: str | None = None, *, page: str = "generate", into: str = "media_rerun_refs") -> None:
    """Reference images survive a page move and a reload. Call it before the uploaders are drawn.

    In the session, uploads present now are kept; when the uploader was forgotten (the page was
    left) and nothing else is queued in ``into``, they are put there, where the page's media
    controls offer them (with "Don't send these"). For a reload, what the form would send (the
    uploads, else what is queued in ``into``) is kept with the place (``Store.keep_place_refs``:
    files, bounded, never in the cookie); a new session of the same browser finds them in ``into``,
    unless a link filled it. A kept file gone from the data directory is named, not sent."""
    from lib.generation import ReferenceImage

    ss = st.session_state
    refs: dict[str, Any] = ss.setdefault(REFS_STATE, {})
    say: dict[str, str] = ss.setdefault(REFS_SAY_STATE, {})
    loaded: set[str] = ss.setdefault(REFS_LOADED_STATE, set())
    if page not in loaded:  # a new session: what this browser's place held before the reload
        loaded.add(page)
        if into not in ss and uploader_key not in ss:
            stored = _stored_refs(page)
            if stored.images:
                ss[into] = (stored.images, stored.mask)
                ss[f"{into}__note"] = stored.note or UPLOADED_NOTE
            if stored.missing:
                say[page] = (
                    f"{len(stored.missing)} reference image(s) kept from before are no longer in the data directory "
                    f"and will not be sent: {', '.join(stored.missing)}. Upload them again to use them."
                )
            ss.setdefault(REFS_SAVED_STATE, {})[page] = _refs_mark(stored.images, stored.mask, stored.note)
    if uploader_key in ss:
        uploads = ss.get(uploader_key) or []
        images = [ReferenceImage(u.name, u.getvalue()) for u in uploads]
        mask_file = ss.get(mask_key) if mask_key else None
        mask = ReferenceImage(mask_file.name, mask_file.getvalue(), "mask") if mask_file is not None else None
        refs[uploader_key] = (images, mask) if images else None
        note = ""
    else:
        kept = refs.get(uploader_key)
        if kept and not ss.get(into):
            ss[into] = kept
            ss[f"{into}__note"] = MOVED_NOTE
            refs[uploader_key] = None
        images, mask, note = [], None, ""
    if not images and ss.get(into):  # nothing uploaded: what is queued is what the form sends
        images, mask = ss[into]
        note = ss.get(f"{into}__note") or ""
        note = "" if note in (MOVED_NOTE, UPLOADED_NOTE) else note
    _save_refs(page, list(images), mask, note)
    if say.get(page):
        st.warning(say[page], icon=":material/hide_image:")


def _stored_refs(page: str):
    from lib.store.places import PlaceRefs

    try:
        return get_store().place_refs(browser_token(), page)
    except Exception:  # the place is a convenience: it never takes a page down
        logging.getLogger("imagelab.app").exception("reading the kept reference images failed")
        return PlaceRefs()


def _save_refs(page: str, images: list[Any], mask: Any, note: str) -> None:
    from lib.store.places import PLACE_REFS_MAX_BYTES, PLACE_REFS_MAX_FILES

    mark = _refs_mark(images, mask, note)
    saved: dict[str, tuple] = st.session_state.setdefault(REFS_SAVED_STATE, {})
    if saved.get(page) == mark:
        return
    say: dict[str, str] = st.session_state.setdefault(REFS_SAY_STATE, {})
    try:
        left = get_store().keep_place_refs(browser_token(), page, images, mask, note=note)
    except Exception:
        logging.getLogger("imagelab.app").exception("keeping the reference images failed")
        return
    saved[page] = mark
    say[page] = (
        f"Kept for this browser session only, not for a reload: {', '.join(left)} (a reload keeps up to "
        f"{PLACE_REFS_MAX_FILES} files and {PLACE_REFS_MAX_BYTES // 1048576} MB of images)."
        if left
        else ""
    )


def keep_query(page: str, params: dict[str, list[str]], *, arrived: bool) -> dict[str, list[str]] | None:
    """For a page whose inputs live in the address bar (History's filters): the query it shows now
    is kept; when the page was just arrived at (from another page, or a reload) with no query of
    its own, the kept one is returned for the page to open. A link with a query always wins."""
    ss = st.session_state
    pages: dict[str, dict[str, Any]] = ss.setdefault(PLACE_STATE, {})
    kept = pages.setdefault(page, {})
    loaded: set[str] = ss.setdefault(LOADED_STATE, set())
    if page not in loaded:
        loaded.add(page)
        stored = _stored_place(page).get("query")
        if isinstance(stored, dict) and "query" not in kept:
            kept["query"] = {str(k): [str(v) for v in vs] for k, vs in stored.items() if isinstance(vs, list)}
    if arrived and not params and kept.get("query"):
        return dict(kept["query"])
    kept["query"] = {k: list(v) for k, v in params.items()}
    _save(page, kept)
    return None
