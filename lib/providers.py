"""Provider presets, endpoint building and model-name checks.

A preset says where a provider lives, how it delivers images (``sync`` or
``task``), which environment variable holds its key, which models it serves
and the fallback chain to use. ``build_endpoint`` turns whatever a user pastes
into the one final URL, and lists what looked wrong on the way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from lib import constants as C

GENERATIONS_PATH = "/images/generations"
DEFAULT_FALLBACKS = ("gpt-image-2", "gpt-image-1.5", "seedream-4-5")
GPT_IMAGE_MODELS = ("gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini")
GATEWAY_MODELS = ("seedream-4-5",)
FIXED_SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("auto", "low", "medium", "high")
BACKGROUNDS = ("auto", "opaque", "transparent")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
MODERATIONS = ("auto", "low")
DELIVERIES = ("sync", "task")


@dataclass(frozen=True)
class Provider:
    id: str
    label: str
    base_url: str
    key_env: str
    delivery: str  # "sync" or "task": what the provider does; the client also reads the answer itself
    models: tuple[str, ...]
    fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS
    needs_key: bool = True
    key_prefix: str | None = None  # e.g. "sk-" for OpenAI keys
    note: str = ""

    @property
    def default_model(self) -> str:
        return self.models[0] if self.models else "gpt-image-2"


PRESETS: dict[str, Provider] = {
    p.id: p
    for p in (
        Provider(
            id="sandbox",
            label="Sandbox (local, no key)",
            base_url="",  # filled in with the local server's address when it starts
            key_env="IMAGELAB_SANDBOX_KEY",
            delivery="sync",
            models=GPT_IMAGE_MODELS + GATEWAY_MODELS,
            needs_key=False,
            note="A local image API started by the app; it needs no key. Under Sandbox behaviour, pick a failure to rehearse.",
        ),
        Provider(
            id="openai",
            label="OpenAI",
            base_url="https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            delivery="sync",
            models=GPT_IMAGE_MODELS,
            fallbacks=("gpt-image-2", "gpt-image-1.5", "gpt-image-1"),
            key_prefix="sk-",
            note="Synchronous; gpt-image models always answer with base64. New organizations must be verified.",
        ),
        Provider(
            id="wisgate",
            label="WisGate",
            base_url="https://api.wisgate.ai/v1",
            key_env="WISGATE_API_KEY",
            delivery="sync",
            models=GPT_IMAGE_MODELS + GATEWAY_MODELS + ("dall-e-3", "dall-e-2"),
            note="OpenAI-compatible and synchronous; images come back as base64 or as a URL.",
        ),
        Provider(
            id="evolink",
            label="EvoLink",
            base_url="https://api.evolink.ai/v1",
            key_env="EVOLINK_API_KEY",
            delivery="task",
            models=("gpt-image-2", "gpt-image-2-beta") + GPT_IMAGE_MODELS[1:] + GATEWAY_MODELS,
            note="Asynchronous: the answer is a task that is polled; result URLs expire after 24 hours. "
            "EvoLink's callback_url is not used: a local app cannot receive a callback, so it polls.",
        ),
        Provider(
            id="custom",
            label="Custom (any OpenAI-compatible URL)",
            base_url="",
            key_env="IMAGELAB_API_KEY",
            needs_key=False,  # local and private gateways often take none; a key is sent when there is one
            delivery="sync",
            models=GPT_IMAGE_MODELS + GATEWAY_MODELS,
            note="Any OpenAI-compatible base URL (sync and task answers are both recognised), "
            "or a gateway with its own task API described by a dialect file.",
        ),
    )
}

KNOWN_MODELS: tuple[str, ...] = tuple(dict.fromkeys(m for p in PRESETS.values() for m in p.models))


def get_provider(provider_id: str) -> Provider:
    try:
        return PRESETS[provider_id]
    except KeyError:
        raise ValueError(f"unknown provider {provider_id!r}; choose one of {', '.join(PRESETS)}") from None


def provider_name(provider_id: str) -> str:
    """'OpenAI', 'WisGate', 'Sandbox': the preset's label without its explanation (an unknown id as it is)."""
    preset = PRESETS.get(provider_id)
    return preset.label.split(" (")[0] if preset else provider_id


# --------------------------------------------------------------------------
# Endpoints


@dataclass
class EndpointProblem:
    severity: str  # "fail" or "warn" or "info"
    message: str
    fix: str = ""  # what to set instead, naming the URL (for "fail" and "warn")


@dataclass
class Endpoint:
    url: str  # the final URL the POST goes to ("" when none could be built)
    root: str  # scheme://host[:port]
    api_base: str  # the URL before /images/generations (usually ending in /v1)
    problems: list[EndpointProblem] = field(default_factory=list)
    # For a base URL refused for its path (a model name in it, a singular route, another endpoint):
    # what to change, in words; ``url`` and ``api_base`` are then the corrected ones, never sent as typed.
    correction: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.url) and not any(p.severity == "fail" for p in self.problems)

    def task_url_a(self, task_id: str) -> str:
        return f"{self.url}/{task_segment(task_id)}"

    def task_url_b(self, task_id: str) -> str:
        return f"{self.api_base}/tasks/{task_segment(task_id)}"

    @property
    def edits_url(self) -> str:
        """The edits route beside the generations route (same API base)."""
        return f"{self.api_base}/images/edits" if self.api_base else ""

    @property
    def moderations_url(self) -> str:
        """The moderations route beside the image routes (same API base)."""
        return f"{self.api_base}/moderations" if self.api_base else ""


def task_segment(task_id: str) -> str:
    """A provider's task id as exactly one encoded path segment: '/', '?', '#',
    '%' and a bare '.' or '..' cannot change where the poll (and the key) goes."""
    segment = quote(str(task_id), safe="-_.~")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return segment


_VERSION_SEG = re.compile(r"^v\d+[a-z0-9]*$", re.I)
# A path segment that names an image model: an exact id of any preset in any case or spelling
# (``GPT-Image-2``, ``gpt_image_2``), or one of the model families (gpt-image-*, dall-e-*, seedream-*).
_MODEL_FAMILY = re.compile(r"^(?:chat)?gpt[-_.]?image[-_.]?\d|^dall[-_.]?e[-_.]?\d|^seedream[-_.]?\d", re.I)
_MODEL_ACTION = "Remove the model name from the path"


def _is_model_segment(segment: str) -> bool:
    if not segment:
        return False
    return bool(_MODEL_FAMILY.match(segment)) or _canonical(segment) in {_canonical(m) for m in KNOWN_MODELS}


