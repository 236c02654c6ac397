"""Every probe of the hostile provider ends as its table says (tests/support/hostile_probes.py).

One attempt, no fallback, under the table's low limits; whatever the probe, the generation
ends (in seconds) and leaves no attempt pending.
"""

from __future__ import annotations

import time

import pytest

from lib import constants as C
from lib.client import ImageClient
from lib.errors import ERROR_TYPES
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from tests.support import hostile_probes as T
from tests.support.hostile_probes import PROBES, probes
from tests.support.memory_recorder import MemoryRecorder

KEY = "sk-probes-" + "Vb6" * 12 + "Nm3T"


@pytest.fixture
def low_limits(monkeypatch):
    monkeypatch.setattr(C, "MAX_ANSWER_BYTES", T.ANSWER_CAP_BYTES)
    monkeypatch.setattr(C, "DOWNLOAD_TIMEOUT_S", T.DOWNLOAD_TIMEOUT_S)


def generate(hostile, probe: str):
    settings = ClientSettings(
        provider="custom",
        base_url=hostile.base_url(probe),
        api_key=KEY,
        key_source="typed",
        read_timeout_s=T.READ_TIMEOUT_S,
        max_retries=0,
        use_fallback=False,
        task_deadline_s=T.TASK_DEADLINE_S,
    )
    recorder = MemoryRecorder()
    t0 = time.monotonic()
    with ImageClient(settings=settings, recorder=recorder, limiter=ProviderLimiter(rate_per_s=1000, burst=1000), sleep=lambda s: None) as c:
        out = c.generate(GenerationRequest(prompt=f"probe {probe}", model="gpt-image-2", size="1024x1024", stream=PROBES[probe].stream))
    assert time.monotonic() - t0 < T.TASK_DEADLINE_S + 5, "a probe ran past every limit"
    assert recorder.attempts and all(a["status"] != "pending" for a in recorder.attempts.values())
    return out


@pytest.mark.parametrize("probe", probes(ok=True))
def test_a_probe_that_must_succeed_ends_with_an_image(hostile, low_limits, probe):
    out = generate(hostile, probe)
    assert out.ok and len(out.images) == 1, out.error


@pytest.mark.parametrize("probe", probes(ok=False))
def test_a_probe_that_must_fail_ends_in_its_error(hostile, low_limits, probe):
    expected = PROBES[probe]
    out = generate(hostile, probe)
    assert not out.ok, f"{probe} should end as {expected.ends}"
    assert out.error.error_type == expected.error_type, (probe, out.error)
    if expected.code is not None:
        assert out.error.code == expected.code, (probe, out.error)
    assert expected.says in out.error.message, (probe, out.error.message)


def test_the_table_speaks_the_apps_vocabulary():
    """A typo in the table would make a probe its own answer shape, or expect an error the app has no name for."""
    assert len(PROBES) >= 30
    for name, probe in PROBES.items():
        assert probe.what and probe.answer in ("error", "page", "malformed", "image", "url", "task_a", "task_b", "body", "stream"), name
        assert probe.ok or probe.error_type in ERROR_TYPES, name
