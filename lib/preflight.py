"""Checks made before anything is sent: key, endpoint, model, size, prompt.

Raise ``InvalidInput`` naming the field; the diagnostics checklist reuses them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lib import constants as C
from lib import errors as E
from lib.generation import ClientSettings, GenerationRequest
from lib.providers import (
    BACKGROUNDS,
    MODERATIONS,
    OUTPUT_FORMATS,
    Provider,
    check_model,
    check_size,
    estimate_tokens,
    request_limits,
    route_label,
    size_rule,
)

_KEY_BAD = re.compile(r"[\s\"'`<>]")


def check_key(key: str, provider: Provider) -> str | None:
    """None when the key is fit to send, else what is wrong (never the key itself)."""
    if not key:
        if provider.needs_key:
            return f"No API key: set {provider.key_env}, add it to .streamlit/secrets.toml, or type it in Settings."
        return None
    if re.match(r"[\s\"'`]*bearer\b", key, re.I):  # before the spaces rule: 'Bearer sk-...' holds a space
        return "The API key starts with 'Bearer'; give only the key, the app adds the prefix."
    if key != key.strip():
        return "The API key starts or ends with whitespace or a line break; remove it."
    if "\n" in key or "\r" in key:
        return "The API key contains a line break; it was probably pasted across two lines."
    if _KEY_BAD.search(key):
        return "The API key contains spaces, quotes or angle brackets; paste the bare key."
    if not key.isascii():
        return "The API key contains non-ASCII characters; it was probably mangled while copying."
    if "..." in key or "…" in key or "***" in key:
        return "The API key looks masked or shortened (it contains '...' or '***'); copy the full key."
    if provider.key_prefix and not key.startswith(provider.key_prefix):
        return f"{provider.label} keys start with '{provider.key_prefix}'; this one does not."
    if provider.key_prefix and len(key) < C.MIN_PREFIXED_KEY_LEN:
        return f"The key is only {len(key)} characters long; {provider.label} keys are longer. It may be truncated."
    return None


# --------------------------------------------------------------------------
# Numbers a user types: one range per field, read by the widgets and by pre-flight


@dataclass(frozen=True)
class NumberRule:
    label: str  # as the widget names it
    low: float
    high: float
    whole: bool  # a whole number only
    unit: str = ""


NUMBER_RULES: dict[str, NumberRule] = {
    "n": NumberRule("Images", C.MIN_N, C.MAX_N, True),
    "output_compression": NumberRule("Compression", 0, 100, True, "%"),
    "read_timeout": NumberRule("Read timeout", 1, 900, False, "s"),
    "task_deadline": NumberRule("Task deadline", 10, 3600, False, "s"),
    "run_deadline": NumberRule("Run deadline", 10, 7200, False, "s"),
    "max_retries": NumberRule("Retries", 0, 6, True),
    "rate_per_s": NumberRule("Rate limit", 0.1, 50, False, "requests/s"),
    "max_concurrency": NumberRule("Parallel requests", 1, 16, True),
    "size_w": NumberRule("Width", 16, C.MAX_EDGE_PX, True, "px"),
    "size_h": NumberRule("Height", 16, C.MAX_EDGE_PX, True, "px"),
    "partial_images": NumberRule("Partial images", 0, C.MAX_PARTIAL_IMAGES, True),
}


def _fmt(value: float) -> str:
    return f"{value:g}" if float(value) != int(value) else f"{int(value):,}"


def parse_number(name: str, raw: object) -> tuple[float | int | None, str | None]:
    """A typed value read against its field's rule: (value, None), or (None, what is wrong).

    Accepts ints, floats and text ("120", " 2.5 ", "1,000"); refuses what is out of range,
    fractional where a whole number is needed, not finite or not a number, saying which."""
    import math

    rule = NUMBER_RULES[name]
    unit = f" {rule.unit}" if rule.unit and rule.unit != "%" else rule.unit
    span = f"from {_fmt(rule.low)} to {_fmt(rule.high)}{unit}"
    if isinstance(raw, bool):
        return None, f"{rule.label} must be a number {span}."
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw or "").strip().replace(",", "").replace("_", "")
        if not text:
            return None, f"{rule.label} is empty; enter a number {span}."
        try:
            value = float(text)
        except ValueError:
            return None, f"{rule.label}: '{str(raw)[:40]}' is not a number; enter one {span}."
    if not math.isfinite(value):
        return None, f"{rule.label} must be a finite number {span}."
    if rule.whole and value != int(value):
        return None, f"{rule.label} must be a whole number {span}; {_fmt(value)} is not."
    if not rule.low <= value <= rule.high:
        return None, f"{rule.label} must be {span}; {_fmt(value)} is out of range."
    return (int(value) if rule.whole else value), None


def number_problem(name: str, value: object) -> str | None:
    """None when ``value`` is within its field's rule, else what is wrong."""
    return parse_number(name, value)[1]