_SINGULAR = re.compile(r"/(image/generations?|images/generation|image/generate|images/generate)/?$", re.I)
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}


def _is_local_host(host: str) -> bool:
    """A loopback, private or link-local address, or a name that is local by convention."""
    import ipaddress

    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def base_url_problem(raw: str) -> str | None:
    """What makes a typed base URL unusable, found from its text alone (no DNS, no connection), or None.

    Refused: spaces or control characters inside it, a scheme other than http(s) (``ftp://``,
    ``file://``, ``javascript:``, a misspelt ``htp://``), no scheme at all, no host, a port that
    is not a number, and a user name or password in it (``https://user:pass@host``): the app
    sends the key as a Bearer token, and httpx would turn URL credentials into a Basic
    Authorization header that replaces it, so they are refused rather than sent."""
    from lib.redact import mask_url

    shown = mask_url(raw)[:200]
    for i, ch in enumerate(raw):
        if ch.isspace():
            return f"The URL contains a space or line break at character {i + 1}; URLs have none. Paste it again without it."
        if ord(ch) < 32 or 127 <= ord(ch) < 160 or ch in "\u200b\u200c\u200d\u2060\ufeff":
            return f"The URL contains an invisible control character (U+{ord(ch):04X}) at character {i + 1}; type it again."
    if "://" in raw:
        scheme = raw.split("://", 1)[0]
    else:
        m = _SCHEME.match(raw)
        after = raw[m.end() :] if m else ""
        scheme = m.group(1) if m and not re.match(r"\d", after) else ""  # 'localhost:8080' is a host and a port
        if not scheme:
            local = _is_local_host(host_of("https://" + raw))
            example = ("http://" if local else "https://") + shown
            return f"The URL has no scheme; write it in full, e.g. {example}"
    if scheme.lower() not in ("http", "https"):
        close = difflib.get_close_matches(scheme.lower(), ["https", "http"], n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}://?" if close else ""
        return f"The URL's scheme is '{scheme[:20]}:'; only http:// and https:// are accepted.{hint}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return f"'{shown}' has a port that is not a number from 1 to 65535."
    if not parts.hostname:
        return f"'{shown}' has no host name."
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return (
            "The URL holds a user name or password (before the @). Remove it: the key goes in the API key field and is sent "
            f"as a Bearer token, never in the URL. Shown masked: {shown}"
        )
    if port == 0:
        return f"'{shown}' has port 0, which no server listens on."
    return None


def build_endpoint(base_url: str, *, preset: Provider | None = None) -> Endpoint:
    """Turn whatever a user pasted into the final generations URL.

    Accepts ``https://host``, ``https://host/``, ``https://host/v1``,
    ``https://host/v1/``, or the full ``.../v1/images/generations``; collapses a
    doubled ``/v1``; flags plain http to a remote host and a host that differs from
    the preset's. A path it refuses but can correct (a model name in it, a singular
    ``/image/generation``, another endpoint pasted by mistake) fails with the base URL
    to set in its message and the change in ``correction``; ``url`` and ``api_base``
    are then the corrected ones (what the sidebar shows and the probes try), and
    generations still refuse the settings until the base URL is changed.
    """
    problems: list[EndpointProblem] = []
    raw = (base_url or "").strip()
    if raw != (base_url or ""):
        problems.append(EndpointProblem("info", "Leading or trailing spaces were removed from the URL."))
    if not raw:
        return Endpoint("", "", "", [EndpointProblem("fail", "No base URL is set.")])
    refusal = base_url_problem(raw)
    if refusal:
        return Endpoint("", "", "", [EndpointProblem("fail", refusal)])
    parts = urlsplit(raw)
    if parts.query or parts.fragment:
        problems.append(EndpointProblem("warn", "The query string or fragment in the URL was dropped."))
    root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")

    # Path mistakes are refused, each with its correction: the endpoint is built from the
    # corrected path, and the last of their messages names the base URL to set (filled in below).
    corrections: list[tuple[EndpointProblem, str]] = []
    kept: list[str] = []
    for seg in path.split("/")[1:]:
        if _is_model_segment(seg):
            if kept and kept[-1].lower() in ("models", "engines"):
                kept.pop()  # /v1/models/<model>: the address of one model's description, not the API base
            if not any(action == _MODEL_ACTION for _, action in corrections):
                problem = EndpointProblem(
                    "fail", f"The path contains the model name '{seg[:60]}'; the model goes in the JSON body, not the URL."
                )
                corrections.append((problem, _MODEL_ACTION))
            continue
        kept.append(seg)
    path = "".join("/" + seg for seg in kept)

    # Doubled version segments: /v1/v1 -> /v1
    doubled = re.search(r"/(v\d+)(/\1)+(?=/|$)", path)
    if doubled:
        path = path.replace(doubled.group(0), "/" + doubled.group(1), 1)
        problems.append(EndpointProblem("warn", f"A doubled /{doubled.group(1)} was collapsed into one."))

    lowered = path.lower()
    for wrong in ("/chat/completions", "/completions", "/responses", "/images/edits", "/images/variations", "/embeddings"):
        if lowered.endswith(wrong):
            problem = EndpointProblem("fail", f"This is the {wrong} endpoint; image generation uses {GENERATIONS_PATH}.")
            corrections.append((problem, f"Use the generations route '{GENERATIONS_PATH}', not '{wrong}'"))
            path = path[: -len(wrong)]
            lowered = path.lower()
            break

    if lowered.endswith(GENERATIONS_PATH):
        api_base_path = path[: -len(GENERATIONS_PATH)]
    elif _SINGULAR.search(path):
        bad = _SINGULAR.search(path).group(1)
        problem = EndpointProblem(
            "fail", f"The path ends in '/{bad}'; the route is '{GENERATIONS_PATH}' (plural, with an s on both words)."
        )
        corrections.append((problem, f"Use the plural route '{GENERATIONS_PATH}'"))
        api_base_path = path[: _SINGULAR.search(path).start()]
    else:
        api_base_path = path

    segments = [s for s in api_base_path.split("/") if s]
    if not segments or not _VERSION_SEG.match(segments[-1]):
        if segments:
            problems.append(EndpointProblem("info", f"The path '{api_base_path}' has no version segment; /v1 was added after it."))
        api_base_path = api_base_path + "/v1"

    api_base = root + api_base_path
    url = api_base + GENERATIONS_PATH
    if corrections:
        corrections[-1][0].message += f" Set the base URL to {api_base} (requests then go to {url})."
    for problem, _ in corrections:
        problem.fix = f"Set the base URL to {api_base}."
    for problem in problems:  # the doubled /v1 and the dropped query: the app sends to the corrected URL
        if problem.severity == "warn":
            problem.fix = f"Set the base URL to {api_base}."
    problems.extend(problem for problem, _ in corrections)
    actions = list(dict.fromkeys(action for _, action in corrections))
    correction = "".join([*actions[:1], *(", and " + a[0].lower() + a[1:] for a in actions[1:])])

    host = parts.hostname or ""
    if parts.scheme == "http" and host not in _LOOPBACK:
        secure = "https" + api_base[len("http") :]
        problems.append(
            EndpointProblem(
                "warn",
                "Plain http to a remote host: the API key would travel unencrypted. Use https.",
                f"Set the base URL to {secure} (https).",
            )
        )
    if preset is not None and preset.base_url:
        preset_host = urlsplit(preset.base_url).hostname
        if preset_host and host != preset_host and is_rehearsal(api_base, preset):
            problems.append(
                EndpointProblem("info", f"The local sandbox, speaking as {preset.label}: a rehearsal, nothing reaches {preset_host}.")
            )
        elif preset_host and host != preset_host:
            problems.append(
                EndpointProblem(
                    "warn",
                    f"The host '{host}' is not {preset.label}'s ({preset_host}); a key for one provider does not work on another.",
                    f"Set the base URL to {preset.label}'s, {preset.base_url}, or choose the Custom provider for {host}.",
                )
            )
    return Endpoint(url=url, root=root, api_base=api_base, problems=problems, correction=correction)


