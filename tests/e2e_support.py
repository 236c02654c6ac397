"""Kept for benchmarks/, which import it by this name: the helpers live in tests/support/e2e_support.py."""

from tests.support.e2e_support import APP_IDLE, ROOT, free_port, launch_browser, running_app, wait_for_http  # noqa: F401
