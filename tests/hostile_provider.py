"""Kept for benchmarks/, which import it by this name: the provider lives in tests/support/hostile_provider.py."""

from tests.support.hostile_provider import HostileProvider, main  # noqa: F401

if __name__ == "__main__":  # pragma: no cover - manual use
    main()
