"""What the diagnostics tests share besides fixtures: the model they diagnose, sandbox settings
for a scenario, and a generation recorded in a store (the ``store`` fixture is in
tests/diagnostics/conftest.py)."""

from __future__ import annotations

from lib.client import ImageClient
from lib.generation import ClientSettings, GenerationRequest
from lib.store import Store

MODEL = "gpt-image-2"


def settings_for(sandbox, scenario: str | None = None, **changes) -> ClientSettings:
    """The sandbox provider at the running sandbox, with ``scenario`` as its behaviour."""
    headers = {"X-Sandbox-Scenario": scenario} if scenario else {}
    headers.update(changes.pop("extra_headers", {}))
    return ClientSettings(provider="sandbox", base_url=sandbox.base_url, extra_headers=headers, **changes)


def generate(settings: ClientSettings, store: Store, prompt: str = "a paper boat", model: str = MODEL):
    """One generation with these settings, recorded in ``store``."""
    with ImageClient(settings=settings, recorder=store, keeper=store.keeper) as client:
        return client.generate(GenerationRequest(prompt=prompt, model=model))
