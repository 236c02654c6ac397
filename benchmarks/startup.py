"""Cold start: from `make run` to the Generate page fully rendered in Chromium, beside a
bare Streamlit page (a title and a button) started the same way in the same run, and
a third page with the widgets of the Generate page's first view (its folded sections closed)
and no app code at all: what Streamlit's frontend costs for those widgets alone.
Prints figures; asserts nothing. Target: the app at most 1.3x the bare page.

    .venv/bin/python benchmarks/startup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.support.e2e_support import APP_IDLE, free_port, launch_browser, running_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BARE_PAGE = """import streamlit as st

st.set_page_config(page_title="bare", layout="wide")
st.title("Generate")
st.button("Generate")
"""


WIDGETS_PAGE = """import streamlit as st

st.set_page_config(page_title="widgets", layout="wide")
with st.sidebar:
    st.header("Settings")
    st.selectbox("Provider", ["Sandbox", "OpenAI"])
    st.caption("caption")
    st.caption("Requests go to `http://127.0.0.1/v1/images/generations`")
    st.selectbox("Model", ["gpt-image-2"])
    st.toggle("Check the prompt before paying")
    st.expander("Reliability", key="reliability", on_change="rerun")
    st.expander("Budget", key="budget", on_change="rerun")
    st.expander("Sandbox behaviour", key="sandbox", on_change="rerun")
st.title("Generate")
st.caption("caption")
st.text_area("Prompt")
st.popover("Save to library")
cols = st.columns(4)
cols[0].selectbox("Size", ["1024x1024"])
cols[1].selectbox("Quality", ["auto"])
cols[2].selectbox("Format", ["png"])
cols[3].number_input("Images", value=1)
more = st.columns(2)
more[0].selectbox("Background", ["auto"])
more[1].selectbox("Moderation", ["auto"])
st.toggle("Stream partial images")
st.expander("Reference images (edit)", key="references", on_change="rerun")
st.expander("Checks", key="checks", on_change="rerun")
st.button("Generate", type="primary", icon=":material/brush:", shortcut="Ctrl+Enter")
st.caption("caption")
st.caption("caption")
"""


@contextlib.contextmanager
def bare_app(folder: Path, source: str = BARE_PAGE):
    """A bare Streamlit page, started as `make run` starts the app (same binary, same config)."""
    script = folder / "bare.py"
    script.write_text(source)
    port = free_port()
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "streamlit"), "run", str(script), "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/_stcore/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def one_start(browser, *, bare: str | None = None) -> tuple[float, float]:
    """Seconds until the server answers, and until the page is rendered (the app, or a bare page's source)."""
    page = browser.new_page()
    with tempfile.TemporaryDirectory() as tmp, bare_app(Path(tmp), bare) if bare else running_app(Path(tmp) / "data") as (url, proc):
        start = time.perf_counter()  # the command has just been spawned
        # Asked every 20 ms with a short timeout, the server is seen within 20 ms of answering (a browser
        # navigation refused early and retried could wait for its own timeout instead); then the page is opened.
        while not answers(url):
            if proc.poll() is not None:
                raise RuntimeError("the app exited during start-up")
            if time.perf_counter() - start > 60:
                raise TimeoutError("no answer in 60 s")
            time.sleep(0.02)
        served = time.perf_counter() - start
        page.goto(url, timeout=60_000)
        page.wait_for_selector(APP_IDLE, timeout=60_000)
        page.get_by_role("heading", name="Generate").wait_for()
        page.get_by_role("button", name="Generate").wait_for()
        rendered = time.perf_counter() - start
    page.close()
    return served, rendered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = launch_browser(p)  # the browser is already open, as a user's would be
        results, bare, widgets = [], [], []
        for _ in range(args.rounds):  # alternated, so all three see the same machine
            results.append(one_start(browser))
            bare.append(one_start(browser, bare=BARE_PAGE))
            widgets.append(one_start(browser, bare=WIDGETS_PAGE))
        browser.close()
    print(f"cold start over {args.rounds} rounds (make run -> Generate page rendered in Chromium)")
    for name, runs in (("app", results), ("bare page", bare), ("widgets", widgets)):
        served = [r[0] for r in runs]
        rendered = [r[1] for r in runs]
        print(f"  {name:<9} server answering: " + ", ".join(f"{s:.2f}" for s in served) + f" s (median {statistics.median(served):.2f} s)")
        print(
            f"  {name:<9} page rendered   : " + ", ".join(f"{s:.2f}" for s in rendered) + f" s (median {statistics.median(rendered):.2f} s)"
        )
    ratio = statistics.median(r[1] for r in results) / statistics.median(r[1] for r in bare)
    floor = statistics.median(r[1] for r in widgets) / statistics.median(r[1] for r in bare)
    print(f"  app / bare page: {ratio:.2f}x  (target <= 1.3x)")
    print(f"  the same widgets without the app / bare page: {floor:.2f}x  (Streamlit's own cost of the page's widgets)")


if __name__ == "__main__":
    main()