def check_request_values(request: GenerationRequest, model: str, provider: Provider | str | None = None) -> tuple[str, str] | None:
    """(message, field) for the first value ``model`` does not take, else None: prompt length, n,
    size, quality and the gpt-image-only parameters, each by that model's rules, or with a provider
    by that route's, and the message names the route."""
    limits = request_limits(model, provider)
    name = route_label(provider, model)
    if len(request.prompt) > limits.max_prompt_chars:
        return f"The prompt is {len(request.prompt):,} characters; {name} takes at most {limits.max_prompt_chars:,}.", "prompt"
    if limits.max_prompt_tokens is not None:
        tokens = estimate_tokens(request.prompt)
        if tokens > limits.max_prompt_tokens:
            return (
                f"The prompt is about {tokens:,} tokens; {name} takes at most {limits.max_prompt_tokens:,}. Shorten it.",
                "prompt",
            )
    if not isinstance(request.n, int) or isinstance(request.n, bool):
        return f"Images (n) must be a whole number; got {request.n!r}.", "n"
    problem = number_problem("n", request.n)
    if problem:
        return problem, "n"
    if request.n > limits.max_n:
        return f"{name} makes at most {limits.max_n} image(s) per request; {request.n} were asked for.", "n"
    size_problem = check_size(request.size, model, provider)
    if size_problem:
        return size_problem, "size"
    if request.resolution is not None:
        resolutions = size_rule(model, provider).resolutions
        if not resolutions:
            return f"{name} takes no resolution; give the size as WIDTHxHEIGHT and leave resolution out.", "resolution"
        if request.resolution not in resolutions:
            return f"{name} takes resolution {', '.join(resolutions)}; got '{request.resolution}'.", "resolution"
    if request.quality not in limits.qualities:
        if limits.qualities == ("auto",):
            return f"{name} takes no quality parameter; leave quality at auto (got '{request.quality}').", "quality"
        return f"{name} takes quality {', '.join(limits.qualities)}; got '{request.quality}'.", "quality"
    if not limits.gpt_image_params:
        for param, value, default in (
            ("background", request.background, "auto"),
            ("output_format", request.output_format, "png"),
            ("moderation", request.moderation, "auto"),
        ):
            if value != default:
                return f"{name} does not take {param} '{value}'; only gpt-image models do. Leave it at {default}.", param
        if request.output_compression is not None:
            return f"{name} does not take output_compression; only gpt-image models do.", "output_compression"
    return None


