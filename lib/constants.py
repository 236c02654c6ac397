"""Every policy number of Image Prompt Lab, in one block.

Timeouts, retry and backoff, client-side limits, image safety caps and
storage defaults all live here so that a reviewer can see (and change) the
app's behaviour without reading the code that applies it.
"""

from __future__ import annotations

# --- Timeouts (seconds) ------------------------------------------------------
# Complex prompts take up to two minutes and high quality longer: a 30 or 60 s
# read timeout is the most common cause of "timeouts" users report.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 180.0
MIN_RECOMMENDED_READ_TIMEOUT_S = 120.0
HIGH_QUALITY_RECOMMENDED_READ_TIMEOUT_S = 240.0
DOWNLOAD_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 10.0

# --- Retries and backoff -----------------------------------------------------
DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
RETRY_JITTER_FRACTION = 0.25  # the delay is shortened by up to this fraction
MAX_RETRY_AFTER_S = 120.0  # a Retry-After longer than this is not waited for
DOWNLOAD_RETRIES = 2  # network failures while fetching a result URL

# --- Connections (httpx's defaults) --------------------------------------------
MAX_CONNECTIONS = 100
MAX_KEEPALIVE_CONNECTIONS = 20
KEEPALIVE_EXPIRY_S = 5.0

# --- Async tasks --------------------------------------------------------------
TASK_POLL_INITIAL_S = 0.5
TASK_POLL_MAX_S = 1.5  # a finished task is noticed within this (plus one request): median lag under 1 s
TASK_POLL_BACKOFF = 1.2
TASK_POLL_MIN_S = 0.25  # a task whose progress says it is nearly done is polled this soon, no sooner
TASK_POLL_ETA_MARGIN_S = 0.1  # polled this long after the finish its progress predicts
DEFAULT_TASK_DEADLINE_S = 300.0
TASK_POLL_TRANSIENT_FAILURES = 3  # poll errors tolerated before giving up
RESULT_URL_LIFETIME_S = 24 * 3600  # gateways expire result URLs after a day

# --- Client-side limits, shared by every call to one provider ---------------
DEFAULT_RATE_PER_S = 2.0  # token bucket refill
DEFAULT_BURST = 4  # token bucket size
DEFAULT_MAX_CONCURRENCY = 4
COOLDOWN_AFTER_429_S = 2.0  # used when a 429 names no Retry-After
RATE_DECREASE_FACTOR = 0.5  # a 429 halves the client's own rate...
RATE_RECOVERY_STEP = 0.1  # ...and each success gives back this fraction of the configured rate
MIN_RATE_PER_S = 0.05

# --- Request limits of the gpt-image models -------------------------------
MAX_PROMPT_CHARS = 32_000
MIN_N, MAX_N = 1, 10
MAX_EDGE_PX = 3840
MAX_TOTAL_PX = 3840 * 2160
SIZE_MULTIPLE_PX = 16
MAX_ASPECT_RATIO = 3.0

# --- Images --------------------------------------------------------------------
MAX_IMAGE_BYTES = 50 * 1024 * 1024  # a download or decoded base64 larger than this is refused
MAX_IMAGE_PIXELS = 25_000_000  # larger is treated as a decompression bomb
THUMBNAIL_PX = 256
MAX_RAW_PREVIEW_CHARS = 20_000  # "what came back" inspector

# --- Storage -------------------------------------------------------------------
DATA_DIR_ENV = "IMAGELAB_DATA_DIR"
DEFAULT_DATA_DIR = "data"
DB_FILENAME = "imagelab.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_LOCK_RETRY_S = 0.02  # between tries to switch a brand-new database to WAL
KEY_HINT_CHARS = 4
REDACT_MIN_FRAGMENT = 8  # any run this long of a key is masked, in any case
REDACT_MIN_DISTINCT = 3  # ...unless it has fewer distinct characters than this ("kkkkkkkk" is nobody's fingerprint)
REDACT_MIN_DISTINCT_IN_BINARY = 4  # in image bytes, only key pieces with this many distinct characters count
KEY_HINT_MIN_KEY_LEN = 12  # shorter keys get no hint at all (and are not searched for in echoes)
MIN_PREFIXED_KEY_LEN = 40  # an "sk-" key shorter than this was probably cut off
MAX_ERROR_MESSAGE_CHARS = 2000  # kept per attempt
MAX_ERROR_PARAM_CHARS = 100  # the field an error names, as the provider spelled it
LOG_MAX_BYTES = 2_000_000
LOG_BACKUPS = 3
JOB_WORKERS = 8  # generations running at once in one app process
DEFAULT_PAGE_SIZE = 50

