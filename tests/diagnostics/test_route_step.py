"""Diagnostics step 6 says which route is checked: what it takes, its source and what is not confirmed."""

from __future__ import annotations

from lib import diagnostics as D
from lib.diagnostics.checks import route_summary
from lib.generation import ClientSettings


def test_step_6_names_the_route_with_its_source():
    settings = ClientSettings(provider="evolink", api_key="ev-test-key-0001")
    step = D.run_checks(settings, "gpt-image-2-beta", probe=False).step(6)
    text = " ".join(e.text for e in step.evidence)
    assert "Route gpt-image-2-beta @ EvoLink: n 1; quality not taken" in text
    assert "prompts up to 2,000 tokens" in text and "per call, by resolution tier" in text
    assert "Source: EvoLink API documentation" in text and "Not confirmed:" in text and "callback_url" in text


def test_route_summary_of_an_openai_route_has_nothing_unconfirmed_to_say_twice():
    text = route_summary("openai", "gpt-image-1.5")
    assert text.startswith("Route gpt-image-1.5 @ OpenAI: n 1-10; quality auto, low, medium, high")
    assert "multipart /images/edits" in text
