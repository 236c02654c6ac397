"""Misconfigurations users make, and what Diagnostics says about each: a verdict that names the
real problem and a fix that names what to set. Against the sandbox, and small stand-in gateways
(httpx.MockTransport) for a web page answering 200 and a gateway refusing every path."""

from __future__ import annotations

import httpx
import pytest

from lib import diagnostics as D
from lib.generation import ClientSettings
from lib.providers import build_endpoint
from tests.support.diagnostics_setup import MODEL, settings_for
from tests.support.source_cli import run

KEY = "local-test-key-123456"
OPENAI_SHAPED = "sk-proj-" + "a1B2c3D4" * 6


def gateway(handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def web_page(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, html="<html><head><title>Welcome</title></head><body><h1>Our image service</h1></body></html>")


def refuses_every_path(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        401, json={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}
    )


def custom(base_url: str = "https://gw.example.com/v1", key: str = KEY) -> ClientSettings:
    return ClientSettings(provider="custom", base_url=base_url, api_key=key)


def test_a_gateway_answering_200_with_a_web_page_fails_step_2_not_passes_it(store):
    report = D.run_checks(custom(), MODEL, store=store, transport=gateway(web_page))
    step = report.step(2)
    assert step.status == "fail" and "web page" in step.verdict, step.verdict
    assert "not its website" in step.fix
    assert report.step(5).status == "not_checked"  # a web page says nothing about rate limits


@pytest.mark.parametrize("where", ["gateway", "sandbox"])
def test_a_key_refused_on_every_path_leaves_the_route_and_limits_unconfirmed(sandbox, store, where):
    if where == "gateway":
        report = D.run_checks(custom(), MODEL, store=store, transport=gateway(refuses_every_path))
    else:
        report = D.run_checks(settings_for(sandbox, "auth"), MODEL, store=store)
    assert report.step(1).status == "fail" and "401" in report.step(1).verdict
    endpoint = report.step(2)
    assert "not confirmed" in endpoint.verdict and "answers like an image API" not in endpoint.verdict
    limits = report.step(5)
    assert limits.status == "not_checked", limits.verdict  # not "answered 401, not 429: no rate limit"
    assert "did not get past the key" in limits.verdict


def test_plain_http_to_a_remote_host_says_which_https_url_to_set(store):
    step = D.run_checks(custom("http://gw.example.com/v1"), MODEL, store=store, probe=False).step(2)
    assert step.status == "warn" and "unencrypted" in step.verdict
    assert step.fix == "Set the base URL to https://gw.example.com/v1 (https)."


def test_a_host_that_is_not_the_presets_names_the_presets_base_url(store):
    settings = ClientSettings(provider="wisgate", base_url="https://api.evolink.ai/v1", api_key=KEY)
    step = D.run_checks(settings, MODEL, store=store, probe=False).step(2)
    assert step.status == "warn" and "https://api.wisgate.ai/v1" in step.fix and "Custom provider" in step.fix


@pytest.mark.parametrize("probe", [False, True])
def test_an_openai_key_for_a_gateway_preset_is_named_as_such(store, probe):
    settings = ClientSettings(provider="wisgate", api_key=OPENAI_SHAPED, key_source="typed")
    transport = gateway(refuses_every_path) if probe else None
    report = D.run_checks(settings, MODEL, store=store, probe=probe, transport=transport)
    step = report.step(1)
    assert step.status == ("fail" if probe else "warn"), step.verdict
    assert any("shaped like an OpenAI key" in e.text for e in step.evidence)
    assert "Use a key from WisGate" in step.fix and "WISGATE" in step.fix
    assert OPENAI_SHAPED not in D.report_to_json(report)


def test_an_openai_key_on_openai_or_a_custom_gateway_is_not_flagged(store):
    for provider in ("openai", "custom"):
        settings = ClientSettings(
            provider=provider, base_url=None if provider == "openai" else "https://gw.example.com/v1", api_key=OPENAI_SHAPED
        )
        step = D.run_checks(settings, MODEL, store=store, probe=False).step(1)
        assert not any("shaped like" in e.text for e in step.evidence), provider


def test_a_route_refusing_the_model_is_a_route_that_exists(store):
    def unknown_model(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "seedream-4-5"}]})
        body = {
            "error": {
                "message": "The model 'gpt-image-2' does not exist",
                "type": "invalid_request_error",
                "code": "model_not_found",
                "param": "model",
            }
        }
        return httpx.Response(404, json=body)

    report = D.run_checks(custom(), MODEL, store=store, transport=gateway(unknown_model))
    endpoint = report.step(2)
    assert endpoint.status == "pass" and "does not exist at this address" not in endpoint.verdict, endpoint.verdict
    assert "see step 3" in endpoint.verdict
    assert report.step(3).status != "pass"  # the model is the problem: step 3 says so


