"""The Custom provider's gateway dialect, chosen in the sidebar from the dialect files found
(``lib.dialects``; where they are looked for: ``lib.config.dialect_folders``). The choice is
kept with the rest of the provider settings, for a reload too."""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib.config import chosen_dialect, dialect_folders
from lib.dialects import DIALECT_FILE, OPENAI_COMPATIBLE, Dialect, dialect_files, load_dialects, report_answer
from lib.text import code_span, literal
from lib.text import markdown as plain
from lib.ui.media import session_download
from lib.ui.place import keep_place
from lib.ui.resources import config, get_store

DIALECT_KEY = "gateway_dialect__custom"
DIALECT_PLACE = "gateway_dialect"
OPENAI_LABEL = "OpenAI-compatible (no dialect file)"


def _folders() -> list[Any]:
    return dialect_folders(get_store().root)


def _default() -> str:
    return config().dialect_name


def dialect_sidebar(container: Any, provider_id: str) -> Any:
    """For the Custom provider: the *Gateway dialect* selectbox, what it describes (or why its
    file cannot be used, each problem with its file and line); the ``ClientSettings.dialect``
    it stands for. Other providers speak no dialect: None."""
    if provider_id != "custom":
        return None
    keep_place(DIALECT_PLACE, [DIALECT_KEY], every_page=True)
    ss = st.session_state
    ss.setdefault(DIALECT_KEY, _default())
    ss[DIALECT_KEY] = ss[DIALECT_KEY]  # the session's own value: it survives a page change
    folders = _folders()
    found, problems = load_dialects(dialect_files(*folders))
    names = [OPENAI_COMPATIBLE, *sorted(found)]
    if ss[DIALECT_KEY] not in names:
        names.append(ss[DIALECT_KEY])  # chosen before, its file now broken or gone: pre-flight says why
    where = " or ".join(f"`{f}`" for f in folders[:2])
    choice = container.selectbox(
        "Gateway dialect",
        names,
        key=DIALECT_KEY,
        format_func=lambda n: OPENAI_LABEL if n == OPENAI_COMPATIBLE else n,
        help=f"For a gateway with its own task API: a dialect file ({DIALECT_FILE}, or dialects/*.toml) in {where}. "
        "The README's section 'Connecting a gateway' has a worked file.",
    )
    dialect = found.get(choice) or (chosen_dialect(provider_id, choice, get_store().root) if choice else None)
    # A usable dialect's routes are the sidebar's one "requests go to" caption (routes_caption).
    if not found and not problems and choice == OPENAI_COMPATIBLE:
        container.caption(
            plain(f"No dialect file yet: save one as {folders[0]}/dialects/NAME.toml. ") + "The README's 'Connecting a gateway' "
            "has a worked file that runs against the sandbox's task API."
        )
    if dialect is not None and not isinstance(dialect, Dialect):
        container.error(plain(f"This dialect cannot be used; nothing is sent until it is fixed: {dialect}"), icon=":material/description:")
    elif problems:
        container.warning(plain("Dialect files with problems: " + "; ".join(str(p) for p in problems[:3])), icon=":material/description:")
    return dialect


def dialect_rehearsal(container: Any, sandbox_root: str) -> None:
    """In the sandbox's box: its task API is a gateway's own, not a delivery of the OpenAI routes, so a dialect
    file is rehearsed on it with the Custom provider; one click sets that up."""
    container.caption(
        "A gateway's own task API (/api/v1/jobs/...) is served too. It answers only through a dialect file, read by the Custom provider:"
    )
    container.button(
        "Rehearse a dialect file",
        key="sandbox_dialect_rehearsal",
        icon=":material/description:",
        on_click=_point_custom_at,
        args=(sandbox_root,),
        help=f"The Custom provider with the base URL {sandbox_root}; then choose the dialect under Gateway dialect.",
    )


def _point_custom_at(base_url: str) -> None:
    st.session_state["provider"] = "custom"
    st.session_state["base_url__custom"] = base_url


def routes_caption(endpoint: Any, dialect: Any) -> str:
    """Where this configuration's requests go: the endpoint's generations route, or, through a
    dialect, its create route and poll route (a dialect file that cannot be used sends nothing)."""
    if not endpoint.url:
        return "Requests go to: (no endpoint yet)"
    if dialect is None:
        # A code span, not st.code: one widget type fewer for the browser to load on every page.
        return f"Requests go to `{code_span(endpoint.url)}`"
    if not isinstance(dialect, Dialect):
        return "Nothing is sent until the dialect file is fixed (below)."
    from lib.client._dialect import base_of  # loaded only with a dialect: not on every first page
    from lib.dialects import DialectError

    try:
        create = dialect.create_request({"model": "m", "prompt": "p", "size": "auto", "n": 1}).url(base_of(endpoint))
        poll = dialect.poll_request("TASKID").url(base_of(endpoint)).replace("TASKID", "{task_id}") if dialect.is_async else ""
    except DialectError:
        return plain(dialect.describe())
    out = f"Through the dialect '{plain(dialect.name)}', requests go to `{code_span(create)}`"
    return out + (f"; tasks are polled at `{code_span(poll)}`." if poll else "; the answer holds the images.")


def chosen_for(provider_id: str) -> Any:
    """The dialect the sidebar last chose for ``provider_id`` (Compare's other targets), without drawing anything."""
    if provider_id != "custom":
        return None
    return chosen_dialect(provider_id, st.session_state.get(DIALECT_KEY, _default()), get_store().root)


ANSWER_KEY = "diag_describe_answer"


def describe_answer_box(dialect: Any) -> None:
    """ "Describe this answer": paste an answer a gateway returned; the fields a dialect would
    read, what the dialect in use reads from it, and a starting file to download."""
    with st.expander("Describe this answer", icon=":material/data_object:", expanded=bool(st.session_state.get(ANSWER_KEY))):
        st.caption(
            "Paste an answer your gateway returned (the create answer, or a poll of a finished task): the fields a dialect "
            "file would read are found, and a starting file is made from them. Nothing is sent anywhere."
        )
        pasted = st.text_area("Answer (JSON)", key=ANSWER_KEY, height=160, placeholder='{"code": 200, "data": {"taskId": "..."}}')
        if not pasted.strip():
            return
        in_use = dialect if isinstance(dialect, Dialect) else None
        report = report_answer(pasted, in_use)
        if report.problem:
            st.warning(plain(report.problem), icon=":material/data_object:")
            return
        if report.fields:
            st.markdown("**Fields found**")
            st.text(literal("\n".join(f"{what}: {where}" for what, where in report.fields)))
        else:
            st.info("No task id, status, results or error field was recognised in this answer.", icon=":material/search_off:")
        if report.read:
            st.markdown(f"**What the dialect '{plain(in_use.name if in_use else '')}' reads from it**")
            st.text(literal("\n".join(report.read)))
        st.markdown("**A starting file**")
        st.code(report.starting_file, language="toml")
        session_download(
            st,
            "Download the starting file",
            lambda: report.starting_file,
            file_name="my-gateway.toml",
            mime="application/toml",
            key="diag_dialect_dl",
        )
