"""The app's Streamlit side: the only package under lib/ that imports Streamlit.

Everything it shows comes from lib/ objects; it holds no SQL, no HTTP and no
image decoding.

- ``resources``: the store, the sandbox, the job runner, the configuration;
- ``sidebar``: the settings every page shares;
- ``progress``: live progress lines;
- ``cards``: result and error cards, inspectors, the last-resort card;
- ``media``: streaming and edits;
- ``gate``: the optional app password;
- ``alerts``: the monitoring banner;
- ``place``: a page's inputs kept across pages and reloads;
- ``charts``: History's charts;
- ``generate``: what the Generate page owns (reattach, recent generations, re-run prefill).
"""

from lib.text import markdown as plain  # provider and user text inside Markdown
from lib.ui.alerts import _alerts_cache, alerts_banner
from lib.ui.cards import (
    attempts_table,
    checklist_link,
    damaged_database_card,
    error_card,
    first_error_note,
    inspectors,
    result_card,
    run_cost,
    show_outcome,
    show_unexpected,
)
from lib.ui.charts import STATUS_COLORS, errors_chart, latency_chart, timeline_chart
from lib.ui.gate import app_password, password_gate
from lib.ui.generate import (
    EDIT_PARAM,
    REUSE_PARAM,
    RUN_PARAM,
    evolink_panel,
    find_run,
    prefill_from_result,
    prefill_rerun,
    recent_generations,
    send_to_generate,
    start_job,
)
from lib.ui.media import (
    MEDIA_UPLOAD_TYPES,
    NO_FIDELITY,
    attempt_media,
    capability_table,
    compare_media_controls,
    latest_partial,
    media_controls,
    media_summary,
    release_partials,
    render_partial,
    session_download,
    session_image,
)
from lib.ui.place import GENERATE_INPUTS, forget_place, keep_place, keep_query, keep_references
from lib.ui.progress import event_line, event_rows, live_label, render_events
from lib.ui.resources import app_base_url, config, get_runner, get_sandbox, get_store, leave_pages_folder_mode, thumbnail_path
from lib.ui.sidebar import (
    DEFAULTS,
    DIALECT_LABELS,
    LATENCIES,
    OTHER_MODEL,
    SCENARIO_LABELS,
    PageSettings,
    client_settings_for,
    init_state,
    page_settings,
    settings_sidebar,
)

__all__ = [
    "DEFAULTS",
    "DIALECT_LABELS",
    "LATENCIES",
    "MEDIA_UPLOAD_TYPES",
    "NO_FIDELITY",
    "OTHER_MODEL",
    "PageSettings",
    "EDIT_PARAM",
    "REUSE_PARAM",
    "RUN_PARAM",
    "SCENARIO_LABELS",
    "STATUS_COLORS",
    "_alerts_cache",
    "alerts_banner",
    "app_base_url",
    "app_password",
    "attempt_media",
    "attempts_table",
    "capability_table",
    "checklist_link",
    "client_settings_for",
    "compare_media_controls",
    "config",
    "damaged_database_card",
    "error_card",
    "forget_place",
    "GENERATE_INPUTS",
    "keep_place",
    "keep_query",
    "keep_references",
    "errors_chart",
    "event_line",
    "event_rows",
    "find_run",
    "first_error_note",
    "get_runner",
    "get_sandbox",
    "get_store",
    "init_state",
    "inspectors",
    "latency_chart",
    "latest_partial",
    "leave_pages_folder_mode",
    "live_label",
    "media_controls",
    "media_summary",
    "page_settings",
    "password_gate",
    "plain",
    "prefill_from_result",
    "prefill_rerun",
    "send_to_generate",
    "evolink_panel",
    "recent_generations",
    "release_partials",
    "render_events",
    "render_partial",
    "result_card",
    "run_cost",
    "session_download",
    "session_image",
    "settings_sidebar",
    "show_outcome",
    "show_unexpected",
    "start_job",
    "thumbnail_path",
    "timeline_chart",
]
