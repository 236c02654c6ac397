"""What an error card says: the step that helps, words for each kind of network failure, a task deadline told
from a read timeout, and retries named only when they happened."""

from __future__ import annotations

import socket

import httpx
import pytest

from lib import errors as E
from lib.answers import read_image_stream
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from tests.support.memory_recorder import MemoryRecorder
from tests.support.mock_client import mock_client

REQ = GenerationRequest(prompt="a harbour at dusk", model="gpt-image-2", size="1024x1024")


def test_a_task_past_its_deadline_is_fixed_by_the_task_deadline_at_step_4():
    err = E.Timeout("The task was still 'running' after 30 s (the task deadline).", code="task_deadline")
    card = E.describe(err)
    assert card["step"] == 4 and "task deadline" in card["fix"] and "does not limit a task" in card["fix"]


def test_a_read_timeout_is_fixed_by_the_read_timeout_at_step_9():
    card = E.describe(E.Timeout("Timed out while waiting for the answer (ReadTimeout).", code="ReadTimeout"))
    assert card["step"] == 9 and "read timeout" in card["fix"] and "task" not in card["fix"]


def test_the_client_s_task_deadline_error_is_the_task_deadline_card():
    polls = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"data": {"task_id": "t-1", "status": "pending"}})
        polls.append(request)
        return httpx.Response(200, json={"data": {"task_id": "t-1", "status": "running"}})

    with mock_client(handler, task_deadline_s=5) as c:
        c.clock = _Ticking()
        out = c.generate(REQ)
    assert out.error.error_type == "timeout" and out.error.code == "task_deadline"
    assert E.describe(out.error)["step"] == 4


class _Ticking:
    """A clock that moves one second each time it is read: a task deadline passes without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_says_nothing_listens_at_host_and_port():
    port = _free_port()  # bound, then closed: nothing listens there now
    s = ClientSettings(provider="sandbox", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, use_fallback=False, connect_timeout_s=2)
    with ImageClient(settings=s, recorder=MemoryRecorder(), limiter=ProviderLimiter(), sleep=lambda x: None) as client:
        out = client.generate(REQ)
    assert out.error.error_type == "network" and out.error.code == "connection_refused"
    assert f"nothing listens at 127.0.0.1:{port}" in out.error.message
    card = E.describe(out.error)
    assert card["title"] == "Nothing listens at that address" and "proxy" not in card["fix"] and card["step"] == 2


def _raising(exc_factory):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_factory(request)

    return handler


@pytest.mark.parametrize(
    "factory, code, words, title",
    [
        (
            lambda r: httpx.ConnectError("[Errno -2] Name or service not known", request=r),
            "dns_failure",
            "could not be resolved",
            "The host name does not resolve",
        ),
        (
            lambda r: httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=r),
            "tls_failure",
            "TLS handshake",
            "The secure connection could not be set up",
        ),
        (
            lambda r: httpx.ReadError("[Errno 104] Connection reset by peer", request=r),
            "connection_reset",
            "reset or closed in the middle",
            "The connection was cut in the middle of the answer",
        ),
        (
            lambda r: httpx.RemoteProtocolError("Server disconnected without sending a response.", request=r),
            "connection_reset",
            "reset or closed in the middle",
            "The connection was cut in the middle of the answer",
        ),
        (
            lambda r: httpx.ProxyError("407 Proxy Authentication Required", request=r),
            "proxy_error",
            "proxy",
            "The proxy refused or failed the connection",
        ),
    ],
)
def test_each_network_failure_has_its_own_words(factory, code, words, title):
    with mock_client(_raising(factory)) as c:
        out = c.generate(REQ)
    assert out.error.error_type == "network" and out.error.code == code
    assert words in out.error.message and "127.0.0.1:9" in out.error.message
    assert E.describe(out.error)["title"] == title


@pytest.mark.parametrize("error_type", [t for t in E.ERROR_TYPES if t not in ("interrupted", "app_error", "server_error")])
def test_every_card_names_a_checklist_step(error_type):
    assert E.describe(E.make_error(error_type, "x"))["step"] is not None


def test_a_local_write_failure_card_names_step_7():
    assert E.describe(E.AppError("could not write", code="local_write"))["step"] == 7


def test_an_error_event_mid_stream_of_unknown_words_is_a_refused_request_at_step_6():
    stream = [b'event: error\ndata: {"type": "error", "error": {"message": "the request could not be completed"}}\n\n']
    with pytest.raises(E.ImageLabError) as caught:
        read_image_stream(iter(stream))
    assert caught.value.error_type == "bad_request" and E.step_of(caught.value) == 6


@pytest.mark.parametrize("max_retries, sent, note", [(0, 1, "not retried"), (2, 3, "sent 3 times (2 retries)")])
def test_retries_are_named_only_when_they_happened(max_retries, sent, note):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error"}})

    with mock_client(handler, max_retries=max_retries) as c:
        out = c.generate(REQ)
    assert len(calls) == sent
    assert E.retry_note(out.error, out.attempts) == note


def test_an_error_never_retried_by_policy_says_why():
    with mock_client(lambda r: httpx.Response(401, json={"error": {"message": "bad key"}}), max_retries=2) as c:
        out = c.generate(REQ)
    assert E.retry_note(out.error, out.attempts) == "not retried (it would fail the same way)"


def test_a_redirect_to_a_login_page_is_named_as_such():
    def handler(request):
        return httpx.Response(302, headers={"location": "https://sso.example.com/login?next=/v1/images&token=Zq81sKe0aa77"})

    with mock_client(handler) as c:
        out = c.generate(REQ)
    assert out.error.code == "redirect_login" and "sign-in page" in out.error.message
    assert "Zq81sKe0aa77" not in out.error.message  # a signed query string is cut
    assert E.describe(out.error)["title"] == "The address redirects to a sign-in page"


def test_a_200_web_page_is_named_as_a_web_page():
    html = "<!doctype html><html><head><title>Acme Portal</title></head><body>Welcome</body></html>"
    with mock_client(lambda r: httpx.Response(200, text=html, headers={"content-type": "text/html"})) as c:
        out = c.generate(REQ)
    assert out.error.error_type == "bad_response" and out.error.code == "html_answer"
    assert "Acme Portal" in out.error.message
    assert E.describe(out.error)["title"] == "The address answered with a web page, not the API"
