"""An ImageClient on httpx.MockTransport that never waits, and the image a mock provider answers with."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
from PIL import Image

from lib.client import ImageClient
from lib.generation import ClientSettings
from lib.limits import ProviderLimiter
from tests.support.memory_recorder import MemoryRecorder


def png_b64(color=(200, 40, 40), size=(16, 16)) -> str:
    """A small PNG, base64-encoded as a b64_json answer carries it."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def mock_client(handler, *, recorder: Any = None, keeper: Any = None, **settings: Any) -> ImageClient:
    """A client whose every request is answered by ``handler`` (one attempt, no fallback unless asked);
    its sleeps and its limiter never wait. Records to ``recorder`` (a MemoryRecorder by default)."""
    settings.setdefault("max_retries", 0)
    settings.setdefault("use_fallback", False)
    s = ClientSettings(provider="sandbox", base_url="http://127.0.0.1:9/v1", **settings)
    return ImageClient(
        settings=s,
        recorder=recorder if recorder is not None else MemoryRecorder(),
        keeper=keeper,
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        limiter=ProviderLimiter(rate_per_s=1e6, burst=10**6, sleep=lambda s: None),
    )