@pytest.mark.parametrize("tail", ["?", "#", "/images/generations", "/images/generations/", "/images/generations?"])
def test_a_pasted_route_or_an_empty_query_or_fragment_is_the_same_endpoint(sandbox, store, tail):
    settings = custom(sandbox.base_url + tail)
    assert settings.endpoint.url == sandbox.base_url + "/images/generations" and settings.endpoint.ok
    assert D.run_checks(settings, MODEL, store=store).step(2).status == "pass"


@pytest.mark.parametrize("model", ["GPT-Image-2", "Gpt-Image-2", "gpt_image_2"])
def test_a_model_id_in_another_case_or_spelling_fails_step_3_with_the_exact_id(sandbox, store, model):
    step = D.run_checks(settings_for(sandbox), model, store=store).step(3)
    assert step.status == "fail" and "'gpt-image-2'" in step.fix


def test_doctor_exits_0_on_a_doubled_v1_the_app_corrects_and_1_with_fail_on_warn(sandbox, tmp_path):
    args = ["doctor", "--provider", "custom", "--base-url", sandbox.base_url + "/v1", "--api-key", KEY, "--data-dir", str(tmp_path)]
    p = run(*args)
    assert p.returncode == 0, p.stdout + p.stderr
    (line,) = [x for x in p.stdout.splitlines() if x.startswith("2 ")]
    assert "WARNING" in line and "as typed does not work" in line
    assert run(*args, "--fail-on", "warn").returncode == 1


def test_the_model_in_the_path_is_never_built_into_the_url():
    ep = build_endpoint("https://api.example.com/v1/gpt-image-2")
    assert "/gpt-image-2/" not in ep.url and ep.url.count("/v1") == 1


# --------------------------------------------------------------------------
# The hostile provider: answers no healthy API gives


def hostile_settings(hostile, probe: str) -> ClientSettings:
    return ClientSettings(provider="custom", base_url=hostile.base_url(probe), api_key=KEY, max_retries=0, use_fallback=False)


@pytest.mark.parametrize("probe", ["huge_length", "gzip_bomb", "endless_chunked"])
def test_a_host_that_answered_too_much_was_reached(hostile, store, probe):
    step = D.run_checks(hostile_settings(hostile, probe), MODEL, store=store).step(2)
    assert step.status == "warn" and "could not be reached" not in step.verdict, step.verdict
    assert "could not be read" in step.verdict and "base URL" in step.fix


def test_a_gateway_that_generates_for_a_body_without_a_prompt_has_a_route_and_no_limit_now(hostile, store):
    report = D.run_checks(hostile_settings(hostile, "healthy"), MODEL, store=store)
    assert report.step(2).status == "pass" and "HTTP 200" in report.step(2).verdict
    assert report.step(5).status == "pass", report.step(5).verdict


def test_a_200_that_is_not_json_leaves_the_route_unconfirmed(hostile, store):
    step = D.run_checks(hostile_settings(hostile, "echo_malformed"), MODEL, store=store).step(2)
    assert step.status == "warn" and "not JSON" in step.verdict


@pytest.mark.parametrize("probe, says", [("retry_after_inf", "forever"), ("retry_after_date", "days"), ("retry_after_huge", "999,999 s")])
def test_a_wait_no_one_waits_for_is_said_in_words_in_step_5(hostile, store, probe, says):
    step = D.run_checks(hostile_settings(hostile, probe), MODEL, store=store).step(5)
    assert step.status == "warn" and says in step.verdict and "not waited for" in step.verdict, step.verdict


def test_http_for_a_host_that_redirects_to_https_says_to_use_https(store):
    def to_https(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"location": str(request.url.copy_with(scheme="https"))})

    step = D.run_checks(custom("http://gw.example.com/v1"), MODEL, store=store, transport=gateway(to_https)).step(2)
    assert step.status == "fail" and "redirects plain http to https" in step.verdict
    assert step.fix == "Set the base URL to https://gw.example.com/v1."


def test_a_redirect_to_a_sign_in_page_names_where_it_goes(store):
    def sign_in(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "https://gw.example.com/login?next=/v1&token=abc"})

    step = D.run_checks(custom(), MODEL, store=store, transport=gateway(sign_in)).step(2)
    assert step.status == "fail" and "redirects (302) to https://gw.example.com/login" in step.verdict
    assert "token=abc" not in step.verdict
