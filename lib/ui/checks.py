"""Checks in the app: the opt-in choice on Generate and Compare, the process's check queue, and
verdicts drawn on a result card, a Compare cell and History's attempt view.

What a check does is lib/checks; this module reads widgets into ``CheckSpec``s, hands ended
runs to ``lib.checks.background.CheckQueue`` and draws the verdicts the store kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from lib.checks import CheckSpec
from lib.checks.background import CheckQueue
from lib.checks.judge import DEFAULT_JUDGE_MODEL, estimate_total
from lib.checks.present import asked_read, line
from lib.checks.similar import DEFAULT_THRESHOLD as SIMILAR_THRESHOLD
from lib.checks.text import DEFAULT_THRESHOLD as TEXT_THRESHOLD
from lib.errors import InvalidImage
from lib.pricing import format_usd
from lib.text import literal_obj
from lib.text import markdown as plain
from lib.ui.resources import get_store
from lib.ui.sections import CHECKS_OPEN, section

CHECKS_REFRESH_S = 1.0  # how often a result waiting for its checks looks again
RUN_CHECKS_KEY = "checks_of_runs"  # session state: run id -> the checks chosen when it was sent


@st.cache_resource(show_spinner=False)
def _queue_for(db_path: str) -> CheckQueue:
    return CheckQueue(get_store())


def get_check_queue() -> CheckQueue:
    """One check queue per server process and database."""
    return _queue_for(str(get_store().path))


@dataclass
class ChecksChoice:
    specs: list[CheckSpec] = field(default_factory=list)
    problem: str | None = None  # what to fix before sending
    judge_usd: float | None = None  # the judge's estimated cost for every image, before it runs

    @property
    def judge(self) -> CheckSpec | None:
        return next((s for s in self.specs if s.name == "judge"), None)


def checks_choice(prefix: str, *, images: int, size: str, persist: str | None = None) -> ChecksChoice:
    """The "Checks" expander (every check off until ticked; the judge is billed and shows its estimate
    for ``images`` images of ``size`` before anything is sent)."""
    from lib.checks._base import open_image
    from lib.providers import parse_size

    keep = {"persist_state": persist} if persist else {}
    ss = st.session_state
    out = ChecksChoice()
    ticked = any(ss.get(f"{prefix}_check_{n}") for n in ("size", "text", "similar", "judge"))
    # Drawn once opened, and kept open while a check is ticked: closed, every check is off
    box = section(st, "Checks", CHECKS_OPEN.format(prefix=prefix), keep_open=ticked, icon=":material/fact_check:")
    if box is None:
        return out
    with box:
        st.caption("Checked after the images are saved; the verdicts show with each image and are kept in History.")
        c1, c2 = st.columns(2)
        if c1.checkbox("Size, format and background as asked", key=f"{prefix}_check_size", **keep):
            out.specs.append(CheckSpec("size"))
        if c2.checkbox("Quoted text is in the image (OCR)", key=f"{prefix}_check_text", **keep):
            ss.setdefault(f"{prefix}_text_threshold", TEXT_THRESHOLD)
            level = c2.slider(
                "Text must match at least", 0.5, 1.0, step=0.05, key=f"{prefix}_text_threshold", help="1.0: spelled exactly.", **keep
            )
            out.specs.append(CheckSpec("text", float(level)))
        if c1.checkbox("Looks like a reference image", key=f"{prefix}_check_similar", **keep):
            ss.setdefault(f"{prefix}_similar_threshold", SIMILAR_THRESHOLD)
            level = c1.slider("Similarity at least", 0.0, 1.0, step=0.05, key=f"{prefix}_similar_threshold", **keep)
            upload = c1.file_uploader("Reference image", type=["png", "jpg", "jpeg", "webp"], key=f"{prefix}_similar_ref")
            if upload is None:
                out.problem = "The similar check needs a reference image: choose one under Checks, or untick it."
            else:
                data = upload.getvalue()
                try:
                    open_image(data)
                except InvalidImage as err:
                    out.problem = f"The reference image {upload.name} cannot be opened: {err}"
                else:
                    out.specs.append(CheckSpec("similar", float(level), data, upload.name))
        ss.setdefault(f"{prefix}_check_judge", False)  # never on by default
        if c2.checkbox("Judge with a vision model (billed)", key=f"{prefix}_check_judge", **keep):
            rubric = c2.text_input(
                "Rubric", key=f"{prefix}_judge_rubric", placeholder="the sign is legible and spelled right", max_chars=2000, **keep
            ).strip()
            if not rubric:
                out.problem = "The judge needs a rubric: say what a passing image shows, or untick the judge."
            elif not images:
                c2.caption("Its estimated cost shows once there is something to send.")
                out.specs.append(CheckSpec("judge", rubric=rubric, model=DEFAULT_JUDGE_MODEL))
            else:
                dims = parse_size(size) or (1024, 1024)
                out.judge_usd = estimate_total(rubric, [dims] * max(1, images), model=DEFAULT_JUDGE_MODEL)
                c2.caption(
                    plain(
                        f"Estimated judge cost: {format_usd(out.judge_usd)} for {images} image{'s' if images != 1 else ''} "
                        f"({DEFAULT_JUDGE_MODEL}, through the provider's chat completions), recorded as runs of kind judge."
                    )
                )
                out.specs.append(CheckSpec("judge", rubric=rubric, model=DEFAULT_JUDGE_MODEL))
    return out


JUDGE_CLIENTS_KEY = "checks_judge_clients"  # session state: provider -> the client its judge calls go through


def _judge_client(provider: str, settings: Any) -> Any:
    """This session's client for a provider's judge calls, made again when its settings changed; it
    shares the provider's limits (rate, parallel requests, cooldown) with the generations."""
    from lib.client import ImageClient
    from lib.ui.resources import get_runner

    clients = st.session_state.setdefault(JUDGE_CLIENTS_KEY, {})
    client = clients.get(provider)
    if client is None or client.settings != settings:
        if client is not None:
            client.close()
        client = clients[provider] = ImageClient(settings=settings, limiters=get_runner().limiters)
    return client


