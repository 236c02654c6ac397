"""The diagnostics checklist: checks -> a report; Markdown, JSON and HTML; redaction.

- ``report``: the report as values, links, hidden prompts, scrubbing;
- ``evidence``: what the checks read (``CheckContext``);
- ``probes``: live probes through ``ImageClient.send``, each recorded as an attempt;
- ``checks``: the nine checks and ``run_checks``;
- ``exports``: JSON, Markdown, HTML; saving and loading snapshots.

One function per step of the checklist in DESIGN.md (``check_key`` ..
``check_latency``), each reading a ``CheckContext`` and returning a ``Step``:
a status (pass | warn | fail | not_checked), a one-line verdict, the evidence
(each item tagged ``static``, ``probe`` or ``history``, with links to History
views and example attempts) and the fix in plain words.

Evidence comes from three places:

- static: ``lib.preflight`` / ``lib.providers`` on the settings (the key's
  source and last four characters only; the exact final URL);
- probe: cheap requests through ``lib.client.ImageClient`` that generate
  nothing (``probe_models``, ``probe_route``, ``probe_task_poll``), and the
  opt-in "spend one image" probe, each recorded as an attempt of a run with
  ``kind = 'probe'``;
- history: ``Store.evidence`` for this provider (and model).

``run_checks`` does all of it. A ``Report`` is the snapshot: saved in the
``reports`` table, exported as JSON (``imagelab-report/1``), Markdown or one
self-contained HTML file, and read back with ``report_from_json``. Nothing in
a report can hold the key: every text goes through ``lib.redact.scrub`` with
the key added, and signed query strings are cut.

Which step an error belongs to is ``lib.errors.checklist_step``.
"""

from lib.diagnostics.checks import (
    CHECKS,
    check_content,
    check_decode,
    check_delivery,
    check_endpoint,
    check_key,
    check_latency,
    check_limits,
    check_model_step,
    check_shape,
    estimate_spend,
    fingerprint_digest,
    key_refusal,
    run_checks,
    settings_fingerprint,
    settings_summary,
    spend_request,
    stale_changes,
    thumbnail_data_url,
)
from lib.diagnostics.evidence import CheckContext, SpendResult
from lib.diagnostics.exports import (
    ImportedReport,
    delete_report,
    import_report,
    list_reports,
    load_report,
    report_from_json,
    report_to_html,
    report_to_json,
    report_to_junit,
    report_to_markdown,
    save_report,
)
from lib.diagnostics.probes import PROBE_TASK_ID, ProbeResult, probe_models, probe_route, probe_task_poll
from lib.diagnostics.report import (
    EVIDENCE_KINDS,
    REPORT_FORMAT,
    STATUS_ICONS,
    STATUS_LABELS,
    STATUSES,
    STEP_NAMES,
    Evidence,
    Link,
    Report,
    ReportError,
    Step,
    StepChange,
    attempt_link,
    compare_reports,
    hide_prompts,
    history_link,
    prompt_digest,
    report_link,
    step_link,
)
from lib.errors import CHECKLIST_STEPS  # the steps' titles, in order

__all__ = [
    "CHECKLIST_STEPS",
    "CHECKS",
    "CheckContext",
    "EVIDENCE_KINDS",
    "Evidence",
    "Link",
    "PROBE_TASK_ID",
    "ProbeResult",
    "REPORT_FORMAT",
    "Report",
    "ReportError",
    "STATUSES",
    "STATUS_ICONS",
    "STATUS_LABELS",
    "STEP_NAMES",
    "SpendResult",
    "Step",
    "attempt_link",
    "check_content",
    "check_decode",
    "check_delivery",
    "check_endpoint",
    "check_key",
    "check_latency",
    "check_limits",
    "check_model_step",
    "check_shape",
    "key_refusal",
    "estimate_spend",
    "fingerprint_digest",
    "hide_prompts",
    "history_link",
    "load_report",
    "list_reports",
    "delete_report",
    "compare_reports",
    "StepChange",
    "probe_models",
    "probe_route",
    "probe_task_poll",
    "prompt_digest",
    "report_from_json",
    "import_report",
    "ImportedReport",
    "report_link",
    "report_to_html",
    "report_to_json",
    "report_to_junit",
    "report_to_markdown",
    "run_checks",
    "save_report",
    "settings_fingerprint",
    "settings_summary",
    "spend_request",
    "stale_changes",
    "step_link",
    "thumbnail_data_url",
]
