"""One rule says whether a route is a task route (lib/providers.py, route_delivery), and every check that cares
reads it: an asynchronous gateway dialect is a task route for the task-deadline warning, step 4's evidence and its
poll probe, and the settings a report keeps."""

from __future__ import annotations

import pytest

from lib import constants as C
from lib import diagnostics as D
from lib.dialects import parse_dialect
from lib.generation import ClientSettings
from lib.providers import route_delivery
from tests.support.diagnostics_setup import MODEL
from tests.support.dialect_support import README_DIALECT_NAME, readme_dialect_text

JOBS = parse_dialect(readme_dialect_text(), source="sandbox-jobs.toml")
AT_ONCE = parse_dialect(
    'name = "at once"\n[create]\npath = "/api/v1/jobs/createTask"\n[create.body]\nprompt = "{prompt}"\n'
    '[create.answer]\nresults = "data.urls"\n',
    source="at-once.toml",
)
SHORT = C.DIAG_MIN_TASK_DEADLINE_S / 2


@pytest.mark.parametrize(
    ("provider", "dialect", "sandbox_delivery", "delivery"),
    [
        ("custom", None, "", "sync"),
        ("custom", JOBS, "", "task"),
        ("custom", AT_ONCE, "", "sync"),
        ("evolink", None, "", "task"),
        ("openai", None, "", "sync"),
        ("sandbox", None, "task_b", "task"),
        ("sandbox", None, "url", "sync"),
        ("custom", ValueError("a file that did not load"), "", "sync"),
    ],
)
def test_whether_a_route_is_a_task_route(provider, dialect, sandbox_delivery, delivery):
    assert route_delivery(provider, dialect=dialect, sandbox_delivery=sandbox_delivery) == delivery


def _custom(sandbox, dialect, **changes) -> ClientSettings:
    return ClientSettings(provider="custom", base_url=sandbox.url, api_key="sbx-tasks-42", key_source="typed", dialect=dialect, **changes)


def test_a_dialect_task_route_with_a_short_deadline_warns_step_4(sandbox):
    step = D.run_checks(_custom(sandbox, JOBS, task_deadline_s=SHORT), MODEL, probe=False, history=False).step(4)
    assert step.status == "warn" and f"task deadline of {SHORT:.0f} s" in step.verdict
    assert any(f"Through the dialect '{README_DIALECT_NAME}', images come as an async task" in e.text for e in step.evidence)
    assert f"{C.DIAG_MIN_TASK_DEADLINE_S:.0f} s" in step.fix


def test_a_dialect_that_answers_at_once_is_no_task_route(sandbox):
    step = D.run_checks(_custom(sandbox, AT_ONCE, task_deadline_s=SHORT), MODEL, probe=False, history=False).step(4)
    assert step.status == "pass", step.verdict
    assert any("in the create answer itself" in e.text for e in step.evidence)


def test_the_dialect_poll_route_is_probed_and_no_openai_task_shapes(sandbox):
    report = D.run_checks(_custom(sandbox, JOBS), MODEL, history=False)
    step = report.step(4)
    assert step.status == "pass", step.verdict
    assert any(e.kind == "probe" and "poll route" in e.text for e in step.evidence)
    assert not any("shape A" in e.text or "shape B" in e.text for e in step.evidence)


def test_the_settings_a_report_keeps_name_the_task_route(sandbox):
    assert _custom(sandbox, JOBS).describe(MODEL)["delivery"] == "task"
    assert _custom(sandbox, AT_ONCE).describe(MODEL)["delivery"] == "sync"
    sandbox_task = ClientSettings(provider="sandbox", base_url=sandbox.base_url, extra_headers={"X-Sandbox-Dialect": "task_a"})
    assert sandbox_task.describe(MODEL)["delivery"] == "task"