def judge_calls(rubric_spec: CheckSpec | None, settings_for: Callable[[str], Any]) -> Callable[[str], Any] | None:
    """``provider -> judge(data, judged)`` through that provider's client, or None without a judge spec."""
    if rubric_spec is None:
        return None
    from lib.checks.judge import judge_caller

    return lambda provider: judge_caller(
        _judge_client(provider, settings_for(provider)), get_store(), rubric=rubric_spec.rubric, model=rubric_spec.model
    )


def show_checks(where, rows: list[dict[str, Any]], *, compact: bool = False) -> None:
    """Kept checks: passed or failed, the score and the summary, and for text what was asked beside
    what was read. ``compact`` for a Compare cell."""
    for row in rows:
        icon = ":material/check_circle:" if row["passed"] else ":material/cancel:"
        if compact:
            where.caption(f"{icon} {plain(line(row))}")
            for p in asked_read(row) if row["passed"] else ():  # a failed one names both in its summary
                where.caption(plain(f"asked \u201c{p['asked']}\u201d · read \u201c{p['read']}\u201d"))
            continue
        where.markdown(f"{icon} {plain(line(row))}")
        pieces = asked_read(row)
        if pieces:
            where.dataframe(
                literal_obj(
                    [{"asked": p["asked"], "read": p["read"] or "(nothing)", "score": p["score"], "passed": p["passed"]} for p in pieces]
                ),
                hide_index=True,
            )


def remember_run_checks(run_id: str, choice: ChecksChoice, settings_for: Callable[[str], Any]) -> None:
    """Generate: the checks chosen for a run this session just sent, made once it has ended."""
    st.session_state.setdefault(RUN_CHECKS_KEY, {})[run_id] = (list(choice.specs), judge_calls(choice.judge, settings_for))


def run_checks_section(run_id: str, provider: str) -> None:
    """Under a finished result: its verdicts, once made (the checks chosen when this session sent it
    are handed to the check queue here, after its images were saved)."""
    store = get_store()
    queue = get_check_queue()
    chosen = st.session_state.get(RUN_CHECKS_KEY, {}).get(run_id)
    if chosen is not None:
        specs, judge_for = chosen
        queue.submit_unchecked([run_id], specs, judge_for=(lambda _run: judge_for(provider)) if judge_for else None)
    pending = run_id in queue.pending()

    @st.fragment(run_every=CHECKS_REFRESH_S if pending else None)
    def verdicts() -> None:
        rows = store.checks_for_run(run_id)
        still = run_id in queue.pending()
        if pending and not still:
            st.rerun(scope="app")
        if not rows and not still and queue.failure(run_id) is None:
            return
        with st.container(border=True, key=f"checks-{run_id}"):
            st.markdown("**Checks**")
            if still:
                st.caption(":material/hourglass_top: Checking the images...")
            failure = queue.failure(run_id)
            if failure:
                st.error(plain(failure), icon=":material/error:")
            by_image: dict[Any, list[dict[str, Any]]] = {}
            for row in rows:
                by_image.setdefault(row["image_id"], []).append(row)
            for n, (_image, image_rows) in enumerate(by_image.items()):
                if len(by_image) > 1:
                    st.caption(f"Image {n + 1}")
                show_checks(st, image_rows)

    verdicts()


JUDGE_GRIDS_KEY = "checks_judge_grids"  # session state: the comparisons this session started with a judge


def judge_grid(comparison_id: str) -> None:
    """The judge of a grid is billed: its calls are made by the session that started the grid only."""
    st.session_state.setdefault(JUDGE_GRIDS_KEY, set()).add(comparison_id)


def check_grid_cells(view: Any, settings_for: Callable[[str], Any]) -> bool:
    """Hand the grid's finished cells with no verdict yet to the check queue (the judge too, in the
    session that started the grid); True while some of its cells are being checked."""
    from lib.checks import kept_reader

    store = get_store()
    specs = view.plan.check_specs(kept_reader(store.keeper))
    if not specs:
        return False
    queue = get_check_queue()
    done = {c.run_id: c.provider for c in view.cells.values() if c.ok}
    judging = view.id in st.session_state.get(JUDGE_GRIDS_KEY, set())
    judge = judge_calls(next((s for s in specs if s.name == "judge"), None), settings_for) if judging else None
    queue.submit_unchecked(list(done), specs, judge_for=(lambda run_id: judge(done[run_id])) if judge else None)
    return bool(queue.pending() & {c.run_id for c in view.cells.values()})


def cell_checks(where, cell: Any, *, checking: bool) -> None:
    """A Compare cell's verdicts, or that they are being made."""
    failure = get_check_queue().failure(cell.run_id)
    if cell.checks:
        show_checks(where, cell.checks, compact=True)
    elif checking:
        where.caption(":material/hourglass_top: checking...")
    elif failure:
        where.caption(f":material/error: {plain(failure)}")
