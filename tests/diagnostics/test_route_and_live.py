"""Evidence belongs to the route being diagnosed, live results outrank history, and a key the
app will not send is not sent by a probe either: against the real sandbox."""

from __future__ import annotations

import dataclasses

import pytest

from lib import diagnostics as D
from lib.generation import ClientSettings
from tests.support.diagnostics_setup import MODEL, generate, settings_for


def test_another_keys_server_errors_are_not_evidence_against_this_route(sandbox, store):
    other = settings_for(sandbox, "server_error", api_key="local-other-key-AAAA", max_retries=0, use_fallback=False)
    assert generate(other, store).error.error_type == "server_error"
    mine = settings_for(sandbox, api_key="local-mine-key-BBBB")
    step = D.run_checks(mine, MODEL, store=store).step(2)
    assert step.status == "pass", step.verdict
    assert not any("server_error" in e.text for e in step.evidence)
    # The same key and URL does see its own 5xx.
    again = D.run_checks(settings_for(sandbox, api_key="local-other-key-AAAA"), MODEL, store=store).step(2)
    assert again.status == "warn" and any("server_error" in e.text for e in again.evidence)


def test_a_429_before_a_success_and_a_clean_probe_warns_step_5(sandbox, store):
    limited = settings_for(sandbox, "rate_limited_always", max_retries=0, use_fallback=False)
    assert generate(limited, store).error.error_type == "rate_limited"
    assert generate(settings_for(sandbox), store).ok
    step = D.run_checks(settings_for(sandbox), MODEL, store=store).step(5)
    assert step.status == "warn", step.verdict
    assert "accepts requests now" in step.verdict


def test_a_live_quota_answer_gets_the_quota_verdict(sandbox, store):
    step = D.run_checks(settings_for(sandbox, "quota_exceeded"), MODEL, store=store).step(5)
    assert step.status == "fail" and "credits or quota" in step.verdict
    assert "rate-limiting" not in step.verdict


def test_timeouts_made_with_another_read_timeout_inform_step_9(sandbox, store):
    short = settings_for(sandbox, "timeout", read_timeout_s=0.5, max_retries=0, use_fallback=False)
    sandbox.configure(hang_s=2.0)
    assert generate(short, store).error.error_type == "timeout"
    sandbox.configure(hang_s=0.0)
    step = D.run_checks(settings_for(sandbox, "timeout", read_timeout_s=180.0), MODEL, store=store, probe=False).step(9)
    assert step.status == "warn", step.verdict
    assert "another read timeout" in step.verdict
    same = D.run_checks(settings_for(sandbox, "timeout", read_timeout_s=0.5), MODEL, store=store, probe=False).step(9)
    assert same.status == "fail"


@pytest.mark.parametrize(
    "key, says",
    [
        ("Bearer local-test-key-123456", "starts with 'Bearer'"),
        ('"local-test-key-123456"', "quotes"),
        ("local-test-key-123456\n", "whitespace"),
    ],
)
def test_a_key_the_app_will_not_send_is_not_probed_either(sandbox, store, key, says):
    report = D.run_checks(settings_for(sandbox, api_key=key), MODEL, store=store)
    assert report.step(1).status == "fail" and says in " ".join(e.text for e in report.step(1).evidence)
    endpoint = report.step(2)
    assert "could not be reached" not in endpoint.verdict
    assert any("Not probed live" in e.text for e in endpoint.evidence)
    assert store.db.execute("SELECT count(*) FROM attempts").fetchone()[0] == 0  # nothing went out


def test_a_blocked_test_image_passes_no_step_it_did_not_reach(sandbox, store):
    report = D.run_checks(settings_for(sandbox, "content_policy"), MODEL, store=store, spend=True)
    for number in (6, 7, 9):
        step = report.step(number)
        assert step.status != "pass", (number, step.verdict)
        assert "no test image was made" not in step.verdict
    assert not any("came back" in e.text for e in report.step(4).evidence)
    assert report.step(8).status == "warn"


def test_steps_6_and_7_do_not_pass_when_no_image_was_ever_made(sandbox, store):
    refused = settings_for(sandbox, "auth", max_retries=0, use_fallback=False)
    assert generate(refused, store).error.error_type == "auth"
    report = D.run_checks(settings_for(sandbox, "auth"), MODEL, store=store, probe=False)
    assert report.step(6).status == "not_checked" and report.step(7).status == "not_checked"


