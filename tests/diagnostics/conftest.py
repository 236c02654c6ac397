"""The diagnostics tests' shared fixture: a store in a temporary data directory. Their shared
helpers (the model, sandbox settings for a scenario, a recorded generation) are in
tests/support/diagnostics_setup.py."""

from __future__ import annotations

import pytest

from lib.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(data_dir=tmp_path / "data")