def preflight(request: GenerationRequest, settings: ClientSettings) -> None:
    """Raise InvalidInput for anything that cannot succeed, before sending."""

    def bad(message: str, param: str) -> E.InvalidInput:
        return E.InvalidInput(message, param=param, code="preflight")

    if not request.prompt or not request.prompt.strip():
        raise bad("The prompt is empty.", "prompt")
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
    problem = check_request_values(request, request.model, provider)
    if problem:
        raise bad(*problem)
    for name, value, allowed in (
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
        problem = number_problem("output_compression", request.output_compression)
        if problem:
            raise bad(problem, "output_compression")
    if "response_format" in request.extra and request.model.startswith("gpt-image"):
        raise bad("gpt-image models reject response_format; they always answer with base64.", "response_format")
    check_dialect(request, settings)
    check_media(request, settings)  # streaming, reference images, mask


def check_dialect(request: GenerationRequest, settings: ClientSettings) -> None:
    """A Custom provider's dialect must have loaded (its file's problems named with file:line),
    and it describes text to image only: no reference images, no streaming."""
    from lib.dialects import Dialect, DialectError

    dialect = settings.dialect
    if dialect is None:
        return
    if isinstance(dialect, DialectError) or not isinstance(dialect, Dialect):
        raise E.InvalidInput(f"The gateway dialect cannot be used: {dialect}", param="dialect", code="dialect")
    for used, what in ((request.is_edit, "reference images (edits)"), (request.stream, "streaming")):
        if used:
            raise E.InvalidInput(
                f"The dialect '{dialect.name}' describes text-to-image requests only; {what} cannot be sent through it. "
                "Remove them, or choose the OpenAI-compatible dialect.",
                param="dialect",
                code="dialect",
            )


# --------------------------------------------------------------------------
# Media: streaming, reference images and the mask


def _did_you_mean(models: list[str], what: str) -> str:
    return f" Did you mean {models[0]}? Models that {what}: {', '.join(models)}." if models else ""


def check_media(request: GenerationRequest, settings: ClientSettings | None = None, model: str | None = None) -> None:
    """Raise InvalidInput for a streaming or edit request the model (or the files) cannot take.

    Each failure names the field, and for a file the file's name."""
    import io

    from PIL import Image

    from lib.edits import EDIT_TYPES, sniff
    from lib.errors import InvalidImage
    from lib.images import validate
    from lib.providers import capabilities, edit_models, route_label, stream_models

    model = model or request.model
    provider = settings.preset if settings is not None else None
    cap = capabilities(model, provider)
    label = route_label(provider, model)

    def bad(message: str, param: str) -> E.InvalidInput:
        return E.InvalidInput(message, param=param, code="preflight")

    if request.stream:
        if not isinstance(request.partial_images, int) or not 0 <= request.partial_images <= C.MAX_PARTIAL_IMAGES:
            raise bad(f"partial_images must be a whole number from 0 to {C.MAX_PARTIAL_IMAGES}.", "partial_images")
        if not cap.streams:
            raise bad(f"{label} does not stream partial images." + _did_you_mean(stream_models(provider), "stream"), "stream")
    if request.background not in cap.backgrounds:
        raise bad(f"{label} does not take background '{request.background}'; it takes {', '.join(cap.backgrounds)}.", "background")
    if request.input_fidelity:
        if request.input_fidelity not in cap.input_fidelity:
            takes = f"it takes {', '.join(cap.input_fidelity)}" if cap.input_fidelity else "leave it out"
            raise bad(f"{label} does not take input_fidelity '{request.input_fidelity}'; {takes}.", "input_fidelity")
        if not request.images:
            raise bad("input_fidelity applies to edits: add a reference image, or leave it out.", "input_fidelity")
    if request.mask is not None and not request.images:
        raise bad(f"The mask '{request.mask.filename}' needs a reference image to apply to.", "mask")
    if not request.images:
        return
    if not cap.edits:
        raise bad(f"{label} cannot edit images." + _did_you_mean(edit_models(provider), "edit"), "model")
    if len(request.images) > cap.max_reference_images:
        raise bad(f"{len(request.images)} reference images: {label} takes at most {cap.max_reference_images}.", "image")
    first_size: tuple[int, int] | None = None
    for position, ref in enumerate(request.images, start=1):
        name = f"'{ref.filename or f'image {position}'}'"
        if ref.byte_size == 0:
            raise bad(f"Reference image {name} is empty.", "image")
        if ref.byte_size > C.MAX_REFERENCE_IMAGE_BYTES:
            raise bad(
                f"Reference image {name} is {ref.byte_size / 1048576:.1f} MB; each image must be under {C.MAX_REFERENCE_IMAGE_BYTES // 1048576} MB.",
                "image",
            )
        kind = sniff(ref.data)
        if kind not in EDIT_TYPES:
            found = kind.split("/")[1].upper() if kind else "not an image"
            raise bad(
                f"Reference image {name} is {'a ' + found + ' file' if kind else found} by its content; use PNG, WebP or JPEG.", "image"
            )
        try:
            info = validate(ref.data)
        except InvalidImage as err:
            raise bad(f"Reference image {name} cannot be read: {err.message}", "image") from None
        ref.content_type = kind
        if first_size is None:
            first_size = (info.width, info.height)
    mask = request.mask
    if mask is not None:
        name = f"'{mask.filename or 'mask'}'"
        if not cap.mask:
            raise bad(f"{label} does not take a mask; leave {name} out.", "mask")
        if mask.byte_size > C.MAX_MASK_BYTES:
            raise bad(f"The mask {name} is {mask.byte_size / 1048576:.1f} MB; it must be under {C.MAX_MASK_BYTES // 1048576} MB.", "mask")
        if sniff(mask.data) != "image/png":
            raise bad(f"The mask {name} is not a PNG file (by its content); the mask must be a PNG with transparency.", "mask")
        try:
            info = validate(mask.data)
            with Image.open(io.BytesIO(mask.data)) as im:
                has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode in ("P", "RGB", "L") and "transparency" in im.info)
        except InvalidImage as err:
            raise bad(f"The mask {name} cannot be read: {err.message}", "mask") from None
        if not has_alpha:
            raise bad(f"The mask {name} has no alpha channel; its fully transparent pixels mark where to edit.", "mask")
        if first_size is not None and (info.width, info.height) != first_size:
            first = request.images[0].filename or "the first image"
            raise bad(
                f"The mask {name} is {info.width}x{info.height}; it must be the size of '{first}', {first_size[0]}x{first_size[1]}.",
                "mask",
            )
        mask.content_type = "image/png"
