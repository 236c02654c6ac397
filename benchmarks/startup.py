"""Cold start: from `make run` to the Generate page fully rendered in Chromium, beside a
bare Streamlit page (a title and a button) started the same way in the same run, and two pages
with no app code at all: the navigation and widgets of the Generate page's first view (its
folded sections closed), and the bare page with one selectbox above its button. They show what
Streamlit's frontend costs for those widgets alone. Prints figures; asserts nothing. Target: the
app at most 1.3x the bare page.

"Rendered" is read two ways. *In the page*: the moment, taken by the browser itself, when the
app is idle and the heading and the button are there. *Polled*: when Playwright saw that; its
waits poll at growing intervals (up to half a second), so that figure can lag the page by a
few tenths, by luck of the timing. The in-page figure is the one to go by.

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


def page():
    pass  # the app's pages draw themselves; here the widgets are drawn after the navigation


st.navigation([st.Page(page, title=t, url_path=t.lower(), default=t == "Generate") for t in ("Generate", "Compare", "Library", "History", "Diagnostics")])
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


SELECT_PAGE = BARE_PAGE.replace('st.button("Generate")', 'st.selectbox("Size", ["1024x1024", "1536x1024"])\nst.button("Generate")')

# Run in the page before its own scripts: notes the first moment the app is idle with the page's
# heading and button drawn (what the polled waits below look for), by the browser's clock.
RENDERED_MARK = """
window.__rendered = null;
new MutationObserver(() => {
  if (window.__rendered !== null) return;
  const idle = document.querySelector("[data-testid='stApp'][data-test-script-state='notRunning']");
  const has = (tags, text) => Array.from(document.querySelectorAll(tags)).some((e) => e.innerText.includes(text));
  if (idle && has("h1, h2, h3", "Generate") && has("button", "Generate")) window.__rendered = performance.timeOrigin + performance.now();
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
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


def one_start(browser, *, bare: str | None = None) -> tuple[float, float, float]:
    """Seconds until the server answers, until the page is rendered (by the page's own clock), and
    until Playwright saw it rendered: for the app, or for a bare page's source."""
    page = browser.new_page()
    page.add_init_script(RENDERED_MARK)
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
        polled = time.perf_counter() - start
        mark = page.evaluate("window.__rendered")  # epoch milliseconds, or None if never seen
        rendered = mark / 1000 - (time.time() - time.perf_counter()) - start if mark else polled
    page.close()
    return served, rendered, polled


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = launch_browser(p)  # the browser is already open, as a user's would be
        pages = {"app": None, "bare page": BARE_PAGE, "widgets": WIDGETS_PAGE, "selectbox": SELECT_PAGE}
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in pages}
        for _ in range(args.rounds):  # alternated, so all of them see the same machine
            for name, source in pages.items():
                runs[name].append(one_start(browser, bare=source))
        browser.close()
    print(f"cold start over {args.rounds} rounds (make run -> Generate page rendered in Chromium)")
    for name, got in runs.items():
        for label, i in (("server answering", 0), ("rendered (page) ", 1), ("rendered (polled)", 2)):
            xs = [r[i] for r in got]
            print(f"  {name:<9} {label:<17}: " + ", ".join(f"{x:.2f}" for x in xs) + f" s (median {statistics.median(xs):.2f} s)")

    def ratio(name: str, i: int = 1) -> float:
        return statistics.median(r[i] for r in runs[name]) / statistics.median(r[i] for r in runs["bare page"])

    print(f"  app / bare page: {ratio('app'):.2f}x in the page, {ratio('app', 2):.2f}x polled  (target <= 1.3x)")
    print(f"  the same widgets without the app / bare page: {ratio('widgets'):.2f}x  (Streamlit's own cost of the page's widgets)")
    print(f"  the bare page with one selectbox / bare page: {ratio('selectbox'):.2f}x  (the selectbox's code, loaded on first use)")


if __name__ == "__main__":
    main()
