"""The jobs' page tests open the app through the same AppTest fixtures as tests/pages."""

from tests.pages.conftest import app, app_env, new_app  # noqa: F401
