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

# --- Async tasks --------------------------------------------------------------
TASK_POLL_INITIAL_S = 0.5
TASK_POLL_MAX_S = 1.5  # a finished task is noticed within this (plus one request): median lag under 1 s
TASK_POLL_BACKOFF = 1.2
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
KEY_HINT_MIN_KEY_LEN = 12  # shorter keys get no hint at all (and are not searched for in echoes)
MIN_PREFIXED_KEY_LEN = 40  # an "sk-" key shorter than this was probably cut off
MAX_ERROR_MESSAGE_CHARS = 2000  # kept per attempt
LOG_MAX_BYTES = 2_000_000
LOG_BACKUPS = 3
JOB_WORKERS = 8  # generations running at once in one app process
DEFAULT_PAGE_SIZE = 50

# --- Sandbox -------------------------------------------------------------------
SANDBOX_DEFAULT_LATENCY_S = (1.0, 3.0)
SANDBOX_SLOW_LATENCY_S = 8.0
SANDBOX_HANG_S = 200.0  # longer than the default read timeout
SANDBOX_TASK_DURATION_S = 3.0
SANDBOX_RATE_WINDOW_S = 1.0
SANDBOX_KEPT_FILES = 512

# --- Engine (issue 7): jobs, cancel, deadlines, store writes ------------------
DEFAULT_RUN_DEADLINE_S = 600.0  # a whole generation (retries and fallback hops) stops here
JOB_DONE_KEEP = 200  # finished jobs a runner keeps for reattach (the store has the rest)
SHUTDOWN_GRACE_S = 5.0  # how long shutdown waits for in-flight generations to stop
STORE_WRITE_RETRIES = 3  # a write that fails (e.g. a lock held past the busy timeout) is tried again...
STORE_WRITE_RETRY_DELAY_S = 0.2  # ...after this delay, doubling; then it is kept and replayed later
RECENT_RUNS = 20  # "recent generations" on the Generate page
