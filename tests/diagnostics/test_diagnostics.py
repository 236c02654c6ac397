"""The diagnostics checklist against the real sandbox; reports, redaction, round trips."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from lib import diagnostics as D
from lib import errors as E
from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.store import AttemptFilter, Store
from tests.support.diagnostics_setup import MODEL, generate, settings_for


def statuses(report: D.Report) -> dict[int, str]:
    return {s.step: s.status for s in report.steps}


def kinds(step: D.Step) -> set[str]:
    return {e.kind for e in step.evidence}


# --------------------------------------------------------------------------
# The mapping from error types to steps


@pytest.mark.parametrize(
    "error_type,code,param,step",
    [
        ("auth", None, None, 1),
        ("permission", None, None, 1),
        ("endpoint_not_found", None, None, 2),
        ("network", None, None, 2),
        ("model_not_found", None, None, 3),
        ("task_failed", None, None, 4),
        ("timeout", "task_deadline", None, 4),
        ("timeout", "ReadTimeout", None, 9),
        ("rate_limited", None, None, 5),
        ("quota_exceeded", None, None, 5),
        ("bad_request", None, None, 6),
        ("bad_response", None, None, 6),
        ("invalid_image", None, None, 7),
        ("image_fetch_failed", None, None, 7),
        ("content_policy", None, None, 8),
        ("server_error", None, None, 2),
        ("interrupted", None, None, None),
        ("app_error", None, None, None),
        ("invalid_input", "preflight", "api_key", 1),
        ("invalid_input", "key_host", "base_url", 2),
        ("invalid_input", "preflight", "model", 3),
        ("invalid_input", "preflight", "prompt", 6),
        ("invalid_input", "preflight", "size", 6),
        ("invalid_input", "preflight", None, 6),
    ],
)
def test_checklist_step_follows_design(error_type, code, param, step):
    assert E.checklist_step(error_type, code=code, param=param) == step


@pytest.mark.parametrize(
    "message,param,step",
    [
        ("No API key: set OPENAI_API_KEY, ...", "api_key", 1),
        ("Endpoint: No base URL is set.", "base_url", 2),
        ("'gpt-image2' is not an exact model id. Did you mean 'gpt-image-2'?", "model", 3),
        ("The endpoint URL cannot be used: Request URL is missing an 'http://' or 'https://' protocol.", "base_url", 2),
        ("The prompt mentions a monkey; size must be WIDTHxHEIGHT.", None, 6),
        ("The prompt is empty.", None, 6),
    ],
)
def test_attempts_stored_before_error_param_get_their_field_from_the_message(tmp_path, message, param, step):
    """A database from before ``error_param``: the migration reads the field from the message, once."""
    import sqlite_utils

    from lib.store import migrations

    db = sqlite_utils.Database(tmp_path / "old.db")
    pending = [m for m in migrations._migrations if m.name != "m009_error_param"]
    for m in pending:
        m.fn(db)
    db["attempts"].insert({"id": 1, "run_id": None, "error_type": "invalid_input", "error_code": "preflight", "error_message": message})
    next(m for m in migrations._migrations if m.name == "m009_error_param").fn(db)
    row = db["attempts"].get(1)
    assert row["error_param"] == param
    assert E.checklist_step("invalid_input", code="preflight", param=row["error_param"]) == step


def test_a_stored_attempt_maps_to_the_step_of_the_field_it_names(store):
    """The card of a live error and the evidence of its stored attempt agree."""

    settings = ClientSettings(provider="openai", api_key="", key_source="")
    with ImageClient(settings=settings, recorder=store) as client:
        out = client.generate(GenerationRequest(prompt="a fox"))
    assert out.error.error_type == "invalid_input" and E.step_of(out.error) == 1
    row = store.db.execute("SELECT error_type, error_code, error_param FROM attempts").fetchone()
    assert E.checklist_step(row[0], code=row[1], param=row[2]) == 1
    # Never sent, it is no evidence against the route: no step counts it.
    evidence = store.evidence(AttemptFilter())
    assert evidence[1]["total"] == 0 and not any(bucket["errors"] for bucket in evidence.values())


# --------------------------------------------------------------------------
# Each step against the sandbox scenario that breaks it


def test_healthy_set_up_passes_every_step(sandbox, store):
    settings = settings_for(sandbox)
    for prompt in ("a paper boat", "a red kite", "a green door"):
        assert generate(settings, store, prompt).ok
    report = D.run_checks(settings, MODEL, store=store, spend=True)
    assert statuses(report) == {n: "pass" for n in range(1, 10)}, [(s.step, s.verdict) for s in report.steps]
    assert report.status == "pass"
    assert "probe" in kinds(report.step(1)) and "static" in kinds(report.step(2)) and "history" in kinds(report.step(9))
    # The probes are recorded, as attempts of runs of kind 'probe', and left out of the history evidence.
    kinds_of_runs = {r[0]: r[1] for r in store.db.execute("SELECT kind, count(*) FROM runs GROUP BY kind")}
    assert kinds_of_runs["probe"] == 2 and kinds_of_runs["generate"] == 3  # the probes' run, and the spend probe's
    assert store.evidence(AttemptFilter())[1]["total"] == 3
    assert store.evidence(AttemptFilter(), include_probes=True)[1]["total"] > 3
    # The spend probe's image is a small inline thumbnail.
    decoded = [e for e in report.step(7).evidence if e.image]
    assert decoded and decoded[0].image.startswith("data:image/jpeg;base64,") and len(decoded[0].image) < 20_000


def test_bad_key_fails_step_1(sandbox, store):
    report = D.run_checks(settings_for(sandbox, "auth"), MODEL, store=store)
    key = report.step(1)
    assert key.status == "fail" and "401" in key.verdict and "probe" in kinds(key)
    assert "key" in key.fix.lower()
    assert report.step(2).status == "pass"  # a 401 is not the route's fault


def test_malformed_key_fails_step_1_statically(sandbox):
    report = D.run_checks(settings_for(sandbox, api_key="sk-abc def"), MODEL, probe=False)
    step = report.step(1)
    assert step.status == "fail" and kinds(step) == {"static"} and "spaces" in step.fix


def test_no_access_fails_step_1_with_the_403(sandbox, store):
    step = D.run_checks(settings_for(sandbox, "permission"), MODEL, store=store).step(1)
    assert step.status == "fail" and "403" in step.verdict and "verify" in step.fix


def test_doubled_v1_in_a_custom_base_url_warns_step_2_as_the_app_sends_to_the_corrected_url(sandbox, store):
    settings = ClientSettings(provider="custom", base_url=sandbox.base_url + "/v1", api_key="local-test-key-123456")
    report = D.run_checks(settings, MODEL, store=store)
    step = report.step(2)
    assert step.status == "warn", step.verdict  # requests work; other tools using the URL as typed would not
    assert report.status == "warn" and generate(settings, store).ok
    assert "as typed" in step.verdict and sandbox.base_url in step.fix
    assert any("doubled /v1" in e.text for e in step.evidence if e.kind == "static")
    assert any(e.kind == "probe" and "404" in e.text for e in step.evidence)


def test_wrong_route_fails_step_2(sandbox, store):
    step = D.run_checks(settings_for(sandbox, "endpoint_not_found"), MODEL, store=store).step(2)
    assert step.status == "fail" and "404" in step.verdict


def test_a_url_that_refuses_post_is_told_apart_as_405(sandbox):
    # A static web server (a docs site pasted as the base URL) answers POST with nginx's 405 page.
    from lib.sandbox import _NGINX_405

    def static_site(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text="<html>docs</html>", headers={"content-type": "text/html"})
        return httpx.Response(405, text=_NGINX_405, headers={"content-type": "text/html"})

    settings = ClientSettings(provider="custom", base_url="https://docs.example.com/v1", api_key="local-test-key-123456")
    report = D.run_checks(settings, MODEL, transport=httpx.MockTransport(static_site))
    assert report.step(2).status == "fail" and "405" in report.step(2).verdict
    assert report.step(1).status == "pass"  # the key is not blamed for it


def test_the_sandbox_answers_a_wrong_method_with_405(sandbox):
    assert httpx.get(sandbox.base_url + "/images/generations").status_code == 405
    assert httpx.post(sandbox.base_url + "/models").status_code == 405
    assert httpx.post(sandbox.base_url + "/no/such/route").status_code == 404


def test_an_unreachable_host_fails_step_2():
    def refuse(request):
        raise httpx.ConnectError("connection refused")

    settings = ClientSettings(provider="custom", base_url="http://127.0.0.1:9/v1", api_key="local-test-key-123456")
    step = D.run_checks(settings, MODEL, transport=httpx.MockTransport(refuse)).step(2)
    assert step.status == "fail" and "reached" in step.verdict


def test_typoed_model_fails_step_3_with_did_you_mean(sandbox):
    step = D.run_checks(settings_for(sandbox), "gpt-image2").step(3)
    assert step.status == "fail" and "Did you mean 'gpt-image-2'" in step.verdict


def test_unknown_model_fails_step_3_from_the_model_list(sandbox, store):
    step = D.run_checks(settings_for(sandbox, "model_not_found", use_fallback=False), MODEL, store=store).step(3)
    assert step.status == "fail" and "not among the models" in step.verdict
    assert any(e.kind == "probe" and "text-embedding-3-small" in e.text for e in step.evidence)


def test_missing_model_with_a_working_fallback_warns_step_3(sandbox, store):
    step = D.run_checks(settings_for(sandbox, "fallback"), MODEL, store=store).step(3)
    assert step.status == "warn" and "gpt-image-1.5" in step.verdict


def test_a_30s_timeout_warns_steps_4_and_9(sandbox):
    report = D.run_checks(settings_for(sandbox, read_timeout_s=30.0), MODEL)
    assert report.step(4).status == "warn" and report.step(9).status == "warn"
    assert "30 s" in report.step(4).verdict and "120" in report.step(9).fix


def test_a_task_provider_gets_its_poll_route_checked(sandbox, store):
    settings = settings_for(sandbox, extra_headers={"X-Sandbox-Dialect": "task_b"})
    report = D.run_checks(settings, MODEL, store=store, spend=True)
    step = report.step(4)
    assert step.status == "pass", step.verdict
    assert any(e.kind == "probe" and "poll route" in e.text.lower() for e in step.evidence)
    assert any("async task" in e.text for e in step.evidence if e.kind == "probe")


def test_failing_tasks_fail_step_4(sandbox, store):
    settings = settings_for(sandbox, "task_failed", use_fallback=False, max_retries=0)
    generate(settings, store)
    step = D.run_checks(settings, MODEL, store=store, probe=False).step(4)
    assert step.status == "fail" and "task" in step.verdict
    assert any(link.url.startswith("/history?attempt=") for e in step.evidence for link in e.links)


@pytest.mark.parametrize(
    "scenario,step,status",
    [
        ("quota_exceeded", 5, "fail"),
        ("rate_limited", 5, "warn"),
        ("rate_limited_always", 5, "fail"),
        ("bad_request", 6, "fail"),
        ("bad_response", 6, "fail"),
        ("invalid_image", 7, "fail"),
        ("image_fetch_failed", 7, "fail"),
        ("content_policy", 8, "warn"),
        ("server_error", 2, "warn"),
        ("network", 2, "warn"),
    ],
)
def test_history_of_a_scenario_marks_its_step(sandbox, store, scenario, step, status):
    settings = settings_for(sandbox, scenario, use_fallback=False, max_retries=1)
    generate(settings, store, f"a test of {scenario}")
    report = D.run_checks(settings, MODEL, store=store)
    got = report.step(step)
    assert got.status == status, (got.verdict, [(s.step, s.status) for s in report.steps])
    assert "history" in kinds(got)
    others = {n: s for n, s in statuses(report).items() if n != step and s == "fail"}
    assert not others, others  # only the matching step fails


def test_quota_is_also_seen_by_the_route_probe(sandbox, store):
    step = D.run_checks(settings_for(sandbox, "quota_exceeded"), MODEL, store=store).step(5)
    assert step.status == "fail" and "probe" in kinds(step)


def test_timeouts_in_history_fail_step_9(sandbox, store):
    settings = settings_for(sandbox, "timeout", read_timeout_s=0.5, max_retries=0, use_fallback=False)
    sandbox.configure(hang_s=2.0)
    generate(settings, store)
    step = D.run_checks(settings, MODEL, store=store, probe=False).step(9)
    assert step.status == "fail" and "timeout" in step.verdict


OPENAI_URL = "https://api.openai.com/v1/images/generations"


def test_history_evidence_from_seeded_attempts(store):
    now = time.time()
    run = store.start_run(kind="generate", label="seed", settings={})
    rows = [
        ("rate_limited", 429, 1.0, "failed"),
        ("rate_limited", 429, 1.0, "failed"),
        (None, 200, None, "succeeded"),
        ("timeout", None, None, "failed"),
        ("content_policy", 400, None, "failed"),
    ]
    for i, (error_type, status, retry_after, outcome) in enumerate(rows):
        aid = store.attempt_started(
            {
                "run_id": run,
                "started_at": now - 100 + i * 10,
                "provider": "openai",
                "url": OPENAI_URL,
                "key_hint": "d8Ks",
                "model": MODEL,
                "prompt": f"p{i}",
                "attempt_no": i + 1,
            }
        )
        store.attempt_finished(
            aid,
            {
                "status": outcome,
                "error_type": error_type,
                "http_status": status,
                "retry_after_s": retry_after,
                "finished_at": now - 100 + i * 10 + 0.5,
                "latency_ms": 40_000,
                "error_message": "x",
            },
        )
    store.run_finished(run, {"status": "failed"})
    settings = ClientSettings(provider="openai", api_key="sk-seededHistoryKey4f8Q2m9Zx7Lr3Vb6Np1Tw5Hc0Jd8Ks")
    report = D.run_checks(settings, MODEL, store=store, probe=False, now=now)
    limits = report.step(5)
    # The 429s were honoured and a success came after them: they inform, they do not fail.
    assert limits.status == "warn" and "succeeded since" in limits.verdict
    assert any("Retry-After honoured 2 time(s)" in e.text for e in limits.evidence)
    urls = [link.url for e in limits.evidence for link in e.links]
    assert "/history?provider=openai&error_type=rate_limited&since=7d" in urls
    assert report.step(9).status == "fail" and report.step(8).status == "warn"
    examples = [e for e in report.step(8).evidence if e.prompt]
    assert examples and examples[0].prompt == "p4"


# --------------------------------------------------------------------------
# Reports


def sample_report(sandbox, store, **kw) -> D.Report:
    generate(settings_for(sandbox), store, "a secret lighthouse at dusk")
    generate(settings_for(sandbox, "content_policy"), store, "a secret lighthouse, blocked")
    return D.run_checks(settings_for(sandbox), MODEL, store=store, **kw)


def test_json_round_trip(sandbox, store):
    report = sample_report(sandbox, store)
    text = D.report_to_json(report)
    body = json.loads(text)
    assert body["format"] == "imagelab-report/1" and body["provider"] == "sandbox" and body["model"] == MODEL
    assert [s["step"] for s in body["steps"]] == list(range(1, 10))
    assert set(body["steps"][0]) == {"step", "name", "status", "verdict", "evidence", "fix"}
    assert body["steps"][0]["name"] == "key"
    again = D.report_from_json(text)
    assert D.report_to_json(again) == text
    assert D.report_from_json(text.encode()).steps == report.steps


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda b: "not json at all", "not valid JSON"),
        (lambda b: [1, 2], "not an Image Prompt Lab report"),
        (lambda b: {"hello": "world"}, "not an Image Prompt Lab report"),
        (lambda b: {**b, "format": "imagelab-report/9"}, "this version reads imagelab-report/1"),
        (lambda b: {**b, "steps": b["steps"][:8]}, "lacks step(s) 9"),
        (lambda b: {**b, "steps": [{**b["steps"][0], "status": "great"}] + b["steps"][1:]}, "status 'great'"),
        (lambda b: {**b, "steps": [{**b["steps"][0], "step": "1"}] + b["steps"][1:]}, "wrong type"),
        (lambda b: {**b, "provider": None}, "wrong type"),
        (lambda b: {k: v for k, v in b.items() if k != "model"}, "missing 'model'"),
        (
            lambda b: {
                **b,
                "steps": [
                    {
                        **b["steps"][0],
                        "evidence": [{"kind": "static", "text": "x", "links": [{"label": "a", "url": "javascript:alert(1)"}]}],
                    }
                ]
                + b["steps"][1:],
            },
            "inside the app",
        ),
        (
            lambda b: {
                **b,
                "steps": [{**b["steps"][0], "evidence": [{"kind": "static", "text": "x", "image": "https://evil.example/x.png"}]}]
                + b["steps"][1:],
            },
            "inline",
        ),
        (lambda b: {**b, "steps": [{**b["steps"][0], "evidence": [{"kind": "rumour", "text": "x"}]}] + b["steps"][1:]}, "kind 'rumour'"),
    ],
)
def test_malformed_or_foreign_json_is_refused_clearly(sandbox, mutate, message):
    body = D.run_checks(settings_for(sandbox), MODEL, probe=False).to_dict()
    bad = mutate(body)
    with pytest.raises(D.ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        D.report_from_json(bad if isinstance(bad, str) else json.dumps(bad))


def test_markdown_has_headings_and_a_table(sandbox, store):
    md = D.report_to_markdown(sample_report(sandbox, store))
    assert md.startswith("## Image Prompt Lab diagnostics")
    assert "| # | Step | Status | Verdict |" in md and "| 8 | Content policy | ⚠️ warning |" in md
    assert md.count("\n### ") == 9 and "**Fix:**" in md
    assert "(/history?attempt=" in md


def test_html_is_self_contained_and_escaped(sandbox, store):
    report = sample_report(sandbox, store, spend=True)
    hostile = D.Evidence("history", "<script>alert('x')</script> & <img src=https://evil.example/p.png>", prompt="<b>bold</b>")
    report.steps[0].evidence.append(hostile)
    page = D.report_to_html(report)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "&lt;script&gt;" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    for external in ("http://", "https://"):
        # no fetch: the only URLs are texts (endpoint, escaped hostile text), never src/href attributes
        assert f'src="{external}' not in page and f'href="{external}' not in page
    assert 'src="data:image/jpeg;base64,' in page  # the test image, inline
    assert "Content-Security-Policy" in page


def test_hide_prompts_replaces_them_with_length_and_hash(sandbox, store):
    report = D.hide_prompts(sample_report(sandbox, store))
    text = D.report_to_json(report) + D.report_to_markdown(report) + D.report_to_html(report)
    assert "secret lighthouse" not in text
    assert f"[prompt hidden: {len('a secret lighthouse, blocked')} characters, sha256 " in text
    assert report.hide_prompts and json.loads(D.report_to_json(report))["hide_prompts"] is True


def test_signed_query_strings_are_cut(sandbox):
    report = D.run_checks(settings_for(sandbox), MODEL, probe=False)
    report.steps[6].evidence.append(
        D.Evidence("history", "Downloading https://cdn.example.com/img.png?X-Amz-Signature=abcdef0123456789&X-Amz-Expires=60 failed")
    )
    again = D.report_from_json(D.report_to_json(report))
    text = again.steps[6].evidence[-1].text
    assert "X-Amz-Signature" not in text and "abcdef0123456789" not in text and "https://cdn.example.com/img.png?" in text


def test_a_distinctive_key_appears_in_no_report(tmp_path):
    """Even when the provider echoes the key back, no report form holds it."""
    key = "sk-DIAGZZuniq" + "Q7wE4rT1yU8iO3pA6sD9fG2hJ5kL0zX" + "k9X2"

    def echo(request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("authorization", "")
        body = {
            "error": {
                "message": f"Incorrect API key provided: {sent}. Also {sent.lower()} and {sent[7:-1]}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        }
        return httpx.Response(401, json=body)

    store = Store(data_dir=tmp_path / "data")
    settings = ClientSettings(provider="openai", api_key=key, key_source="typed")
    report = D.run_checks(settings, MODEL, store=store, transport=httpx.MockTransport(echo))
    assert report.step(1).status == "fail"
    report_id = D.save_report(store, report)
    row = store.report(report_id)
    forms = {
        "json": D.report_to_json(report),
        "markdown": D.report_to_markdown(report),
        "html": D.report_to_html(report),
        "db body": json.dumps(row["body"]),
        "db markdown": row["markdown"],
        "db attempts": json.dumps([dict(r) for r in store.db.query("SELECT * FROM attempts")]),
        "db runs": json.dumps([dict(r) for r in store.db.query("SELECT * FROM runs")]),
    }
    for name, text in forms.items():
        for piece in (key, key[3:], key[:-4], key.lower(), key[10:30]):
            assert piece not in text and piece.lower() not in text.lower(), name
    assert "k9X2" in forms["json"]  # the last four characters are shown, as the hint


def test_save_and_load_a_report(sandbox, store):
    report = sample_report(sandbox, store)
    report_id = D.save_report(store, report, hide=True)
    loaded = D.load_report(store, report_id)
    assert loaded is not None and loaded.report_id == report_id and loaded.hide_prompts
    assert [s.status for s in loaded.steps] == [s.status for s in report.steps]
    row = store.report(report_id)
    assert row["status"] == report.status and row["provider"] == "sandbox" and row["markdown"].startswith("## ")
    assert D.load_report(store, "nope") is None and D.load_report(store, "../../etc") is None


def test_a_retry_before_retry_after_fails_step_5_but_a_fallback_hop_does_not_count(store):
    now = time.time()

    def attempt(run, i, model, error_type, start, retry_after=None):
        aid = store.attempt_started(
            {
                "run_id": run,
                "started_at": start,
                "provider": "wisgate",
                "url": "https://api.wisgate.ai/v1/images/generations",
                "key_hint": "3Bn6",
                "model": model,
                "prompt": "p",
                "attempt_no": i,
            }
        )
        store.attempt_finished(
            aid,
            {
                "status": "failed" if error_type else "succeeded",
                "error_type": error_type,
                "http_status": 429 if error_type else 200,
                "retry_after_s": retry_after,
                "finished_at": start + 0.2,
                "latency_ms": 200,
            },
        )

    hop = store.start_run(kind="generate", label="fallback right after a 429", settings={})
    attempt(hop, 1, MODEL, "rate_limited", now - 50, retry_after=10.0)
    attempt(hop, 2, "gpt-image-1.5", None, now - 49)  # another model at once: a fallback hop, not a retry
    store.run_finished(hop, {"status": "succeeded"})
    settings = ClientSettings(provider="wisgate", api_key="wg-retryAfter7Hq2Wm5Zc8Xv3Bn6")
    step = D.run_checks(settings, MODEL, store=store, probe=False, now=now).step(5)
    assert step.status == "warn", step.verdict

    early = store.start_run(kind="generate", label="retried too soon", settings={})
    attempt(early, 1, MODEL, "rate_limited", now - 30, retry_after=10.0)
    attempt(early, 2, MODEL, None, now - 28)  # 1.8 s after, though 10 s were asked for
    store.run_finished(early, {"status": "succeeded"})
    step = D.run_checks(settings, MODEL, store=store, probe=False, now=now).step(5)
    assert step.status == "fail" and "before the Retry-After" in step.verdict