# --- Security and hard limits ---
# The largest legitimate answer: n=10 images at 4K as base64 (a 3840x2160 PNG
# from an image model is ~8-12 MB, so ~16 MB as base64) is ~160 MB. Reading
# stops past this many decompressed bytes; JSON parsing then needs about twice
# as much again, which keeps the process under ~600 MB whatever is sent.
MAX_ANSWER_BYTES = 160 * 1024 * 1024
# One answer at a time, process-wide, may be held past this many bytes (a body being read, or one line of a
# stream), from its read until its images are saved: four near-cap answers at once would need ~1.4 GB, one
# needs ~360 MB. Others wait their turn (the provider is held back by TCP), under their own deadline and cancel.
LARGE_ANSWER_BYTES = 16 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 1024 * 1024  # of an error answer, only this much is read (enough to classify it)
MIN_POLL_DEADLINE_S = 1.0  # the last poll before a task's deadline still gets this long
MAX_DOWNLOAD_REDIRECTS = 5  # a result URL may redirect this often (each hop checked again)
ALLOW_PRIVATE_IMAGES_VAR = "IMAGELAB_ALLOW_PRIVATE_IMAGES"  # =1 (or allow_private_images = true in secrets): private image stores
SECRETS_RECHECK_S = 2.0  # secrets.toml is looked at again (for changes) at most this often
PASSWORD_ENV = "IMAGELAB_PASSWORD"  # or app_password in secrets.toml: guards every page
PASSWORD_FAIL_DELAY_S = 1.0  # a wrong password answers this much later (slows guessing)
DEFAULT_SERVER_ADDRESS = "127.0.0.1"  # `make run` listens on loopback only unless ADDRESS=... is given

# --- Sandbox -------------------------------------------------------------------
SANDBOX_DEFAULT_LATENCY_S = (1.0, 3.0)
SANDBOX_SLOW_LATENCY_S = 8.0
SANDBOX_HANG_S = 200.0  # longer than the default read timeout
SANDBOX_TASK_DURATION_S = 3.0
SANDBOX_RATE_WINDOW_S = 1.0
SANDBOX_KEPT_FILES = 512
CLI_SANDBOX_LATENCY_S = (0.2, 0.5)  # the sandbox a CLI command starts for itself answers this fast

# --- Diagnostics (checklist, probes, reports) --------------------------------
PROBE_MAX_BYTES = 256_000  # a probe reads at most this much of an answer
PROBE_PREVIEW_CHARS = 400  # of a probe's answer kept as evidence
DIAG_HISTORY_WINDOW_S = 7 * 86400  # history evidence looks back this far...
DIAG_HISTORY_WINDOW_LABEL = "7d"  # ...and links to History with this `since`
DIAG_EXAMPLES = 3  # example attempts per step
DIAG_LATENCY_WARN_FRACTION = 0.8  # p95 latency above this share of the read timeout warns
DIAG_MIN_TASK_DEADLINE_S = 120.0  # a task deadline below this warns
DIAG_SPEND_SIZE = "1024x1024"  # the opt-in "spend one image" probe: the cheapest request
DIAG_SPEND_QUALITY = "low"
DIAG_SPEND_PROMPT = "a small grey circle on a white background (Image Prompt Lab diagnostics)"
DIAG_THUMB_PX = 160  # inline thumbnails in a report
DIAG_MAX_REPORT_BYTES = 5_000_000  # an uploaded report larger than this is refused
PROMPT_HASH_CHARS = 10  # "hide prompts": length + this many hex characters of sha256
DIAG_PAGE_CACHE_S = 20.0  # the page re-reads history at most this often between runs of the checks

