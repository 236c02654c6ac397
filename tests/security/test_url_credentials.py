"""A base URL with a user name or password: refused before sending, and masked wherever it is kept or shown."""

from __future__ import annotations

import logging

import pytest

from lib import redact
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.store import Store

SECRET = "hunter2Zq"


@pytest.mark.parametrize(
    "text,shown",
    [
        (f"https://alice:{SECRET}@api.example.com/v1", "https://••••@api.example.com/v1"),
        (f"https://alice:{SECRET}%40x%3A@api.example.com:8443/v1", "https://••••@api.example.com:8443/v1"),
        (f"https://alice:{SECRET}@x@api.example.com/v1", "https://••••@api.example.com/v1"),  # a raw @ in the password
        (f"https://{SECRET}@api.example.com/v1", "https://••••@api.example.com/v1"),  # a token as the user name
        (
            f"failed: POST https://a:{SECRET}@h.example/v1/images/generations (502)",
            "failed: POST https://••••@h.example/v1/images/generations (502)",
        ),
        (f'{{"base_url": "https://a:{SECRET}@h.example/v1"}}', '{"base_url": "https://••••@h.example/v1"}'),
        (f"alice:{SECRET}@api.example.com/v1", "••••@api.example.com/v1"),  # no scheme
        ("write to bob@example.com", "write to bob@example.com"),  # an e-mail address is not a credential
    ],
)
def test_scrub_masks_url_credentials(text, shown):
    assert redact.scrub(text) == shown


def test_strip_query_masks_credentials_too():
    assert redact.strip_query(f"https://a:{SECRET}@h.example/img.png?token=abc") == "https://••••@h.example/img.png?••••"


def test_a_base_url_as_typed_is_masked_even_without_a_scheme():
    assert redact.mask_url(f"{SECRET}@api.example.com/v1") == "••••@api.example.com/v1"
    assert redact.mask_url("https://api.example.com/v1") == "https://api.example.com/v1"


def test_logs_mask_url_credentials(caplog):
    logger = logging.getLogger("imagelab.test.urls")
    logger.addFilter(redact.ScrubFilter())
    with caplog.at_level(logging.INFO, logger="imagelab.test.urls"):
        logger.info("sending to %s", f"https://alice:{SECRET}@api.example.com/v1")
    assert SECRET not in caplog.text and "https://••••@api.example.com/v1" in caplog.text


def test_a_credentialed_base_url_is_refused_and_kept_nowhere(tmp_path):
    store = Store(data_dir=tmp_path / "data")
    url = f"https://alice:{SECRET}@api.example.com/v1"
    settings = ClientSettings(provider="custom", base_url=url, max_retries=0)
    limiter = ProviderLimiter(rate_per_s=1000, burst=1000)
    with ImageClient(settings=settings, recorder=store, keeper=store.keeper, limiter=limiter) as client:
        out = client.generate(GenerationRequest(prompt="a kite"))
    assert out.error.error_type == "invalid_input" and out.error.param == "base_url"
    assert "user name or password" in out.error.message and SECRET not in out.error.message
    assert SECRET not in repr(settings.describe()) and "https://••••@api.example.com/v1" in repr(settings.describe())
    store.close()
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
