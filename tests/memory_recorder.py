"""Kept for benchmarks/, which import it by this name: the recorder lives in tests/support/memory_recorder.py."""

from tests.support.memory_recorder import MemoryRecorder  # noqa: F401