# --- Engine: jobs, cancel, deadlines, store writes ------------------
DEFAULT_RUN_DEADLINE_S = 600.0  # a whole generation (retries and fallback hops) stops here
JOB_DONE_KEEP = 200  # finished jobs a runner keeps for reattach (the store has the rest)
SHUTDOWN_GRACE_S = 5.0  # how long shutdown waits for in-flight generations to stop
STORE_WRITE_RETRIES = 3  # a write that fails (e.g. a lock held past the busy timeout) is tried again...
STORE_WRITE_RETRY_DELAY_S = 0.2  # ...after this delay, doubling; then it is kept and replayed later
RECENT_RUNS = 20  # "recent generations" on the Generate page
# --- History: cost estimates, monitoring, the History page (lib/pricing.py, lib/monitoring.py) ---
PRICING_AUTO_SIZE = "1024x1024"  # what an `auto` size is priced as
PRICING_AUTO_QUALITY = "medium"  # what an `auto` quality is priced as
PRICING_UNKNOWN_MODEL_AS = "gpt-image-2"  # a model with no row of its own is priced like this one
HISTORY_DEFAULT_SINCE = "7d"  # the time range of /history without `since`
HISTORY_MAX_PARAM_CHARS = 200  # a URL value longer than this is ignored
HISTORY_MAX_PARAM_VALUES = 20  # values per multi-value filter
HISTORY_PROMPT_PREVIEW_CHARS = 300  # prompt shown in a table row
HISTORY_THUMB_PX = 64  # thumbnails in the table (data URLs)
HISTORY_EXPORT_MAX_ROWS = 50_000  # CSV / JSON download
HISTORY_LATENCY_BINS = 30  # latency histogram: the read timeout split into this many bins
HISTORY_LATENCY_MAX_MODELS = 8  # latency panels drawn
# timeline bucket by the span shown: up to 2 h -> 5 min, 2 days -> 1 h, 14 days -> 6 h, else 1 day
HISTORY_TIMELINE_BUCKETS = ((2 * 3600, 300), (2 * 86400, 3600), (14 * 86400, 6 * 3600), (float("inf"), 86400))
# Monitoring (lib/monitoring.py): the banner on History and Generate
MONITOR_429_COUNT = 3  # this many rate-limit errors...
MONITOR_429_WINDOW_S = 600  # ...within this window, for one provider
MONITOR_FAILURE_WINDOW_S = 3600  # the recent failure rate: the last hour...
MONITOR_FAILURE_BASELINE_S = 7 * 86400  # ...against the 7 days before it
MONITOR_FAILURE_MIN_ATTEMPTS = 5  # finished attempts in the last hour before the rule speaks
MONITOR_FAILURE_MIN_BASELINE = 20  # finished attempts needed for a baseline
MONITOR_FAILURE_FACTOR = 2.0  # recent rate at least this times the baseline...
MONITOR_FAILURE_MIN_DELTA = 0.10  # ...and at least this much higher
MONITOR_FAILURE_NO_BASELINE_RATE = 0.5  # without a baseline: alert at this failure rate
MONITOR_DOWNLOAD_WINDOW_S = 86400  # any failed result download in this window
MONITOR_LATENCY_WINDOW_S = 86400  # p95 latency of succeeded attempts over this window...
MONITOR_LATENCY_FRACTION = 0.8  # ...at or above this fraction of the read timeout
MONITOR_LATENCY_MIN_SAMPLES = 5  # successes needed per model
MONITOR_QUOTA_WINDOW_S = 3600  # any quota error in this window
MONITOR_CACHE_S = 15  # the banner re-checks at most this often
HISTORY_LATENCY_RESOLUTION_MS = 100  # stats: p50/p95 exact to this

# --- Media: streaming partial images and edits -------------------------
MAX_PARTIAL_IMAGES = 3  # partial_images takes 0-3
MAX_STREAM_BYTES = 200 * 1024 * 1024  # a streamed answer (partials + finals, base64) larger than this is cut off
MAX_SSE_LINE_BYTES = 80 * 1024 * 1024  # one SSE line (a base64 image) longer than this is refused
MAX_REFERENCE_IMAGES = 16  # /v1/images/edits takes up to 16 images
MAX_REFERENCE_IMAGE_BYTES = 50 * 1024 * 1024  # each reference image: png, webp or jpg under 50 MB
MAX_MASK_BYTES = 4 * 1024 * 1024  # the mask: a PNG under 4 MB

# Compare: grids of prompts x targets (lib/compare/, pages/compare.py)
COMPARE_MAX_ROWS = 50  # prompts (or template combinations) in one grid
COMPARE_MAX_TARGETS = 8  # columns: provider + model pairs
COMPARE_MAX_VARIANTS = 4  # values of the optional third axis (one parameter)
COMPARE_MAX_CELLS = 200  # rows x targets x variants
COMPARE_MAX_VARIABLES = 6  # template variables
COMPARE_DEFAULT_N = 1  # images per cell unless the user asks for more
COMPARE_REFRESH_S = 1.0  # the grid re-reads its cells this often while it runs...
COMPARE_REFRESH_CELLS_PER_S = 32  # ...or less often for big grids: at most this many cells redrawn per second
COMPARE_LIST_SIZE = 30  # past comparisons listed
COMPARE_NOTE_MAX_CHARS = 1000  # a note on one cell
COMPARE_CHIP_TITLE_CHARS = 48  # the short title on an error chip
COMPARE_SHEET_CELL_PX = 256  # contact sheet: one cell's square
COMPARE_SHEET_LABEL_PX = 260  # contact sheet: width of the row-label column
COMPARE_SHEET_HEADER_PX = 64  # contact sheet: height of the column-label row
COMPARE_SHEET_PAD_PX = 8
COMPARE_SHEET_FONT_PX = 15