def test_a_report_of_other_settings_is_refused_as_current(sandbox, store):
    report = D.run_checks(settings_for(sandbox), MODEL, store=store, probe=False)
    assert D.stale_changes(report, settings_for(sandbox), MODEL) == []
    moved = dataclasses.replace(settings_for(sandbox, read_timeout_s=3.0), base_url=sandbox.base_url + "/v1")
    changes = D.stale_changes(report, moved, MODEL)
    assert changes == ["base URL", "read timeout"]  # the endpoint it builds is the same: /v1/v1 is collapsed
    assert D.stale_changes(report, settings_for(sandbox), "gpt-image-1.5") == ["model", "fallback chain"]
    with pytest.raises(D.ReportError, match="out of date: .*read timeout"):
        D.save_report(store, report, current=(moved, MODEL))
    assert store.db.execute("SELECT count(*) FROM reports").fetchone()[0] == 0
    assert D.save_report(store, report, current=(settings_for(sandbox), MODEL))
    other_key = settings_for(sandbox, api_key="local-test-key-ZZZZ")
    assert D.fingerprint_digest(other_key, MODEL) != D.fingerprint_digest(settings_for(sandbox), MODEL)


def test_the_spend_estimate_is_what_its_attempt_records(sandbox, store):
    usd, _ = D.estimate_spend(MODEL)
    report = D.run_checks(settings_for(sandbox), MODEL, store=store, spend=True)
    assert report.step(7).status == "pass"
    recorded = store.db.execute("SELECT cost_usd, cost_basis FROM attempts WHERE image_count > 0").fetchall()
    assert len(recorded) == 1
    cost, basis = recorded[0]
    spent = report.step(6).evidence[0].text
    assert spent.startswith("Spent one image") and f"estimated ${usd:.3f}" in spent
    if basis == "size_quality":  # priced by size and quality: the estimate is the record
        assert cost == pytest.approx(usd) and "recorded" not in spent
    else:  # the provider reported token usage, which priced the attempt: both figures are shown
        assert basis == "usage" and f"recorded ${cost:.3f}" in spent and "usage" in spent


@pytest.mark.parametrize(
    "path, says",
    [
        ("/gpt-image-2/images/generations", "Remove the model name from the path"),
        ("/models/gpt-image-2", "Remove the model name from the path"),
        ("/image/generation", "Use the plural route '/images/generations'"),
    ],
)
def test_a_wrong_path_gets_its_corrected_url_and_the_probe_tries_that(sandbox, store, path, says):
    settings = ClientSettings(provider="custom", base_url=sandbox.base_url + path, api_key="local-test-key-123456")
    step = D.run_checks(settings, MODEL, store=store).step(2)
    fixed = sandbox.base_url + "/images/generations"
    assert step.status == "fail"
    assert step.verdict == f"{says}: the corrected URL is {fixed}."
    assert says in step.fix and sandbox.base_url in step.fix
    assert "No usable endpoint" not in step.verdict
    assert any("only the base URL needs changing" in e.text for e in step.evidence)
    urls = [r[0] for r in store.db.execute("SELECT url FROM attempts")]
    assert fixed in urls and not any("/v1/gpt-image-2" in u or u.count("/v1") > 1 for u in urls)


def test_step_8_does_not_pass_when_no_request_got_past_the_key(sandbox, store):
    refused = settings_for(sandbox, "auth", max_retries=0, use_fallback=False)
    assert generate(refused, store).error.error_type == "auth"
    step = D.run_checks(settings_for(sandbox, "auth"), MODEL, store=store, probe=False).step(8)
    assert step.status == "not_checked", step.verdict


def test_a_blocked_test_image_alone_says_so_in_step_8(sandbox, store):
    step = D.run_checks(settings_for(sandbox, "content_policy"), MODEL, store=store, spend=True).step(8)
    assert step.status == "warn" and step.verdict.startswith("The harmless test prompt was blocked")


def test_a_base_url_with_the_model_name_is_corrected_by_the_endpoint_builder_alone(sandbox, store):
    settings = ClientSettings(provider="custom", base_url=sandbox.base_url + "/GPT-Image-2", api_key="local-test-key-123456")
    assert settings.endpoint.url == sandbox.base_url + "/images/generations"  # one rule: the builder's
    report = D.run_checks(settings, MODEL, store=store, spend=True)
    step = report.step(2)
    assert step.status == "fail" and step.verdict.startswith("Remove the model name from the path: the corrected URL is")
    assert f"Set the base URL to {sandbox.base_url};" in step.fix
    refused = store.db.execute("SELECT error_message FROM attempts WHERE error_type = 'invalid_input'").fetchone()[0]
    assert f"Set the base URL to {sandbox.base_url} " in refused  # the test image's refusal names it too


@pytest.mark.parametrize(
    "base_url, says",
    [
        ("api.example.com/v1", "no scheme; write it in full, e.g. https://api.example.com/v1"),
        ("https://user:pw@api.example.com/v1", "user name or password"),
    ],
)
def test_a_base_url_refused_from_its_text_says_why_in_step_2(store, base_url, says):
    step = D.run_checks(ClientSettings(provider="custom", base_url=base_url, api_key="local-test-key-123456"), MODEL, store=store).step(2)
    assert step.status == "fail" and says in step.verdict and says in step.fix
    assert any("No request is sent" in e.text for e in step.evidence) and any(says in e.text for e in step.evidence)
