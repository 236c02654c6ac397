"""A sandbox started by hand (``imagelab sandbox``, ``python -m lib.sandbox``): its faces printed, EvoLink's file
host on a second port, and an EvoLink edit with two reference files rehearsed against it from another process."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from lib.client import ImageClient
from lib.errors import InvalidInput
from lib.generation import ClientSettings, GenerationRequest, ReferenceImage
from lib.providers import EVOLINK_UPLOAD_PATH, PRESETS, build_endpoint, files_upload_url, unbind_files_root
from tests.support import ROOT
from tests.support import cli as C
from tests.support.media_support import image_bytes
from tests.support.memory_recorder import MemoryRecorder

pytestmark = pytest.mark.usefixtures("no_keys_from_other_tests")

COMMANDS = {"imagelab sandbox": [*C.command(), "sandbox"], "python -m lib.sandbox": [sys.executable, "-m", "lib.sandbox"]}


@pytest.fixture(params=list(COMMANDS))
def by_hand(request):
    """A sandbox in a process of its own on free ports; what it printed, line by line."""
    proc = subprocess.Popen(
        [*COMMANDS[request.param], "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=C.env(),
    )
    try:
        banner = [proc.stdout.readline() for _ in range(4)]  # printed once both ports listen
        assert all(banner), "".join(banner) + proc.stdout.read()
        yield banner
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _url(banner: list[str], label: str) -> str:
    (line,) = [line for line in banner if label in line]
    return re.search(r"http://\S+", line).group(0)


def test_the_help_names_the_file_host_port():
    out = C.run("sandbox", "--help").stdout
    assert "--files-port" in out and "EvoLink's file host" in out


def test_both_ports_are_printed_and_the_file_host_takes_uploads(by_hand):
    api, files = _url(by_hand, "EvoLink's shapes"), _url(by_hand, "EvoLink's file host")
    assert api.endswith("/evolink/v1") and files.endswith(EVOLINK_UPLOAD_PATH)
    assert api.split("/")[2] != files.split("/")[2]  # another port of the same machine
    assert "/api/v1/jobs/createTask" in _url(by_hand, "task API")


def test_an_evolink_edit_with_two_files_is_rehearsed_against_it(by_hand):
    api, files = _url(by_hand, "EvoLink's shapes"), _url(by_hand, "EvoLink's file host")
    root = api.removesuffix("/evolink/v1")
    assert files_upload_url(root) is None  # another process: this one learns the file host from the sandbox
    settings = ClientSettings(
        provider="evolink", base_url=api, api_key="sbx-by-hand-42", key_source="typed", max_retries=0, use_fallback=False
    )
    refs = [ReferenceImage("fox.png", image_bytes((96, 64))), ReferenceImage("owl.jpg", image_bytes((64, 64), fmt="JPEG"))]
    try:
        with ImageClient(settings=settings, recorder=MemoryRecorder()) as client:
            out = client.generate(GenerationRequest(prompt="the fox and the owl", images=refs, size="1:1"))
        assert out.ok, out.error
        links = out.preview.body["image_urls"]
        assert len(links) == 2 and all(link.startswith(files.removesuffix(EVOLINK_UPLOAD_PATH) + "/files/") for link in links)
        assert files_upload_url(root) == files
    finally:
        unbind_files_root(root)


def test_with_no_sandbox_there_the_edit_is_refused_before_sending():
    settings = ClientSettings(provider="evolink", base_url="http://127.0.0.1:9/evolink/v1", api_key="sbx-none-42", key_source="typed")
    refs = [ReferenceImage("fox.png", image_bytes((96, 64)))]
    with ImageClient(settings=settings, recorder=MemoryRecorder()) as client:
        out = client.generate(GenerationRequest(prompt="the fox", images=refs))
    assert not out.ok and isinstance(out.error, InvalidInput) and out.error.code == "no_files_host"
    assert "/sandbox/config" in out.error.message


def test_a_file_host_port_that_is_taken_is_named_not_a_traceback():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = C.run("sandbox", "--port", "0", "--files-port", str(port), timeout=30)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1 (port 0 and {port})" in done.stderr


def test_its_evolink_face_is_named_a_rehearsal_before_anything_is_sent(by_hand):
    api = _url(by_hand, "EvoLink's shapes")
    problems = build_endpoint(api, preset=PRESETS["evolink"]).problems
    assert [p.severity for p in problems] == ["info"] and "a rehearsal, nothing reaches api.evolink.ai" in problems[0].message