# --- Streams, event floods and the provider's announced rate-limit budget (lib/answers.py, lib/client/, lib/limits.py)
MAX_IGNORED_EVENT_KINDS = 20  # unknown stream event types counted by name; any further type counts as "other"
MAX_EVENTS_PER_KIND = 20  # progress events of one kind per attempt passed on (stored, shown, printed) before coalescing...
EVENT_COALESCE_S = 5.0  # ...then at most one of that kind this often; the rest are counted in a summary event
MAX_RUN_EVENTS = 300  # progress events of one run passed on in all; past it only an attempt's ending events pass
MAX_EVENTS_SHOWN = 40  # a progress log on screen: the first and the latest events, and a count of those between
RATE_BUDGET_LOW_FRACTION = 0.1  # announced remaining under this share of the announced limit: requests are spaced out
RATE_BUDGET_LOW_REMAINING = 3  # with no limit announced: this many requests left or fewer and requests are spaced out

# --- Jobs: fair workers, finished jobs kept, ownership (lib/jobs.py) -------
JOB_RESERVED_SHARE = 0.25  # of the workers, kept free of any one owner or provider (8 workers: one may take 6)
JOB_DONE_MAX_AGE_S = 15 * 60.0  # a finished job stays in memory this long at most (then it is read from the store)
JOB_DONE_MAX_BYTES = 64 * 1024 * 1024  # bytes finished jobs may hold in memory together (partials, references, answers)
CANCEL_POLL_S = 1.0  # how often a runner reads stop requests written by other processes for its runs
OWNER_CHECK_S = 10.0  # how often a runner ends the runs of processes that are gone as interrupted

# --- Spend guardrails: daily budgets per provider, confirmation above a cost (lib/budget.py) ---
BUDGET_SECRETS_TABLE = "budget"  # [budget] in secrets.toml: default = 20.0, openai = 5.0, confirm_above = 1.0
BUDGET_ENV = "IMAGELAB_DAILY_BUDGET_USD"  # every provider without a figure of its own...
BUDGET_PROVIDER_ENV = "IMAGELAB_DAILY_BUDGET_USD_{provider}"  # ...and one provider (OPENAI, WISGATE, EVOLINK, CUSTOM, SANDBOX)
CONFIRM_ABOVE_ENV = "IMAGELAB_CONFIRM_ABOVE_USD"  # a send estimated above this asks for one confirm click
DEFAULT_CONFIRM_ABOVE_USD = 1.00
BUDGET_MAX_USD = 1_000_000.0  # a budget or threshold typed above this is refused, not clamped
BUDGET_RUNNING_MAX_AGE_S = 2 * 86400  # a run still queued/running counts against today only if started this recently

# --- What the page shows to others: images through the session, report import bounds ---
SESSION_PREVIEW_PX = 1536  # an image too large to travel inside the session is shown scaled to this many pixels a side
REPORT_MAX_DEPTH = 32  # an imported report nested deeper than this (arrays and objects) is refused
REPORT_MAX_EVIDENCE_PER_STEP = 25  # an imported report's evidence beyond this, per step, is left out (the page says so)
REPORT_MAX_LINKS = 10  # links kept per evidence item
REPORT_MAX_SETTINGS = 64  # settings entries kept
REPORT_MAX_TEXT_CHARS = 4000  # each text of an imported report (verdict, fix, evidence, prompt, note) is cut to this
REPORT_THUMB_MAX_BYTES = 256 * 1024  # an imported report's thumbnail: at most this many bytes...
REPORT_THUMB_MAX_PX = 320  # ...and this many pixels a side (the app makes them at DIAG_THUMB_PX)

# Compare: repeats
COMPARE_MAX_REPEATS = 5  # samples of one cell (each one run)

# --- Your place: page inputs kept across pages and reloads (lib/ui/place.py, lib/store/places.py) ---
PLACE_KEEP_DAYS = 7  # a browser's place on a page, kept server-side, is dropped after this many days unused
PLACE_COOKIE = "imagelab_place"  # the cookie holding the browser's random place token (never a key, never in a link)
PLACE_MAX_TEXT_CHARS = 40_000  # a kept text longer than this (a prompt is at most 32,000) is not kept

# --- Reuse and lineage: a run made from another run's result (lib/store/lineage.py) ---
LINEAGE_MAX_STEPS = 50  # how far back History's "how this image came to be" follows parents
