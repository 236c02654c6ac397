"""What counts as evidence about a route: only answers the provider finished, each once.
A cancelled attempt says nothing about the route; Diagnostics' own probes are read as probe
results, never again as history. Against the real sandbox."""

from __future__ import annotations

import pytest

from lib import diagnostics as D
from lib.generation import GenerationRequest
from lib.jobs import JobRunner, JobSpec
from lib.limits import LimiterRegistry
from lib.store import AttemptFilter
from tests.support.diagnostics_setup import MODEL, settings_for
from tests.support.wait_until import wait_until


@pytest.fixture
def runner(store):
    r = JobRunner(recorder=store, keeper=store.keeper, max_workers=2, limiters=LimiterRegistry())
    yield r
    r.shutdown(5)


def cancel_in_flight(runner, settings) -> str:
    """A generation the user stops while its request (or its task) is in flight; its run id."""
    job = runner.submit(JobSpec(settings=settings, request=GenerationRequest(prompt="a paper boat", model=MODEL)))
    wait_until(lambda: any(e.kind in ("submitted", "accepted") for e in list(job.events)), timeout=10, interval=0.01)
    job.cancel()
    assert job.wait(10) and job.status == "cancelled"
    return job.run_id


def route_evidence(store, settings):
    urls = [settings.endpoint.url, settings.endpoint.edits_url]
    return store.evidence(AttemptFilter(providers=[settings.provider]), urls=urls, key_hint=settings.key_hint)


@pytest.mark.parametrize("dialect", ["b64", "task_a"])
def test_a_cancelled_attempt_is_no_evidence_about_the_route(sandbox, store, runner, dialect):
    sandbox.configure(hang_s=60, task_duration_s=60)  # still in flight when the user stops it
    settings = settings_for(
        sandbox, "timeout" if dialect == "b64" else None, extra_headers={"X-Sandbox-Dialect": dialect}, max_retries=0, use_fallback=False
    )
    run_id = cancel_in_flight(runner, settings)
    assert [a["status"] for a in store.run(run_id)["attempts"]] == ["cancelled"]
    evidence = route_evidence(store, settings)
    assert evidence[5]["total"] == 0 and evidence[4]["tasks"] == 0
    report = D.run_checks(settings, MODEL, store=store, probe=False)
    limits = report.step(5)
    assert limits.status == "not_checked", limits.verdict  # not "No 429 among 1 attempt(s)"
    assert not any("attempt(s)" in e.text for step in report.steps for e in step.evidence if e.kind == "history")


def test_a_429_before_the_user_stopped_the_run_still_counts(sandbox, store, runner):
    sandbox.configure(retry_after_s=60)  # the run waits for its retry; the user stops it there
    settings = settings_for(sandbox, "rate_limited_always", max_retries=2, use_fallback=False)
    job = runner.submit(JobSpec(settings=settings, request=GenerationRequest(prompt="a paper boat", model=MODEL)))
    wait_until(lambda: any(e.kind == "retry" for e in list(job.events)), timeout=10, interval=0.01)
    job.cancel()
    assert job.wait(10)
    evidence = route_evidence(store, settings)
    assert evidence[5]["errors"] == {"rate_limited": 1} and evidence[5]["runs_ended"] == {"cancelled": 1}


def test_probes_are_read_once_as_probes_never_again_as_history(sandbox, store):
    settings = settings_for(sandbox, "server_error")
    D.run_checks(settings, MODEL, store=store)  # its probes are recorded: attempts of a 'probe' run
    assert store.db.execute("SELECT count(*) FROM attempts WHERE run_kind = 'probe' AND error_type = 'server_error'").fetchone()[0] >= 1
    step = D.run_checks(settings, MODEL, store=store).step(2)
    assert [e.text for e in step.evidence if e.kind == "history"] == []
    assert sum(1 for e in step.evidence if e.kind == "probe" and e.text.startswith("Generations route")) == 1
    assert "recent request(s)" not in step.verdict and step.verdict.startswith("The host answered with a server error")
    assert route_evidence(store, settings)[2]["total"] == 0


def test_a_blocked_test_image_is_not_counted_again_as_a_recent_block(sandbox, store):
    settings = settings_for(sandbox, "content_policy")
    D.run_checks(settings, MODEL, store=store, spend=True)
    step = D.run_checks(settings, MODEL, store=store, spend=True).step(8)
    assert step.status == "warn" and step.verdict.startswith("The harmless test prompt was blocked"), step.verdict
    assert [e.kind for e in step.evidence] == ["probe"]


def test_the_retry_after_evidence_reads_each_runs_own_rows(store):
    """Whether a retry waited out its Retry-After is looked up among the run's attempts (run_id
    index), not among every attempt of the model: the query stays linear in the window's 429s."""
    from tests.support.history_seed import add

    for i in range(20):
        run = store.start_run(kind="generate", label="r", settings={})
        add(store, at=1_000 + i, run_id=run, status="failed", error_type="rate_limited", retry_after_s=1.0, latency_ms=100)
        add(store, at=1_002 + i, run_id=run, attempt_no=2)
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        evidence = store.evidence(AttemptFilter(providers=["sandbox"]))
    finally:
        store.db.conn.set_trace_callback(None)
    assert evidence[5]["retry_after"] == {"honoured": 20, "early": 0}
    (query,) = [q for q in statements if "min(b.started_at)" in q]
    plan = " | ".join(r[3] for r in store.db.execute("EXPLAIN QUERY PLAN " + query).fetchall())
    inner = plan.split("CORRELATED SCALAR SUBQUERY")[1]
    assert "(run_id=?)" in inner and "model=?" not in inner, plan
