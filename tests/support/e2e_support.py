"""Helpers shared by the Chromium end-to-end tests and the benchmarks that drive the app: start it, wait for it, pick in it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import ROOT
from tests.support.wait_until import wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
APP_IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
ARTIFACTS = ROOT / "artifacts"  # screenshots the end-to-end tests leave for a person to look at


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(data_dir: Path, port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """The app started as `make run` starts it, on a free port; stopped afterwards."""
    port = port or free_port()
    env = dict(os.environ, IMAGELAB_DATA_DIR=str(data_dir))
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            return httpx.get(url + "/_stcore/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=timeout, interval=0.05, message="the app did not answer in time")


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def settle(page) -> None:
    """Let the rerun a widget change starts begin, then wait for it to end."""
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_IDLE, timeout=30_000)


def attach_references(page, paths) -> None:
    """Put files in Generate's reference-image uploader and wait until the page has read them: the
    mask uploader is drawn by the rerun that received them (an upload still under way when a
    fixed pause ends would send the generation without them)."""
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files([str(p) for p in paths])
    page.get_by_text("Mask (optional").first.wait_for(timeout=30_000)
    page.wait_for_selector(APP_IDLE, timeout=30_000)


SANDBOX_BEHAVIOUR_LABELS = ("Scenario", "Delivery", "Latency")  # in the sidebar's Sandbox behaviour, folded until opened


def open_sandbox_behaviour(page) -> None:
    """Open the sidebar's Sandbox behaviour section (a first visit finds it closed) and wait for its widgets."""
    if page.get_by_role("combobox", name="Scenario").count():
        return
    page.locator("[data-testid='stSidebar'] [data-testid='stExpander'] summary").filter(has_text="Sandbox behaviour").click()
    page.get_by_role("combobox", name="Scenario").wait_for(timeout=30_000)
    settle(page)  # the rerun that drew it may still be drawing the page below


def pick(page, label: str, option: str, *, settle_after: bool = False) -> None:
    """Choose an option in a Streamlit selectbox found by its label, then wait for the rerun
    (``settle_after``: give the rerun time to begin first, where a page is slow to start it)."""
    if label in SANDBOX_BEHAVIOUR_LABELS:
        open_sandbox_behaviour(page)
    box = page.get_by_role("combobox", name=label)
    # Scrolled into view first, and given a moment: a click made while Playwright's own scroll of the sidebar
    # still moves it opens the list and closes it at once (a person scrolls, then clicks, and never meets this).
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    for attempt in range(3):
        box.click()
        try:
            page.get_by_role("option").filter(has_text=option).first.click(timeout=5_000)
            break
        except Exception:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    if settle_after:
        settle(page)
    else:
        page.wait_for_selector(APP_IDLE)


def flood_generation(page, base_url: str, *, key: str = "sk-e2e-" + "F1o" * 12) -> None:
    """On Generate: a Custom provider at ``base_url`` (a hostile provider's flood), streaming on,
    Generate pressed, and the run under way (its Cancel button shown)."""
    pick(page, "Provider", "Custom")
    sidebar_box(page, "Base URL").fill(base_url)
    sidebar_box(page, "Base URL").press("Enter")
    page.wait_for_selector(APP_IDLE)
    sidebar_box(page, "API key").fill(key)
    sidebar_box(page, "API key").press("Enter")
    page.wait_for_selector(APP_IDLE)
    page.get_by_text("Stream partial images").click()
    page.wait_for_selector(APP_IDLE)
    page.get_by_label("Prompt", exact=True).fill("a flood of partial images")
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("button", name="Cancel").wait_for(timeout=30_000)


def cancel_and_wait(page, *, timeout_ms: int = 60_000) -> float:
    """Press Cancel on a running generation; seconds from the click until the page says it was cancelled."""
    import time

    button = page.get_by_role("button", name="Cancel")
    started = time.perf_counter()
    button.click(timeout=timeout_ms)
    page.get_by_text("Cancelled").first.wait_for(timeout=timeout_ms)
    return time.perf_counter() - started


def go_to(page, title: str) -> None:
    """Move to another page by the sidebar's navigation (a page move, not a reload) and wait for it."""
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
    settle(page)


def sidebar_box(page, name: str):
    """A text box of the sidebar by its label ("Base URL", "API key")."""
    return page.locator("[data-testid='stSidebar']").get_by_role("textbox", name=name)


def save_to_library(page, name: str, text: str) -> None:
    """On Generate: type ``text`` as the prompt and save it to the library as ``name``."""
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill(text)
    prompt.press("Tab")
    settle(page)
    if not page.get_by_label("Name", exact=True).is_visible():  # the popover stays open after a save
        page.get_by_role("button", name="Save to library").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Name", exact=True).press("Enter")
    settle(page)
    page.get_by_role("button", name="Save", exact=True).click()
    settle(page)


def set_targets(page, *, remove: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> None:
    """On Compare: take targets out of the Targets box by their label, then add others by typing them."""
    targets = page.locator("[data-testid='stMultiSelect']").filter(has_text="Targets")
    for label in remove:
        targets.get_by_role("button", name=f"Remove {label}").click()
        settle(page)
    for label in add:
        targets.get_by_role("combobox").click()
        page.keyboard.type(label)
        page.get_by_role("option").filter(has_text=re.compile(f"^{re.escape(label)}$")).first.click()
        page.keyboard.press("Escape")
        settle(page)
