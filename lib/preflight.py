"""Checks made before anything is sent: key, endpoint, model, size, prompt.

Raise ``InvalidInput`` naming the field; the diagnostics checklist reuses them.
"""

from __future__ import annotations

import re

from lib import constants as C
from lib import errors as E
from lib.generation import ClientSettings, GenerationRequest
from lib.providers import BACKGROUNDS, MODERATIONS, OUTPUT_FORMATS, QUALITIES, Provider, check_model, check_size

_KEY_BAD = re.compile(r"[\s\"'`<>]")


def check_key(key: str, provider: Provider) -> str | None:
    """None when the key is fit to send, else what is wrong (never the key itself)."""
    if not key:
        if provider.needs_key:
            return f"No API key: set {provider.key_env}, add it to .streamlit/secrets.toml, or type it in Settings."
        return None
    if key != key.strip():
        return "The API key starts or ends with whitespace or a line break; remove it."
    if "\n" in key or "\r" in key:
        return "The API key contains a line break; it was probably pasted across two lines."
    if _KEY_BAD.search(key):
        return "The API key contains spaces, quotes or angle brackets; paste the bare key."
    if not key.isascii():
        return "The API key contains non-ASCII characters; it was probably mangled while copying."
    if key.lower().startswith("bearer"):
        return "The API key starts with 'Bearer'; give only the key, the app adds the prefix."
    if "..." in key or "…" in key or "***" in key:
        return "The API key looks masked or shortened (it contains '...' or '***'); copy the full key."
    if provider.key_prefix and not key.startswith(provider.key_prefix):
        return f"{provider.label} keys start with '{provider.key_prefix}'; this one does not."
    if provider.key_prefix and len(key) < C.MIN_PREFIXED_KEY_LEN:
        return f"The key is only {len(key)} characters long; {provider.label} keys are longer. It may be truncated."
    return None


def preflight(request: GenerationRequest, settings: ClientSettings) -> None:
    """Raise InvalidInput for anything that cannot succeed, before sending."""

    def bad(message: str, param: str) -> E.InvalidInput:
        return E.InvalidInput(message, param=param, code="preflight")

    if not request.prompt or not request.prompt.strip():
        raise bad("The prompt is empty.", "prompt")
    if len(request.prompt) > C.MAX_PROMPT_CHARS:
        raise bad(f"The prompt is {len(request.prompt):,} characters; the limit is {C.MAX_PROMPT_CHARS:,}.", "prompt")
    provider = settings.preset
    problem = check_key(settings.api_key, provider)
    if problem:
        raise bad(problem, "api_key")
    endpoint = settings.endpoint
    if not endpoint.ok:
        fails = [p.message for p in endpoint.problems if p.severity == "fail"] or ["No endpoint could be built."]
        raise bad("Endpoint: " + " ".join(fails), "base_url")
    destination = settings.key_problem(endpoint.url)  # a configured key goes only to its own host
    if destination:
        raise E.InvalidInput(destination[1], param=destination[0], code="key_host")
    mc = check_model(request.model, provider)
    if not request.model.strip():
        raise bad("No model is set.", "model")
    if mc.near_miss:
        raise bad(mc.message, "model")
    if not isinstance(request.n, int) or not (C.MIN_N <= request.n <= C.MAX_N):
        raise bad(f"n must be a whole number from {C.MIN_N} to {C.MAX_N}.", "n")
    size_problem = check_size(request.size, request.model)
    if size_problem:
        raise bad(size_problem, "size")
    for name, value, allowed in (
        ("quality", request.quality, QUALITIES),
        ("background", request.background, BACKGROUNDS),
        ("output_format", request.output_format, OUTPUT_FORMATS),
        ("moderation", request.moderation, MODERATIONS),
    ):
        if value not in allowed:
            raise bad(f"{name} must be one of {', '.join(allowed)}; got '{value}'.", name)
    if request.background == "transparent" and request.output_format == "jpeg":
        raise bad("A transparent background needs png or webp output; jpeg has no alpha channel.", "background")
    if request.output_compression is not None:
        if request.output_format == "png":
            raise bad("output_compression applies to jpeg and webp only.", "output_compression")
        if not (0 <= request.output_compression <= 100):
            raise bad("output_compression must be from 0 to 100.", "output_compression")
    if "response_format" in request.extra and request.model.startswith("gpt-image"):
        raise bad("gpt-image models reject response_format; they always answer with base64.", "response_format")
