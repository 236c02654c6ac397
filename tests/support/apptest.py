"""Driving the app in streamlit.testing.v1.AppTest: a generation run to its end, and what the page shows.

The session itself comes from the ``new_app`` and ``app`` fixtures in tests/pages/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.support import ROOT
from tests.support.wait_until import wait_until

APP = str(ROOT / "streamlit_app.py")


def job_finished(at: AppTest) -> Callable[[], bool]:
    """A wait_until condition: rerun the page (as its own refresh does) until its generation job is done."""

    def finished() -> bool:
        if at.session_state["generate_job"] is None:
            return True
        at.run()
        return at.session_state["generate_job"] is None

    return finished


def wait_for_job(at: AppTest, timeout: float = 40, message: str = "the generation did not finish") -> AppTest:
    """Rerun the page until the generation it started has finished; the page must not have raised."""
    wait_until(job_finished(at), timeout=timeout, interval=0.1, message=message)
    assert not at.exception, [e.value for e in at.exception]
    return at


def generate(at: AppTest, prompt: str, *, wait_s: float = 40) -> AppTest:
    """Type the prompt on the Generate page, press Generate and wait for the result."""
    at.text_area(key="prompt").set_value(prompt).run()
    at.button(key="generate").click().run()
    return wait_for_job(at, timeout=wait_s)


def error_card_text(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def walk(at: AppTest, skip_keys=()) -> Iterator[Any]:
    """Every element of the main area and the sidebar, expanders and statuses included; an element with
    one of ``skip_keys`` is left out with everything inside it."""

    def visit(node):
        if getattr(node, "key", None) in skip_keys:
            return
        if getattr(node, "proto", None) is not None:
            yield node
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                yield from visit(child)

    yield from visit(at.main)
    yield from visit(at.sidebar)


def all_rendered_text(at: AppTest, skip_keys=()) -> str:
    """The protos of every element on the page, as text: what a key or markup must not be found in."""
    return "\n".join(str(node.proto) for node in walk(at, skip_keys))


def elements(at: AppTest) -> list[tuple[str, str]]:
    """(type, proto text) of every element on the page."""
    return [(getattr(node, "type", type(node).__name__), str(node.proto)) for node in walk(at)]
