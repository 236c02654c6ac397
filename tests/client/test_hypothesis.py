"""Whatever a provider sends, it is classified; nothing escapes as an unhandled exception."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib import errors as E
from lib.classify import classify_response, classify_task_failure
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from tests.support.clock import FakeClock
from tests.support.memory_recorder import MemoryRecorder

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "error",
                    "data",
                    "message",
                    "code",
                    "type",
                    "param",
                    "status",
                    "task_id",
                    "id",
                    "b64_json",
                    "url",
                    "results",
                    "detail",
                    "object",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
statuses = st.sampled_from(
    [200, 201, 202, 204, 301, 400, 401, 402, 403, 404, 405, 408, 409, 413, 422, 429, 500, 502, 503, 504, 520, 524, 599]
)
ctypes = st.sampled_from(["application/json", "text/html", "text/plain", "", "application/octet-stream"])


@given(status=statuses, body=json_values, ctype=ctypes)
@settings(max_examples=300, deadline=None)
def test_any_json_body_is_classified(status, body, ctype):
    err = classify_response(status, json.dumps(body).encode(), headers={"content-type": ctype})
    assert err.error_type in E.ERROR_TYPES
    assert isinstance(err.message, str)


@given(status=statuses, body=st.binary(max_size=300), ctype=ctypes, retry_after=st.none() | st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_byte_string_is_classified(status, body, ctype, retry_after):
    headers = {"content-type": ctype}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    err = classify_response(status, body, headers=headers)
    assert err.error_type in E.ERROR_TYPES


@given(error=json_values)
@settings(max_examples=200, deadline=None)
def test_any_task_failure_is_classified(error):
    assert classify_task_failure(error).error_type in E.ERROR_TYPES


@given(status=statuses, body=json_values | st.binary(max_size=200), ctype=ctypes)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_whole_client_never_raises(status, body, ctype):
    """Every answer ends as an Outcome (ok or with a vocabulary error), even polls of fake tasks."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    clock = FakeClock(start=0.0)  # a fixture cannot be used under @given: one clock per example

    def handler(request):
        return httpx.Response(status, content=raw, headers={"content-type": ctype} if ctype else {})

    settings_ = ClientSettings(provider="custom", base_url="https://gw.example.com/v1", api_key="k" * 20, max_retries=1, task_deadline_s=3)
    client = ImageClient(
        settings=settings_,
        recorder=MemoryRecorder(),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        limiter=ProviderLimiter(rate_per_s=1e6, burst=10**6, clock=clock, sleep=clock.sleep),
    )
    out = client.generate(GenerationRequest(prompt="x"))
    assert out.ok or out.error.error_type in E.ERROR_TYPES
