"""The key goes only where it belongs: a configured key is bound to its host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from lib import errors as E
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.limits import ProviderLimiter
from lib.providers import LOOPBACK, PRESETS, resolve_key_for
from tests.support import ROOT
from tests.support.memory_recorder import MemoryRecorder

OPENAI_KEY = "sk-operator-" + "Q7w" * 14  # 53 characters, shaped like an OpenAI key
GW_KEY = "sk-gw-key-" + "x9" * 20
REQ = GenerationRequest(prompt="a kite", model="gpt-image-2", size="1024x1024")
PNG_B64 = None


def _png_b64() -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


class Recorder:
    """A MockTransport handler that records what was sent and answers with one image."""

    def __init__(self):
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"data": [{"b64_json": _png_b64()}]})


def _client(settings: ClientSettings, handler) -> ImageClient:
    return ImageClient(
        settings=settings,
        recorder=MemoryRecorder(),
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        clock=lambda: 0.0,
        limiter=ProviderLimiter(rate_per_s=1000, burst=1000, max_concurrency=4, clock=lambda: 0.0, sleep=lambda s: None),
    )


def _settings(provider: str, base_url: str | None, **resolve) -> ClientSettings:
    r = resolve_key_for(PRESETS[provider], base_url=base_url, **resolve)
    return ClientSettings(
        provider=provider, base_url=base_url, api_key=r.key, key_source=r.source, key_host=r.host, max_retries=0, use_fallback=False
    )


# --- resolution ---------------------------------------------------------------------


def test_an_environment_key_is_bound_to_its_preset_host():
    r = resolve_key_for(PRESETS["openai"], base_url=None, environ={"OPENAI_API_KEY": OPENAI_KEY})
    assert (r.source, r.host, r.withheld) == ("environment", "api.openai.com", "")
    evil = resolve_key_for(PRESETS["openai"], base_url="https://collector.example.net/v1", environ={"OPENAI_API_KEY": OPENAI_KEY})
    assert evil.withheld and "api.openai.com" in evil.withheld and "collector.example.net" in evil.withheld
    assert OPENAI_KEY not in evil.withheld and OPENAI_KEY[-8:] not in evil.withheld


def test_host_keys_give_a_key_to_another_host_only():
    secrets = {"OPENAI_API_KEY": OPENAI_KEY, "host_keys": {"Gateway.Example.com": GW_KEY}}
    r = resolve_key_for(PRESETS["openai"], base_url="https://gateway.example.com/v1", secrets=secrets, environ={})
    assert (r.key, r.source, r.host, r.withheld) == (GW_KEY, "host_keys", "gateway.example.com", "")
    other = resolve_key_for(PRESETS["openai"], base_url="https://other.example.com/v1", secrets=secrets, environ={})
    assert other.withheld and other.source == "secrets"


def test_a_typed_key_goes_where_the_user_points_it():
    r = resolve_key_for(
        PRESETS["openai"], base_url="https://anywhere.example/v1", typed="sk-" + "t" * 45, environ={"OPENAI_API_KEY": OPENAI_KEY}
    )
    assert (r.source, r.host, r.withheld) == ("typed", "", "")


def test_the_custom_preset_key_needs_a_named_host():
    env = {"IMAGELAB_API_KEY": GW_KEY}
    assert resolve_key_for(PRESETS["custom"], base_url="https://gw.example.com/v1", environ=env).withheld
    env["IMAGELAB_API_HOST"] = "gw.example.com"
    r = resolve_key_for(PRESETS["custom"], base_url="https://gw.example.com/v1", environ=env)
    assert (r.host, r.withheld) == ("gw.example.com", "")


def test_the_sandbox_key_stays_on_loopback():
    env = {"IMAGELAB_SANDBOX_KEY": GW_KEY}
    assert resolve_key_for(PRESETS["sandbox"], base_url="http://127.0.0.1:9/v1", environ=env).host == LOOPBACK
    assert not resolve_key_for(PRESETS["sandbox"], base_url="http://127.0.0.1:9/v1", environ=env).withheld
    assert resolve_key_for(PRESETS["sandbox"], base_url="https://example.org/v1", environ=env).withheld


# --- refusal before sending ------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url, param, step",
    [
        ("https://collector.example.net/v1", "api_key", 1),  # another host
        ("https://api.openai.com.evil.example/v1", "api_key", 1),  # a look-alike host
        ("http://api.openai.com/v1", "base_url", 2),  # the right host, but in the clear
        ("http://127.0.0.1:1/v1", "api_key", 1),  # loopback is for the sandbox's key only
    ],
)
def test_a_configured_key_is_refused_before_anything_is_sent(base_url, param, step):
    settings = _settings("openai", base_url, environ={"OPENAI_API_KEY": OPENAI_KEY})
    seen = Recorder()
    outcome = _client(settings, seen).generate(REQ)
    assert seen.requests == []
    assert outcome.error.error_type == "invalid_input" and outcome.error.param == param
    assert E.describe(outcome.error)["step"] == step
    assert OPENAI_KEY[:12] not in outcome.error.message


def test_the_key_goes_to_its_own_host_over_https():
    settings = _settings("openai", "https://api.openai.com/v1", environ={"OPENAI_API_KEY": OPENAI_KEY})
    seen = Recorder()
    outcome = _client(settings, seen).generate(REQ)
    assert outcome.ok, outcome.error
    assert [r.url.host for r in seen.requests] == ["api.openai.com"]
    assert seen.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_a_host_key_is_sent_to_its_host():
    secrets = {"OPENAI_API_KEY": OPENAI_KEY, "host_keys": {"gateway.example.com": GW_KEY}}
    settings = _settings("openai", "https://gateway.example.com/v1", secrets=secrets, environ={})
    seen = Recorder()
    assert _client(settings, seen).generate(REQ).ok
    assert seen.requests[0].headers["authorization"] == f"Bearer {GW_KEY}"


def test_the_send_itself_refuses_a_foreign_host_even_without_preflight():
    """Defence in depth: code that skips preflight (a probe, a poll) still cannot leak the key."""
    settings = ClientSettings(provider="openai", base_url="https://api.openai.com/v1", api_key=OPENAI_KEY, key_source="environment")
    client = _client(settings, Recorder())
    assert client._headers(masked=False, url="https://api.openai.com/v1/tasks/1")["Authorization"].endswith(OPENAI_KEY)
    with pytest.raises(E.InvalidInput) as info:
        client._headers(masked=False, url="https://elsewhere.example/v1/tasks/1")
    assert info.value.param == "api_key"


# --- the command line follows the same rule ---------------------------------------------


class _Listener(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self):  # noqa: N802
        type(self).seen.append(self.headers.get("Authorization", ""))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_cli_refuses_to_send_an_environment_key_to_another_host(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v1"
        env = dict(os.environ, OPENAI_API_KEY=OPENAI_KEY)
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "lib.cli",
                "generate",
                "--prompt",
                "x",
                "--provider",
                "openai",
                "--base-url",
                base,
                "--data-dir",
                str(tmp_path),
                "--no-fallback",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
    finally:
        server.shutdown()
    assert p.returncode == 2, p.stderr
    assert "api.openai.com" in p.stderr and "127.0.0.1" in p.stderr
    assert _Listener.seen == []
    assert OPENAI_KEY[-12:] not in p.stdout + p.stderr


def test_cli_sends_an_explicit_api_key_to_the_given_host(tmp_path, sandbox):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "lib.cli",
            "generate",
            "--prompt",
            "x",
            "--provider",
            "custom",
            "--base-url",
            sandbox.base_url,
            "--api-key",
            GW_KEY,
            "--data-dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ok"] is True