# --------------------------------------------------------------------------
# Models


@dataclass
class ModelCheck:
    model: str
    known: bool  # an exact id this provider lists
    suggestion: str | None  # nearest known id, when the input is not exact
    near_miss: bool  # the input is a spelling of a known id (case, separators)
    message: str


_ALIASES = {
    "dall-e-4": "gpt-image-2",
    "dalle-4": "gpt-image-2",
    "gpt-image": "gpt-image-2",
    "gpt-image-latest": "gpt-image-2",
    "chatgpt-image": "gpt-image-2",
}


def _canonical(name: str) -> str:
    s = name.strip().lower()
    s = re.sub(r"[\s_./]+", "-", s)
    s = re.sub(r"-{2,}", "-", s).strip("-")
    s = re.sub(r"^chatgpt-", "gpt-", s)
    s = re.sub(r"(?<=[a-z])(?=\d)", "-", s)  # image2 -> image-2
    return s


def check_model(model: str, provider: Provider | None = None) -> ModelCheck:
    models = provider.models if provider else KNOWN_MODELS
    name = model or ""
    if not name.strip():
        return ModelCheck(name, False, models[0] if models else None, False, "No model is set.")
    if name in models:
        return ModelCheck(name, True, None, False, f"'{name}' is a model this provider serves.")
    canon = _canonical(name)
    by_canon = {_canonical(m): m for m in models}
    if canon in by_canon:
        exact = by_canon[canon]
        return ModelCheck(name, False, exact, True, f"'{name}' is not an exact model id. Did you mean '{exact}'?")
    alias = _ALIASES.get(canon) or _ALIASES.get(name.strip().lower())
    if alias and alias in models:
        return ModelCheck(name, False, alias, True, f"'{name}' is not a model id. Did you mean '{alias}'?")
    close = difflib.get_close_matches(canon, list(by_canon), n=1, cutoff=0.75)
    if close:
        guess = by_canon[close[0]]
        return ModelCheck(name, False, guess, False, f"'{name}' is not a model this provider lists. Did you mean '{guess}'?")
    return ModelCheck(name, False, None, False, f"'{name}' is not a model this provider lists; the provider will decide.")


def fallback_chain(primary: str, chain: tuple[str, ...] | list[str] | None) -> list[str]:
    """The models to try, in order: the primary, then the chain without repeats."""
    out = [primary]
    for m in chain or ():
        if m and m not in out:
            out.append(m)
    return out


# --------------------------------------------------------------------------
# Sizes


