"""Shared fixtures: a real sandbox and the hostile provider on loopback, fake clocks, a temporary data dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lib.sandbox import SandboxConfig, SandboxServer  # noqa: E402
from tests.support.clock import FakeClock  # noqa: E402

FAST = dict(latency_s=(0.0, 0.0), task_duration_s=0.2, retry_after_s=0.05, hang_s=3.0)


def pytest_collection_modifyitems(config, items):
    """`make test` runs two pytest-xdist workers: every browser test goes to one of them, one at a time
    (two Chromiums and two app servers at once on two cores would time out), the rest to either."""
    for item in items:
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer(SandboxConfig(**FAST)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hostile():
    """The hostile provider on loopback, one for the session: a probe's base URL is hostile.base_url(probe)
    (tests/support/hostile_probes.py lists them). What it has seen accumulates: compare before and after."""
    from tests.support.hostile_provider import HostileProvider

    server = HostileProvider().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server):
    """The session's sandbox, reset to a fast, healthy configuration for each test."""
    sandbox_server.configure(dialect="b64", scenario="healthy", rate_limit_k=None, url_ttl_s=3600.0, **FAST)
    return sandbox_server


@pytest.fixture
def fake_clock():
    return FakeClock()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    monkeypatch.setenv("IMAGELAB_DATA_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def _isolated_secrets():
    """Keys registered for redaction by one test do not leak into the next: a test key
    like 'sk-test-kkkk...' would otherwise make any image with a run of 'k' bytes
    look like it carries the key (lib.images.ImageKeeper.save)."""
    from lib import redact

    with redact._lock:
        saved = (set(redact._secrets), set(redact._grams), redact._max_len, redact._pattern)
    yield
    with redact._lock:
        redact._secrets.clear()
        redact._secrets.update(saved[0])
        redact._grams.clear()
        redact._grams.update(saved[1])
        redact._max_len = saved[2]
        redact._pattern = saved[3]


@pytest.fixture
def no_keys_from_other_tests(monkeypatch):
    """No key is registered for redaction at all (for the media tests, with usefixtures): fake keys registered
    by earlier tests in this process (e.g. "sk-...stuvwxyz...") match the standard tables inside every JPEG
    file, and the keeper would refuse the reference images."""
    from lib import redact

    monkeypatch.setattr(redact, "_secrets", set())
    monkeypatch.setattr(redact, "_grams", set())
    monkeypatch.setattr(redact, "_pattern", None)