def parse_size(size: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*", size or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


# The documented gpt-image-2 rule for a free size: both sides multiples of 16, 655,360 to
# 8,294,400 pixels in all, no edge over 3,840, long side at most 3 times the short one.
FREE_SIZE_MULTIPLE = C.SIZE_MULTIPLE_PX
FREE_SIZE_MIN_PIXELS = 655_360
FREE_SIZE_MAX_PIXELS = C.MAX_TOTAL_PX  # 8,294,400 (3840x2160)
FREE_SIZE_MAX_EDGE = C.MAX_EDGE_PX
FREE_SIZE_MAX_RATIO = C.MAX_ASPECT_RATIO
FREE_SIZE_PRESETS = ("2048x1152", "1152x2048", "2048x2048", "3840x2160", "2160x3840")


@dataclass(frozen=True)
class SizeRule:
    """The sizes one model takes: a list of fixed sizes, and (gpt-image-2) any free size within the rule."""

    fixed: tuple[str, ...]  # includes "auto" where the model takes it
    free: bool  # any WxH within the documented gpt-image-2 rule
    open: bool = False  # a model outside the table (or a gateway model): any plausible size, the provider decides
    ratios: tuple[str, ...] = ()  # sizes given as a ratio ("16:9"), read with a resolution word
    resolutions: tuple[str, ...] = ()  # the resolution words a ratio size goes with ("1K", "2K", "4K")


SIZE_RULES: dict[str, SizeRule] = {
    "gpt-image-2": SizeRule(FIXED_SIZES + FREE_SIZE_PRESETS, free=True),
    "gpt-image-1.5": SizeRule(FIXED_SIZES, free=False),
    "gpt-image-1": SizeRule(FIXED_SIZES, free=False),
    "gpt-image-1-mini": SizeRule(FIXED_SIZES, free=False),
    "dall-e-3": SizeRule(("1024x1024", "1792x1024", "1024x1792"), free=False),
    "dall-e-2": SizeRule(("256x256", "512x512", "1024x1024"), free=False),
}
_OPEN_RULE = SizeRule(FIXED_SIZES, free=False, open=True)


def size_rule(model: str, provider: Provider | str | None = None) -> SizeRule:
    """The sizes ``model`` takes; with a provider, the sizes of that route."""
    if provider is not None:
        return route(provider, model).sizes
    return SIZE_RULES.get(model, _OPEN_RULE)


def size_choices(model: str, provider: Provider | str | None = None) -> tuple[str, ...]:
    """The sizes a widget offers for ``model`` (a free size is typed separately where the model takes one)."""
    rule = size_rule(model, provider)
    return rule.fixed + rule.ratios


def takes_free_size(model: str, provider: Provider | str | None = None) -> bool:
    rule = size_rule(model, provider)
    return rule.free or rule.open


def _free_size_problem(w: int, h: int) -> str | None:
    """Which part of the gpt-image-2 rule WxH breaks (the first one), or None."""
    m = FREE_SIZE_MULTIPLE
    if w <= 0 or h <= 0:
        return f"Both sides must be positive; {w}x{h} has a zero side."
    if w % m or h % m:
        return f"Both sides must be multiples of {m}; {w}x{h} is not."
    if max(w, h) > FREE_SIZE_MAX_EDGE:
        return f"No side may exceed {FREE_SIZE_MAX_EDGE:,} pixels; {w}x{h} has a {max(w, h):,}-pixel side."
    if max(w, h) > FREE_SIZE_MAX_RATIO * min(w, h):
        return f"The long side may be at most {FREE_SIZE_MAX_RATIO:g} times the short one (3:1); {w}x{h} is {max(w, h) / min(w, h):.2f}:1."
    if w * h < FREE_SIZE_MIN_PIXELS:
        return f"The image must have at least {FREE_SIZE_MIN_PIXELS:,} pixels in all; {w}x{h} has {w * h:,}."
    if w * h > FREE_SIZE_MAX_PIXELS:
        return f"The image may have at most {FREE_SIZE_MAX_PIXELS:,} pixels in all (3840x2160); {w}x{h} has {w * h:,}."
    return None


def nearest_free_size(w: int, h: int) -> str:
    """The valid gpt-image-2 size closest to WxH in shape and area."""
    import math

    w, h = max(int(w), 1), max(int(h), 1)
    ratio = min(max(w / h, 1 / FREE_SIZE_MAX_RATIO), FREE_SIZE_MAX_RATIO)
    area = min(max(w * h, FREE_SIZE_MIN_PIXELS), FREE_SIZE_MAX_PIXELS)
    tw, th = math.sqrt(area * ratio), math.sqrt(area / ratio)
    scale = min(1.0, FREE_SIZE_MAX_EDGE / max(tw, th))
    tw, th = tw * scale, th * scale
    m = FREE_SIZE_MULTIPLE
    best: tuple[float, int, int] | None = None
    for cw in range(int(tw // m) * m - 2 * m, int(tw // m) * m + 3 * m, m):
        for ch in range(int(th // m) * m - 2 * m, int(th // m) * m + 3 * m, m):
            if cw <= 0 or ch <= 0 or _free_size_problem(cw, ch):
                continue
            score = abs(math.log(cw / ch) - math.log(ratio)) * 4 + abs(math.log(cw * ch) - math.log(area))
            if best is None or score < best[0]:
                best = (score, cw, ch)
    assert best is not None  # the search box always holds a valid size
    return f"{best[1]}x{best[2]}"


def nearest_size(size: str, model: str) -> str | None:
    """The valid size of ``model`` nearest to ``size`` (None when ``size`` cannot be read)."""
    dims = parse_size(size)
    if dims is None:
        return None
    rule = size_rule(model)
    if rule.free:
        return nearest_free_size(*dims)
    fixed = [d for d in (parse_size(f) for f in rule.fixed) if d]
    if not fixed:
        return None
    import math

    w, h = max(dims[0], 1), max(dims[1], 1)
    fw, fh = min(fixed, key=lambda d: abs(math.log((d[0] / d[1]) / (w / h))) * 4 + abs(math.log(d[0] * d[1] / (w * h))))
    return f"{fw}x{fh}"


def check_size(size: str, model: str, provider: Provider | str | None = None) -> str | None:
    """None when the size suits the model (with a provider: that route), else the rule that failed
    and the nearest valid size."""
    rule = size_rule(model, provider)
    if size in rule.fixed or size in rule.ratios:
        return None
    dims = parse_size(size)
    if re.fullmatch(r"\s*\d{1,3}\s*:\s*\d{1,3}\s*", size or ""):
        if rule.ratios:
            return f"Size '{size}' is not a ratio {route_label(provider, model)} takes: {', '.join(rule.ratios)}."
        if not rule.open:
            return f"{route_label(provider, model)} does not take a size as a ratio ('{size}'); give WIDTHxHEIGHT (for example 1536x1024)."
    if rule.open:
        # Gateway models have sizes of their own ("2K", "2048x2048"): accept any plausible token.
        if (dims is not None and min(dims) > 0) or re.fullmatch(r"[0-9]{1,2}[kK]", size or ""):
            return None
        return f"Size '{size}' is not 'auto', WIDTHxHEIGHT, or a resolution such as 2K."
    if rule.free:
        if dims is None:
            return f"Size '{size}' is not 'auto' or WIDTHxHEIGHT (for example 1536x1024)."
        problem = _free_size_problem(*dims)
        if problem is None:
            return None
        return f"{problem} Nearest valid size: {nearest_free_size(*dims)}."
    takes = ", ".join(rule.fixed)
    if dims is None:
        return f"Size '{size}' is not one {model} takes: {takes}."
    nearest = nearest_size(size, model)
    free = " Other sizes need gpt-image-2." if model.startswith("gpt-image") else ""
    return f"{model} takes only {takes}; {dims[0]}x{dims[1]} is not one of them.{free} Nearest: {nearest}."


# --------------------------------------------------------------------------
# What else a model takes: images per request, prompt length, quality words, gpt-image parameters


@dataclass(frozen=True)
class RequestLimits:
    max_n: int
    max_prompt_chars: int
    qualities: tuple[str, ...]
    gpt_image_params: bool  # background, output_format, output_compression, moderation
    max_prompt_tokens: int | None = None  # a limit given in tokens (counted by estimate_tokens)


_GPT_IMAGE_LIMITS = RequestLimits(C.MAX_N, C.MAX_PROMPT_CHARS, QUALITIES, True)
REQUEST_LIMITS: dict[str, RequestLimits] = {
    **{m: _GPT_IMAGE_LIMITS for m in GPT_IMAGE_MODELS},
    "dall-e-3": RequestLimits(1, 4_000, ("auto", "standard", "hd"), False),
    "dall-e-2": RequestLimits(C.MAX_N, 1_000, ("auto", "standard"), False),
}


def request_limits(model: str, provider: Provider | str | None = None) -> RequestLimits:
    """What ``model`` takes besides its sizes (with a provider: that route); a model outside the
    table gets the gpt-image limits."""
    if provider is not None:
        return route(provider, model).limits
    return REQUEST_LIMITS.get(model, _GPT_IMAGE_LIMITS)


_TOKEN_PIECE = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free count of the tokens in ``text``, on the high side: each run of ASCII letters
    and digits counts one token per 4 characters (at least one), every other visible character one."""
    return sum(-(-len(piece) // 4) if piece[0].isascii() and piece[0].isalnum() else 1 for piece in _TOKEN_PIECE.findall(text or ""))


# --------------------------------------------------------------------------
# Keys


KEY_SOURCES = {
    "typed": "typed in this session",
    "secrets": ".streamlit/secrets.toml",
    "environment": "environment variable",
    "": "no key",
}


def resolve_key(
    provider: Provider, *, typed: str = "", secrets: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The key to use and where it came from: typed > secrets.toml > environment.

    secrets.toml may hold the variable name at top level (OPENAI_API_KEY = "...")
    or a table ``[api_keys]`` with one entry per provider id (openai = "...").
    """
    if typed:
        return typed, "typed"
    secrets = secrets or {}
    value = secrets.get(provider.key_env)
    if not value:
        table = secrets.get("api_keys")
        if isinstance(table, Mapping):
            value = table.get(provider.id)
    if isinstance(value, str) and value:
        return value, "secrets"
    env_value = (environ or {}).get(provider.key_env, "")
    if env_value:
        return env_value, "environment"
    return "", ""


# --------------------------------------------------------------------------
# Security: which host a key may be sent to
#
# A key typed by the user (sidebar, --api-key) goes wherever the user points
# it. A key the operator configured (secrets.toml, the environment) is bound to
# a host and is sent only there, over https (or to loopback for the sandbox):
# otherwise anyone who reaches the app could point a preset at their own
# server and receive the operator's key.
#
# - a preset's key (OPENAI_API_KEY, [api_keys] openai = ...) belongs to the
#   preset's host (api.openai.com);
# - the Custom preset has no host: its key (IMAGELAB_API_KEY) belongs to the
#   host named by IMAGELAB_API_HOST (environment or secrets.toml), else nowhere;
# - ``[host_keys]`` in secrets.toml gives a key per host, for any preset:
#   ``"gateway.example.com" = "..."``.

TYPED_KEY_SOURCES = ("typed", "argument")  # the user gave this key for this request
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
LOOPBACK = "loopback"  # the bound "host" of the sandbox's key
CUSTOM_KEY_HOST_VAR = "IMAGELAB_API_HOST"
HOST_KEYS_TABLE = "host_keys"
KEY_SOURCES["host_keys"] = "[host_keys] in .streamlit/secrets.toml"
KEY_SOURCES["argument"] = "--api-key"


def host_of(url: str | None) -> str:
    """The lower-cased host name of a URL ("" when there is none)."""
    raw = (url or "").strip()
    if raw and "://" not in raw:
        raw = "https://" + raw
    try:
        return (urlsplit(raw).hostname or "").lower()
    except ValueError:
        return ""


@dataclass(frozen=True)
class ResolvedKey:
    key: str = field(repr=False)
    source: str  # a KEY_SOURCES key
    host: str  # where this key may go: a host name, LOOPBACK, or "" (a typed key: anywhere)
    withheld: str = ""  # why this configured key will not be sent to this base URL (never the key)


def bound_host(provider: Provider, *, secrets: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The host a configured key of this preset belongs to ("" for none)."""
    if provider.id == "sandbox":
        return LOOPBACK
    if provider.base_url:
        return host_of(provider.base_url)
    secrets = secrets or {}
    value = secrets.get(CUSTOM_KEY_HOST_VAR) or (environ or {}).get(CUSTOM_KEY_HOST_VAR, "")
    return host_of(value) if isinstance(value, str) else ""


def _host_key(secrets: Mapping[str, Any], host: str) -> str:
    table = secrets.get(HOST_KEYS_TABLE)
    if not host or not isinstance(table, Mapping):
        return ""
    for name, value in table.items():
        if isinstance(name, str) and host_of(name) == host and isinstance(value, str):
            return value
    return ""


def resolve_key_for(
    provider: Provider,
    *,
    base_url: str | None = None,
    typed: str = "",
    secrets: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedKey:
    """The key to send to ``base_url`` (default: the preset's), with the host it is bound to.

    typed > ``[host_keys]`` for that host > the preset's configured key, and the
    latter only goes to the preset's own host: for another host ``withheld``
    says why it will not be sent (pre-flight refuses it with that reason)."""
    if typed:
        return ResolvedKey(typed, "typed", "")
    secrets = secrets or {}
    host = host_of(base_url if base_url is not None else provider.base_url)
    value = _host_key(secrets, host)
    if value:
        return ResolvedKey(value, "host_keys", host)
    key, source = resolve_key(provider, secrets=secrets, environ=environ)
    if not key:
        return ResolvedKey("", "", "")
    bound = bound_host(provider, secrets=secrets, environ=environ)
    problem = key_destination_problem(key, source, bound, base_url if base_url is not None else provider.base_url)
    # Withheld keys are still returned with their binding: ClientSettings refuses to
    # send them (pre-flight and at the send itself), with ``withheld`` as the reason.
    return ResolvedKey(key, source, bound, withheld=problem[1] if problem else "")


def key_destination_problem(key: str, source: str, key_host: str, url: str) -> tuple[str, str] | None:
    """None when ``key`` may be sent to ``url``; else (param, reason) in plain words.

    The reason names hosts and where the key came from, never the key."""
    if not key or source in TYPED_KEY_SOURCES or not source:
        return None
    where = KEY_SOURCES.get(source, source)
    try:
        parts = urlsplit((url or "").strip())
        host = (parts.hostname or "").lower()
        scheme = parts.scheme.lower()
    except ValueError:
        return ("base_url", "The endpoint URL cannot be read, so the configured key is not sent.")
    if key_host == LOOPBACK:
        if host in LOOPBACK_HOSTS:
            return None
        return ("api_key", f"The sandbox's key (from {where}) is only sent to this machine (loopback), not to '{host}'.")
    if not key_host:
        return (
            "api_key",
            f"The key from {where} is not tied to any host, so it is not sent to '{host}'. Type a key for this host in "
            f"Settings, set {CUSTOM_KEY_HOST_VAR} to the host it belongs to, or add it under [{HOST_KEYS_TABLE}] in "
            ".streamlit/secrets.toml.",
        )
    if host != key_host and host not in files_hosts_of(key_host):
        return (
            "api_key",
            f"The key from {where} belongs to '{key_host}' and is only sent there, not to '{host}'. Type a key for "
            f"'{host}' in Settings (or pass --api-key), or add one under [{HOST_KEYS_TABLE}] in .streamlit/secrets.toml.",
        )
    if scheme != "https" and host not in LOOPBACK_HOSTS:
        return ("base_url", f"The key from {where} is only sent over https; this base URL uses {scheme or 'no scheme'}.")
    return None


# --------------------------------------------------------------------------
# Model capabilities: read by pre-flight, the UI and Diagnostics step 6

EDITS_PATH = "/images/edits"
INPUT_FIDELITIES = ("low", "high")


@dataclass(frozen=True)
class Capabilities:
    model: str
    known: bool  # False: a model this table does not list; nothing is refused, the provider decides
    streams: bool  # takes stream: true with partial_images 0-3
    edits: bool  # takes POST /v1/images/edits with reference images
    max_reference_images: int
    mask: bool
    input_fidelity: tuple[str, ...]  # values it takes; () means "leave the parameter out"
    backgrounds: tuple[str, ...]
    preview_backgrounds: tuple[str, ...]  # offered by the provider as a preview: allowed, with a warning
    size_rule: str
    source: str  # where the facts come from, and what could not be confirmed


_OPENAI_SDK = "openai-python 3.54 Images API reference (images.edit / images.generate docstrings)"
CAPABILITIES: dict[str, Capabilities] = {
    c.model: c
    for c in (
        Capabilities(
            "gpt-image-2",
            True,
            streams=True,
            edits=True,
            max_reference_images=C.MAX_REFERENCE_IMAGES,
            mask=True,
            input_fidelity=(),
            backgrounds=("auto", "opaque", "transparent"),
            preview_backgrounds=("transparent",),
            size_rule="auto, the three fixed sizes, or any WxH: sides divisible by 16, ratio within 1:3-3:1, at most 3840x2160",
            source=f"{_OPENAI_SDK}: input_fidelity must be omitted; transparent is a preview. Gateways reported "
            "'Transparent background is not supported for this model' from late 2026: not confirmed by OpenAI.",
        ),
        Capabilities(
            "gpt-image-1.5",
            True,
            streams=True,
            edits=True,
            max_reference_images=C.MAX_REFERENCE_IMAGES,
            mask=True,
            input_fidelity=("low", "high"),
            backgrounds=BACKGROUNDS,
            preview_backgrounds=(),
            size_rule="auto, 1024x1024, 1536x1024, 1024x1536",
            source=f"{_OPENAI_SDK}. Streaming: the image guide and gateways stream it, the model page said 'not supported'.",
        ),
        Capabilities(
            "gpt-image-1",
            True,
            streams=True,
            edits=True,
            max_reference_images=C.MAX_REFERENCE_IMAGES,
            mask=True,
            input_fidelity=("low", "high"),
            backgrounds=BACKGROUNDS,
            preview_backgrounds=(),
            size_rule="auto, 1024x1024, 1536x1024, 1024x1536",
            source=f"{_OPENAI_SDK}: OpenAI shut gpt-image-1 down on 2026-10-23; gateways may still serve it.",
        ),
        Capabilities(
            "gpt-image-1-mini",
            True,
            streams=True,
            edits=True,
            max_reference_images=C.MAX_REFERENCE_IMAGES,
            mask=True,
            input_fidelity=("low",),
            backgrounds=BACKGROUNDS,
            preview_backgrounds=(),
            size_rule="auto, 1024x1024, 1536x1024, 1024x1536",
            source=f"{_OPENAI_SDK}: input_fidelity 'low' only. Streaming for mini: not confirmed model by model.",
        ),
        Capabilities(
            "seedream-4-5",
            True,
            streams=False,
            edits=True,
            max_reference_images=14,
            mask=False,
            input_fidelity=(),
            backgrounds=("auto",),
            preview_backgrounds=(),
            size_rule="auto, WxH, or a resolution such as 2K / 4K (gateway specific)",
            source="Gateway documentation (Runware, Cloudflare): up to 14 reference images, no mask, no background "
            "parameter. Whether a gateway accepts multipart /images/edits or streams seedream is not confirmed.",
        ),
        Capabilities(
            "dall-e-3",
            True,
            streams=False,
            edits=False,
            max_reference_images=0,
            mask=False,
            input_fidelity=(),
            backgrounds=("auto",),
            preview_backgrounds=(),
            size_rule="1024x1024, 1792x1024, 1024x1792",
            source="OpenAI Images API reference: text to image only, n=1, prompts up to 4,000 characters, quality standard or hd.",
        ),
        Capabilities(
            "dall-e-2",
            True,
            streams=False,
            edits=True,
            max_reference_images=1,
            mask=True,
            input_fidelity=(),
            backgrounds=("auto",),
            preview_backgrounds=(),
            size_rule="256x256, 512x512, 1024x1024",
            source="OpenAI Images API reference: one square PNG to edit, prompts up to 1,000 characters, quality standard.",
        ),
    )
}


def capabilities(model: str, provider: Provider | str | None = None) -> Capabilities:
    """What ``model`` can do (with a provider: on that route); a model outside the table may do
    anything (the provider decides)."""
    if provider is not None:
        return route(provider, model).capabilities
    found = CAPABILITIES.get(model)
    if found is not None:
        return found
    return Capabilities(
        model,
        False,
        streams=True,
        edits=True,
        max_reference_images=C.MAX_REFERENCE_IMAGES,
        mask=True,
        input_fidelity=INPUT_FIDELITIES,
        backgrounds=BACKGROUNDS,
        preview_backgrounds=(),
        size_rule="unknown: the provider decides",
        source="not in the table",
    )


def capability_rows(provider: Provider | str | None = None) -> list[dict[str, Any]]:
    """The table as rows for display (Diagnostics step 6, the Generate page's help): one row per
    model, or with a provider one row per route of that provider."""
    if provider is not None:
        return [route_row(r) for r in routes(provider)]
    rows = []
    for c in CAPABILITIES.values():
        rows.append(
            {
                "model": c.model,
                "streams": "yes (partial_images 0-3)" if c.streams else "no",
                "edits": f"yes, up to {c.max_reference_images} images" if c.edits else "no",
                "mask": "yes" if c.mask else "no",
                "input_fidelity": ", ".join(c.input_fidelity) if c.input_fidelity else "not taken",
                "backgrounds": ", ".join(b + (" (preview)" if b in c.preview_backgrounds else "") for b in c.backgrounds),
                "sizes": c.size_rule,
                "source": c.source,
            }
        )
    return rows


def edit_models(provider: Provider | None = None) -> list[str]:
    return [m for m in (provider.models if provider else KNOWN_MODELS) if capabilities(m, provider).edits]


def stream_models(provider: Provider | None = None) -> list[str]:
    return [m for m in (provider.models if provider else KNOWN_MODELS) if capabilities(m, provider).streams]


# --------------------------------------------------------------------------
# Routes: what a model takes at one provider (pre-flight, the widgets, the estimate, Diagnostics step 6)

EVOLINK_RATIOS = ("1:1", "1:2", "2:1", "1:3", "3:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "9:21", "21:9")
EVOLINK_RESOLUTIONS = ("1K", "2K", "4K")
REFERENCE_TRANSPORTS = ("multipart", "image_urls", "none")
PRICING_BASES = ("model", "per_call_tier")  # the model's row in the price table, or one price per call by tier
_EVOLINK_DOCS = "EvoLink API documentation (read 2026-12-01)"


@dataclass(frozen=True)
class Route:
    provider: str  # provider id
    model: str
    capabilities: Capabilities
    limits: RequestLimits
    sizes: SizeRule
    references: str  # how reference images travel: multipart /images/edits, URLs in image_urls, or not at all
    pricing: str  # one of PRICING_BASES
    source: str  # where the facts come from
    not_confirmed: str  # what the source does not say (and what the app does about it)
    listed: bool  # the provider lists this model

    @property
    def label(self) -> str:
        return route_label(self.provider, self.model)


def _provider_id(provider: Provider | str | None) -> str:
    if provider is None:
        return ""
    return provider if isinstance(provider, str) else provider.id


def route_label(provider: Provider | str | None, model: str) -> str:
    """How messages name a route: ``model @ Provider`` (as Compare labels its targets)."""
    pid = _provider_id(provider)
    if not pid:
        return model
    return f"{model} @ {provider_name(pid)}"


_EVOLINK_SIZE_RULE = SizeRule(("auto",), free=True, ratios=EVOLINK_RATIOS, resolutions=EVOLINK_RESOLUTIONS)
_EVOLINK_SIZES = "auto, a ratio (15 listed) with resolution 1K / 2K / 4K, or WxH within the gpt-image-2 rule"


def _evolink_caps(model: str) -> Capabilities:
    return Capabilities(
        model,
        True,
        streams=False,
        edits=True,
        max_reference_images=C.MAX_REFERENCE_IMAGES,
        mask=False,
        input_fidelity=(),
        backgrounds=("auto",),
        preview_backgrounds=(),
        size_rule=_EVOLINK_SIZES,
        source=_EVOLINK_DOCS,
    )


_ROUTES: dict[tuple[str, str], dict[str, Any]] = {
    ("evolink", "gpt-image-2"): {
        "capabilities": _evolink_caps("gpt-image-2"),
        "sizes": _EVOLINK_SIZE_RULE,
        "references": "image_urls",
        "source": f"{_EVOLINK_DOCS}: an asynchronous task; references are 1-16 URLs in image_urls (files are uploaded to "
        "EvoLink's file API first, links kept 72 hours); quality low/medium/high; n 1-10; prompts up to 32,000 characters.",
        "not_confirmed": "Streaming, a mask and the background parameter are not in EvoLink's documentation: the app "
        "refuses them on this route. callback_url is not used: a local app cannot receive EvoLink's callback, so it polls.",
    },
    ("evolink", "gpt-image-2-beta"): {
        "capabilities": _evolink_caps("gpt-image-2-beta"),
        "limits": RequestLimits(1, C.MAX_PROMPT_CHARS, ("auto",), True, max_prompt_tokens=2_000),
        "sizes": _EVOLINK_SIZE_RULE,
        "references": "image_urls",
        "pricing": "per_call_tier",
        "source": f"{_EVOLINK_DOCS}: the gpt-image-2 route with n fixed at 1, no quality parameter, prompts up to 2,000 "
        "tokens, billed per call by resolution tier (1K / 2K / 4K; WxH: up to 1.7 MP is 1K, up to 4.4 MP 2K, above 4K).",
        "not_confirmed": "EvoLink does not say which tokenizer counts the 2,000 tokens: the app estimates on the high side. "
        "Streaming, a mask and the background parameter are refused, as on gpt-image-2. callback_url is not used.",
    },
    ("wisgate", "dall-e-3"): {
        "references": "none",
        "source": "WisGate documentation: the OpenAI image API; dall-e-3 is text to image only, n=1, prompts up to 4,000 characters.",
        "not_confirmed": "",
    },
}


def route(provider: Provider | str | None, model: str) -> Route:
    """The route ``model`` at ``provider``: its row when the app knows it, else the model's documented
    rules (and for a model outside the table: the provider decides)."""
    pid = _provider_id(provider)
    preset = PRESETS.get(pid)
    caps = capabilities(model)
    base: dict[str, Any] = {
        "capabilities": caps,
        "limits": request_limits(model),
        "sizes": size_rule(model),
        "references": "multipart" if caps.edits else "none",
        "pricing": "model",
        "source": caps.source,
        "not_confirmed": "",
    }
    if pid in ("custom", ""):
        base["not_confirmed"] = "A gateway of your own: the model's documented rules are assumed; the gateway may differ."
    elif pid == "sandbox":
        base["source"] = f"The local sandbox, which follows the model's documented rules ({caps.source})"
    elif not caps.known:
        base["not_confirmed"] = "A model this app has no facts about: nothing is refused, the provider decides."
    if pid == "evolink" and caps.edits:
        base["references"] = "image_urls"  # EvoLink has no /images/edits: every model takes references as URLs
    base.update(_ROUTES.get((pid, model), {}))
    listed = bool(preset and model in preset.models)
    return Route(pid, model, listed=listed, **base)


def routes(provider: Provider | str) -> list[Route]:
    """The routes of the models ``provider`` lists, in its order."""
    preset = PRESETS.get(_provider_id(provider))
    return [route(provider, m) for m in (preset.models if preset else KNOWN_MODELS)]


def route_delivery(provider: Provider | str | None, *, dialect: Any = None, sandbox_delivery: str = "") -> str:
    """'task' or 'sync': how images come back on this route, the one rule for every check that cares (deadlines,
    polling, Diagnostics step 4). A gateway dialect decides for the gateway (an asynchronous one is a task route),
    the delivery chosen for the sandbox decides there (its task shapes), else the provider's own."""
    if isinstance(getattr(dialect, "is_async", None), bool):
        return "task" if dialect.is_async else "sync"
    pid = _provider_id(provider)
    if pid == "sandbox" and sandbox_delivery:
        return "task" if sandbox_delivery.startswith("task") else "sync"
    preset = PRESETS.get(pid)
    return preset.delivery if preset is not None else "sync"


def references_note(r: Route, dialect: str | None = None) -> str:
    """What happens to reference images on this route, in a sentence; ``dialect``: the name of the gateway
    dialect in use, which describes text to image only (pre-flight refuses references through it)."""
    if dialect is not None:
        through = f"the dialect '{dialect}'" if dialect else "the gateway dialect"
        return (
            f"Through {through}, reference images are refused before sending: a dialect describes "
            "text-to-image requests only. Choose the OpenAI-compatible dialect to edit."
        )
    if r.references == "image_urls":
        return (
            "With reference images, each file is first uploaded to the provider's file host, and the generation "
            "request lists the links in image_urls (this provider has no /images/edits)."
        )
    if r.references == "multipart":
        return "With reference images the request goes to the edits route, beside the generations route: a multipart .../v1/images/edits."
    return f"{r.label} takes no reference images."


def route_row(r: Route) -> dict[str, Any]:
    """One route as a row for display."""
    c, lim = r.capabilities, r.limits
    sizes = c.size_rule
    prompt = f"{lim.max_prompt_tokens:,} tokens" if lim.max_prompt_tokens else f"{lim.max_prompt_chars:,} characters"
    refs = {"multipart": "multipart /images/edits", "image_urls": "image_urls (uploaded first)", "none": "none"}[r.references]
    return {
        "route": r.label,
        "n": f"1-{lim.max_n}" if lim.max_n > 1 else "1",
        "quality": ", ".join(lim.qualities) if lim.qualities != ("auto",) else "not taken",
        "sizes": sizes,
        "prompt": prompt,
        "streams": "yes (partial_images 0-3)" if c.streams else "no",
        "edits": f"yes, up to {c.max_reference_images} images, {refs}" if c.edits else "no",
        "mask": "yes" if c.mask else "no",
        "input_fidelity": ", ".join(c.input_fidelity) if c.input_fidelity else "not taken",
        "backgrounds": ", ".join(b + (" (preview)" if b in c.preview_backgrounds else "") for b in c.backgrounds),
        "pricing": "per call, by resolution tier" if r.pricing == "per_call_tier" else "the model's price row",
        "source": r.source,
        "not confirmed": r.not_confirmed or "-",
    }


# --------------------------------------------------------------------------
# EvoLink: ratio sizes in pixels, and the file host its references are uploaded to

# Each resolution word aims at a pixel count; the ratio shapes it, sides aligned to multiples of 16, and a
# shape over the budget (8,294,400 pixels, no edge over 3,840) is scaled down to it: 4K 2:1 is 3840x1920.
EVOLINK_RESOLUTION_PIXELS = {"1K": 1024 * 1024, "2K": 2048 * 2048, "4K": FREE_SIZE_MAX_PIXELS}
EVOLINK_DEFAULT_RESOLUTION = "1K"


def ratio_pixels(ratio: str, resolution: str | None = None) -> tuple[int, int]:
    """The pixel size EvoLink makes for a ratio size (``16:9``) at a resolution (default 1K).
    ValueError for a ratio or resolution it does not list."""
    import math

    if ratio not in EVOLINK_RATIOS:
        raise ValueError(f"'{ratio}' is not one of EvoLink's ratios: {', '.join(EVOLINK_RATIOS)}")
    word = resolution or EVOLINK_DEFAULT_RESOLUTION
    if word not in EVOLINK_RESOLUTION_PIXELS:
        raise ValueError(f"'{word}' is not one of EvoLink's resolutions: {', '.join(EVOLINK_RESOLUTION_PIXELS)}")
    rw, rh = (int(x) for x in ratio.split(":"))
    target = EVOLINK_RESOLUTION_PIXELS[word]
    w, h = math.sqrt(target * rw / rh), math.sqrt(target * rh / rw)
    scale = min(1.0, FREE_SIZE_MAX_EDGE / max(w, h), math.sqrt(FREE_SIZE_MAX_PIXELS / (w * h)))
    m = FREE_SIZE_MULTIPLE
    w, h = max(m, round(w * scale / m) * m), max(m, round(h * scale / m) * m)
    while w * h > FREE_SIZE_MAX_PIXELS or max(w, h) > FREE_SIZE_MAX_EDGE:  # rounding up may pass the budget
        w, h = (w - m, h) if w >= h else (w, h - m)
    return w, h


EVOLINK_UPLOAD_PATH = "/api/v1/files/upload/base64"
EVOLINK_FILES_ROOT = "https://files-api.evolink.ai"
EVOLINK_FILE_LINK_S = 72 * 3600  # EvoLink keeps an uploaded file's link this long
SANDBOX_EVOLINK_PATH = "/evolink/v1"  # where the sandbox answers in EvoLink's shapes (its API base)
REHEARSAL_KEY = "sbx-7f3a9c2e5d1b"  # the placeholder key a rehearsal on the sandbox sends when none was given (it takes any)

# API root -> the root of its file host. The key of an API host is sent to its file host only because it is
# listed here: EvoLink's own, and the local sandbox's while it runs (bind_files_root).
EVOLINK_API_ROOT = "https://api.evolink.ai"
_FILES_ROOTS: dict[str, str] = {EVOLINK_API_ROOT: EVOLINK_FILES_ROOT}


def _root(url: str) -> str:
    parts = urlsplit((url or "").strip())
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def bind_files_root(api_root: str, files_root: str) -> None:
    """Name the file host of an API host (the sandbox registers its own when it starts)."""
    _FILES_ROOTS[_root(api_root)] = _root(files_root)


def unbind_files_root(api_root: str) -> None:
    if _root(api_root) != EVOLINK_API_ROOT:
        _FILES_ROOTS.pop(_root(api_root), None)


def files_upload_url(api_root: str) -> str | None:
    """Where reference files for the API at ``api_root`` are uploaded, or None when no file host is known."""
    files_root = _FILES_ROOTS.get(_root(api_root))
    return files_root + EVOLINK_UPLOAD_PATH if files_root else None


def files_hosts_of(key_host: str) -> set[str]:
    """The file hosts a key bound to ``key_host`` may also go to (EvoLink's uploads)."""
    return {host_of(files) for api, files in list(_FILES_ROOTS.items()) if host_of(api) == key_host}


def is_rehearsal(api_base: str, preset: Provider | None) -> bool:
    """True for a local sandbox's EvoLink face, as the EvoLink preset's base URL: the app's own, or one started
    by hand (whose file host the client asks it for)."""
    return bool(
        preset is not None
        and preset.id == "evolink"
        and host_of(api_base) in LOOPBACK_HOSTS
        and urlsplit(api_base).path.rstrip("/") == SANDBOX_EVOLINK_PATH
    )
