"""Cost estimates in US dollars: one price table, in one place, with the date it was checked.

Two ways to price an attempt, and the stored ``cost_basis`` says which one was used:

- ``usage``: the provider returned token usage. Text input, image input and
  image output tokens are each priced at the model's own rate per 1M tokens.
- ``size_quality``: no usable usage (gateways often send none, and nothing is
  known before sending). The model's price per image for that size and quality,
  times the number of images.

What is assumed is said in plain words in ``Cost.note``: ``auto`` size taken as
1024x1024, ``auto`` quality taken as medium, a custom size priced by its area
against 1024x1024, an unknown model priced as gpt-image-2. Every figure is an
estimate: providers and gateways bill by their own rules (rounding, minimums,
refunds for failed tasks, discounts).

Failed attempts: a request that failed is assumed not billed (0 USD, basis
``size_quality`` with zero images) unless the provider returned usage, which
is then priced like any other usage. Interrupted and cancelled attempts are
also 0 unless usage says otherwise; their note says they may have been charged.

The table can be overridden or extended in ``.streamlit/secrets.toml`` under
``[prices]`` (see ``.streamlit/secrets.toml.example``)::

    [prices]
    checked = "2026-12-01"            # optional: the date you checked your own figures

    [prices."gpt-image-2"]
    text_input = 5.0                  # USD per 1M tokens
    image_input = 8.0
    image_output = 30.0
    text_output = 10.0

    [prices."gpt-image-2".per_image.high]
    "1024x1024" = 0.211               # USD per image, by quality then size

    [prices."my-gateway-model"]
    flat_per_image = 0.03             # one price per image whatever the size or quality

Overrides merge into the defaults row by row and, for ``per_image``, quality by
quality and size by size. Nothing here imports Streamlit: the file is read with
``tomllib``.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib import constants as C
from lib.config import forget_secrets_files, read_secrets_files, secrets_paths

log = logging.getLogger("imagelab.pricing")

PRICES_CHECKED = "2026-11-22"

BASES = ("usage", "size_quality")
RATE_FIELDS = ("text_input", "image_input", "image_output", "text_output")
QUALITY_TIERS = ("low", "medium", "high")
SQUARE, PORTRAIT, LANDSCAPE = "1024x1024", "1024x1536", "1536x1024"
CALL_TIERS = ("1K", "2K", "4K")
CALL_TIER_PIXELS = (("1K", 1_700_000), ("2K", 4_400_000))  # a WxH size's tier: at most this many pixels

# USD. Token rates are per 1M tokens; per_image is quality -> size -> USD per image.
# Sources (checked on PRICES_CHECKED):
# - gpt-image-2: OpenAI pricing page as quoted by several gateways and OpenAI's
#   image-generation guide examples: text in $5, image in $8, image out $30 per 1M;
#   text out $10 per 1M. Per image: 1024x1024 low $0.006 / medium $0.053 / high $0.211;
#   1024x1536 and 1536x1024 $0.005 / $0.041 / $0.165 (yes, cheaper than square).
# - gpt-image-1.5: per-image figures from gateway pages quoting OpenAI (runware, apiyi).
#   Token rates text in $5 and image in $8 are confirmed by one gateway page; the
#   image output rate ($32 per 1M) could NOT be confirmed from an official page.
# - gpt-image-1: OpenAI's model page: text in $5, image in $10, image out $40 per 1M;
#   per image low $0.011/$0.016, medium $0.042/$0.063, high $0.167/$0.25.
#   (OpenAI lists gpt-image-1 as retired; gateways still serve it.)
# - gpt-image-1-mini: OpenAI's model page: text in $2, image in $2.50, image out $8 per 1M;
#   per image low $0.005/$0.006, medium $0.011/$0.015, high $0.036/$0.052.
# - seedream-4-5 (ByteDance, through gateways): a flat $0.04 per image on most gateway
#   pages (Vercel, fal, OpenRouter); BytePlus and Replicate list $0.045. No token rates.
DEFAULT_PRICES: dict[str, dict[str, Any]] = {
    "gpt-image-2": {
        "text_input": 5.00,
        "image_input": 8.00,
        "image_output": 30.00,
        "text_output": 10.00,
        "per_image": {
            "low": {SQUARE: 0.006, PORTRAIT: 0.005, LANDSCAPE: 0.005},
            "medium": {SQUARE: 0.053, PORTRAIT: 0.041, LANDSCAPE: 0.041},
            "high": {SQUARE: 0.211, PORTRAIT: 0.165, LANDSCAPE: 0.165},
        },
        "source": "OpenAI pricing page and image generation guide (as quoted by gateways)",
    },
    "gpt-image-1.5": {
        "text_input": 5.00,
        "image_input": 8.00,
        "image_output": 32.00,
        "text_output": 10.00,
        "per_image": {
            "low": {SQUARE: 0.009, PORTRAIT: 0.013, LANDSCAPE: 0.013},
            "medium": {SQUARE: 0.034, PORTRAIT: 0.050, LANDSCAPE: 0.050},
            "high": {SQUARE: 0.133, PORTRAIT: 0.200, LANDSCAPE: 0.200},
        },
        "unconfirmed": "the image output token rate ($32 per 1M) is not confirmed from an official page",
        "source": "gateway pages quoting OpenAI (per image); token rates partly unconfirmed",
    },
    "gpt-image-1": {
        "text_input": 5.00,
        "image_input": 10.00,
        "image_output": 40.00,
        "per_image": {
            "low": {SQUARE: 0.011, PORTRAIT: 0.016, LANDSCAPE: 0.016},
            "medium": {SQUARE: 0.042, PORTRAIT: 0.063, LANDSCAPE: 0.063},
            "high": {SQUARE: 0.167, PORTRAIT: 0.25, LANDSCAPE: 0.25},
        },
        "source": "OpenAI model page for gpt-image-1",
    },
    "gpt-image-1-mini": {
        "text_input": 2.00,
        "image_input": 2.50,
        "image_output": 8.00,
        "per_image": {
            "low": {SQUARE: 0.005, PORTRAIT: 0.006, LANDSCAPE: 0.006},
            "medium": {SQUARE: 0.011, PORTRAIT: 0.015, LANDSCAPE: 0.015},
            "high": {SQUARE: 0.036, PORTRAIT: 0.052, LANDSCAPE: 0.052},
        },
        "source": "OpenAI model page for gpt-image-1-mini",
    },
    # gpt-image-2-beta (EvoLink): billed per call by resolution tier (1K / 2K / 4K). EvoLink's
    # documentation names the tiers but this table has no figures for them: set them in
    # secrets.toml ([prices."gpt-image-2-beta".per_call_tier] "1K" = ...); until then no price is shown.
    "gpt-image-2-beta": {
        "per_call_tier": {},
        "source": "EvoLink documentation: per call by resolution tier; no figures in this table",
    },
    "seedream-4-5": {
        "flat_per_image": 0.04,
        "source": "gateway pages (Vercel, fal, OpenRouter $0.04; BytePlus, Replicate $0.045)",
    },
}

# The judge check's chat models (lib.checks.judge), USD per 1M tokens (OpenAI's pricing page, checked on JUDGE_PRICES_CHECKED).
JUDGE_PRICES_CHECKED = "2026-12-01"
JUDGE_PRICES: dict[str, dict[str, float]] = {
    "gpt-4.1-mini": {"text_input": 0.40, "text_output": 1.60},
    "gpt-4.1": {"text_input": 2.00, "text_output": 8.00},
    "gpt-4o": {"text_input": 2.50, "text_output": 10.00},
    "gpt-5-mini": {"text_input": 0.25, "text_output": 2.00},
}

# The moderation check before an image request (lib.client._moderation), USD per call: OpenAI's
# moderation models are free (its model page, checked on MODERATION_PRICES_CHECKED). A model not
# listed is taken as free too, and its note says so.
MODERATION_PRICES_CHECKED = "2026-12-02"
MODERATION_PRICES: dict[str, float] = {"omni-moderation-latest": 0.0, "omni-moderation-2024-09-26": 0.0}


@dataclass(frozen=True)
class Cost:
    usd: float | None  # None only when nothing at all can be estimated
    basis: str  # 'usage' or 'size_quality'
    note: str  # what was assumed, in plain words

    def label(self) -> str:
        """'~$0.053 (estimate)' for tables and cards; always says it is an estimate."""
        return format_usd(self.usd) + " (estimate)" if self.usd is not None else "no estimate"


def format_usd(usd: float | None) -> str:
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if abs(usd) < 0.01:
        return f"~${usd:.4f}"
    return f"~${usd:.3f}" if abs(usd) < 1 else f"~${usd:,.2f}"


# --------------------------------------------------------------------------
# The effective table


def _norm(model: str) -> str:
    return re.sub(r"[._\s]+", "-", (model or "").strip().lower())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def merge_overrides(base: dict[str, dict[str, Any]], overrides: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The table with ``overrides`` (the ``[prices]`` section) merged in, and the
    problems found (a value that is not a non-negative number is ignored, and said)."""
    table = copy.deepcopy(base)
    problems: list[str] = []
    if not isinstance(overrides, dict):
        if overrides is not None:
            problems.append("[prices] must be a table; ignored")
        return table, problems
    for model, row in overrides.items():
        if model in ("checked", "note"):
            continue
        if not isinstance(row, dict):
            problems.append(f"[prices] {model}: expected a table of prices; ignored")
            continue
        target = table.setdefault(str(model), {"source": "secrets.toml"})
        target["source"] = "secrets.toml"
        for key, value in row.items():
            if key in (*RATE_FIELDS, "flat_per_image"):
                number = _number(value)
                if number is None:
                    problems.append(f"[prices] {model}.{key}: {value!r} is not a price; ignored")
                else:
                    target[key] = number
            elif key == "per_call_tier" and isinstance(value, dict):
                tiers = target.setdefault("per_call_tier", {})
                for tier, price in value.items():
                    number = _number(price)
                    if str(tier).upper() not in CALL_TIERS or number is None:
                        problems.append(f"[prices] {model}.per_call_tier.{tier}: expected 1K, 2K or 4K = price; ignored")
                    else:
                        tiers[str(tier).upper()] = number
            elif key == "per_image" and isinstance(value, dict):
                per = target.setdefault("per_image", {})
                for quality, sizes in value.items():
                    if not isinstance(sizes, dict):
                        problems.append(f"[prices] {model}.per_image.{quality}: expected size = price pairs; ignored")
                        continue
                    for size, price in sizes.items():
                        number = _number(price)
                        if number is None:
                            problems.append(f"[prices] {model}.per_image.{quality}.{size}: {price!r} is not a price; ignored")
                        else:
                            per.setdefault(str(quality).lower(), {})[str(size).lower()] = number
            else:
                problems.append(f"[prices] {model}.{key}: unknown field; ignored")
    return table, problems


_cache_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _load(paths: Iterable[Path]) -> tuple[dict[str, dict[str, Any]], str, list[str]]:
    files = read_secrets_files(list(paths))
    with _cache_lock:
        if _cache.get("files") is files:
            return _cache["loaded"]
    table = copy.deepcopy(DEFAULT_PRICES)
    checked = PRICES_CHECKED
    problems = [f"{problem}; default prices used" for problem in files.problems]
    for _path, data in files.files:
        section = data.get("prices")
        if section is None:
            continue
        table, found = merge_overrides(table, section)
        problems.extend(found)
        if isinstance(section, dict) and isinstance(section.get("checked"), (str,)):
            checked = section["checked"][:40]
    for problem in problems:
        log.warning("price table: %s", problem)
    loaded = (table, checked, problems)
    with _cache_lock:
        _cache["files"], _cache["loaded"] = files, loaded
    return loaded


def price_table(paths: Iterable[Path] | None = None) -> dict[str, dict[str, Any]]:
    """The effective table: the defaults, overridden by secrets.toml ``[prices]`` if present."""
    return copy.deepcopy(_load(list(paths) if paths is not None else secrets_paths())[0])


def prices_checked(paths: Iterable[Path] | None = None) -> str:
    """The date the effective table was checked (the override's ``checked`` if it has one)."""
    return _load(list(paths) if paths is not None else secrets_paths())[1]


def table_problems(paths: Iterable[Path] | None = None) -> list[str]:
    return list(_load(list(paths) if paths is not None else secrets_paths())[2])


def find_row(model: str, table: dict[str, dict[str, Any]]) -> tuple[str | None, dict[str, Any] | None]:
    """The table row for a model id: exact, else the longest table id found inside it
    (snapshots such as ``gpt-image-2-2026-04-21``, gateway names such as
    ``doubao-seedream-4-5``; ``seedream-4.5`` matches ``seedream-4-5``)."""
    wanted = _norm(model)
    by_norm = {_norm(k): k for k in table}
    if wanted in by_norm:
        key = by_norm[wanted]
        return key, table[key]
    best = None
    for norm, key in by_norm.items():
        if norm and re.search(rf"(^|[^a-z0-9]){re.escape(norm)}($|[^a-z0-9])", wanted):
            if best is None or len(norm) > len(_norm(best)):
                best = key
    return (best, table[best]) if best else (None, None)


# --------------------------------------------------------------------------
# Estimates


def _size(params: dict[str, Any]) -> tuple[str, int | None, int | None, list[str]]:
    notes: list[str] = []
    raw = str((params or {}).get("size") or "auto").strip().lower()
    if raw == "auto":
        notes.append(f"auto size taken as {C.PRICING_AUTO_SIZE}")
        raw = C.PRICING_AUTO_SIZE
    match = re.fullmatch(r"(\d{1,5})\s*[x×*]\s*(\d{1,5})", raw)
    if not match:
        notes.append(f"size {raw[:40]!r} not understood, taken as {C.PRICING_AUTO_SIZE}")
        raw = C.PRICING_AUTO_SIZE
        match = re.fullmatch(r"(\d+)x(\d+)", raw)
    w, h = int(match.group(1)), int(match.group(2))
    return f"{w}x{h}", w, h, notes


def _quality(params: dict[str, Any]) -> tuple[str, list[str]]:
    raw = str((params or {}).get("quality") or "auto").strip().lower()
    if raw in QUALITY_TIERS:
        return raw, []
    aliases = {"standard": "medium", "hd": "high"}
    if raw in aliases:
        return aliases[raw], [f"quality {raw} priced as {aliases[raw]}"]
    if raw == "auto":
        return C.PRICING_AUTO_QUALITY, [f"auto quality taken as {C.PRICING_AUTO_QUALITY}"]
    return C.PRICING_AUTO_QUALITY, [f"quality {raw[:40]!r} not known, taken as {C.PRICING_AUTO_QUALITY}"]


def call_tier(params: dict[str, Any]) -> tuple[str, list[str]]:
    """The resolution tier a per-call price is read at: the ``resolution`` word when there is one,
    else a WxH size bucketed by its pixels (up to 1.7 MP 1K, up to 4.4 MP 2K, above that 4K)."""
    raw = str((params or {}).get("resolution") or "").strip().upper()
    if raw in CALL_TIERS:
        return raw, []
    size = str((params or {}).get("size") or "auto").strip().lower()
    match = re.fullmatch(r"(\d{1,5})\s*[x×*]\s*(\d{1,5})", size)
    if not match:
        return "1K", [f"size {size[:40]!r} with no resolution taken as tier 1K"]
    pixels = int(match.group(1)) * int(match.group(2))
    tier = next((t for t, most in CALL_TIER_PIXELS if pixels <= most), "4K")
    return tier, [f"{size} is tier {tier}"]


def per_image_price(row: dict[str, Any], params: dict[str, Any]) -> tuple[float | None, list[str]]:
    """USD for one image of this size and quality, and what was assumed."""
    if "per_call_tier" in row:
        tier, notes = call_tier(params)
        price = _number((row.get("per_call_tier") or {}).get(tier))
        if price is None:
            return None, [f"no per-call price for tier {tier}", *notes]
        return price, [f"one call at tier {tier}", *notes]
    flat = _number(row.get("flat_per_image"))
    if flat is not None:
        return flat, ["one price per image whatever the size or quality"]
    per = row.get("per_image") or {}
    if not per:
        return None, []
    size, w, h, notes = _size(params)
    quality, qnotes = _quality(params)
    notes += qnotes
    sizes = per.get(quality)
    if not sizes:
        # the tier is missing from an overridden table: take any tier there is
        quality = next(iter(per))
        sizes = per[quality]
        notes.append(f"no {quality} prices, priced as {quality}")
    if size in sizes:
        return sizes[size], notes
    # a custom size: the nearest listed shape, scaled by area
    base_key = SQUARE if SQUARE in sizes else next(iter(sizes))
    if w and h and w != h:
        shaped = LANDSCAPE if w > h else PORTRAIT
        if shaped in sizes:
            base_key = shaped
    bw, bh = (int(x) for x in base_key.split("x"))
    scale = (w * h) / (bw * bh) if w and h else 1.0
    notes.append(f"custom size {size} priced by its area against {base_key}")
    return sizes[base_key] * scale, notes


def _tokens(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def split_usage(usage: dict[str, Any] | None) -> dict[str, int] | None:
    """Token counts by kind from the usage shapes seen in the wild, or None when
    the usage says nothing usable.

    OpenAI images: ``input_tokens``, ``output_tokens``, ``input_tokens_details``
    (``text_tokens``, ``image_tokens``) and sometimes ``output_tokens_details``.
    Chat-style gateways: ``prompt_tokens`` / ``completion_tokens`` (with optional
    ``prompt_tokens_details``), the completion being the image."""
    if not isinstance(usage, dict):
        return None
    out = {"text_input": 0, "image_input": 0, "image_output": 0, "text_output": 0}
    if "input_tokens" in usage or "output_tokens" in usage:
        total_in = _tokens(usage.get("input_tokens"))
        details = usage.get("input_tokens_details") if isinstance(usage.get("input_tokens_details"), dict) else {}
        image_in = _tokens(details.get("image_tokens"))
        text_in = _tokens(details.get("text_tokens")) if "text_tokens" in details else max(total_in - image_in, 0)
        total_out = _tokens(usage.get("output_tokens"))
        odetails = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), dict) else {}
        text_out = _tokens(odetails.get("text_tokens"))
        image_out = _tokens(odetails.get("image_tokens")) if "image_tokens" in odetails else max(total_out - text_out, 0)
        out.update(text_input=text_in, image_input=image_in, image_output=image_out, text_output=text_out)
    elif "prompt_tokens" in usage or "completion_tokens" in usage:
        total_in = _tokens(usage.get("prompt_tokens"))
        details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
        image_in = _tokens(details.get("image_tokens"))
        out.update(text_input=max(total_in - image_in, 0), image_input=image_in, image_output=_tokens(usage.get("completion_tokens")))
    else:
        return None
    return out if any(out.values()) else None


def usage_cost(row: dict[str, Any], tokens: dict[str, int]) -> tuple[float | None, list[str]]:
    notes: list[str] = []
    total = 0.0
    for kind, count in tokens.items():
        if not count:
            continue
        rate = _number(row.get(kind))
        if rate is None and kind == "text_output":
            rate = _number(row.get("text_input"))
            if rate is not None:
                notes.append("text output tokens priced at the text input rate")
        if rate is None:
            return None, []
        total += count * rate / 1_000_000
    return total, notes


def _lookup(model: str) -> tuple[str | None, dict[str, Any] | None, list[str]]:
    table = _load(secrets_paths())[0]  # the cached table itself, read only: no copy per attempt
    key, row = find_row(model, table)
    if row is not None:
        notes = [f"priced as {key}"] if _norm(key) != _norm(model) else []
        if row.get("unconfirmed"):
            notes.append(str(row["unconfirmed"]))
        return key, row, notes
    fallback = C.PRICING_UNKNOWN_MODEL_AS
    if fallback in table:
        return fallback, table[fallback], [f"unknown model {str(model)[:60]!r} priced as {fallback}"]
    return None, None, []


def estimate(model: str, params: dict[str, Any], usage: dict[str, Any] | None, image_count: int, *, status: str = "succeeded") -> Cost:
    """The estimated cost of one finished attempt.

    Usage first (billed whatever the status); without usage, the price per image
    times the images that came back (0 for an attempt that produced none)."""
    key, row, notes = _lookup(model)
    if row is None:
        return Cost(None, "size_quality", f"no price known for {str(model)[:60]!r} and no default row")
    tokens = split_usage(usage)
    if tokens is not None:
        usd, unotes = usage_cost(row, tokens)
        if usd is not None:
            parts = [f"from usage: {sum(tokens.values()):,} tokens"] + unotes + notes
            return Cost(round(usd, 6), "usage", "; ".join(parts))
        notes.append(f"usage not priced for {key} (no token rates)")
    count = max(int(image_count or 0), 0)
    if count == 0:
        why = {
            "failed": "failed with no usage: assumed not billed",
            "interrupted": "interrupted: assumed not billed, though the provider may have charged it",
            "cancelled": "cancelled: assumed not billed, though the provider may have charged it",
        }.get(status, "no images came back: assumed not billed")
        return Cost(0.0, "size_quality", "; ".join([why, *notes]))
    price, pnotes = per_image_price(row, params or {})
    if price is None:
        return Cost(None, "size_quality", "; ".join([f"no per-image price for {key}", *pnotes, *notes]))
    return Cost(round(price * count, 6), "size_quality", "; ".join([f"{count} image(s) x {format_usd(price)}", *pnotes, *notes]))


def estimate_request(model: str, params: dict[str, Any], n: int) -> Cost:
    """What a request should cost before it is sent: n images at the size x quality price."""
    key, row, notes = _lookup(model)
    if row is None:
        return Cost(None, "size_quality", f"no price known for {str(model)[:60]!r} and no default row")
    price, pnotes = per_image_price(row, params or {})
    if price is None:
        return Cost(None, "size_quality", "; ".join([f"no per-image price for {key}", *pnotes, *notes]))
    count = max(int(n or 0), 0)
    return Cost(round(price * count, 6), "size_quality", "; ".join([f"{count} image(s) x {format_usd(price)}", *pnotes, *notes]))


def moderation_cost(model: str) -> Cost:
    """One moderation check (every request it made): free where the table says so."""
    usd = MODERATION_PRICES.get(_norm(model))
    if usd is None:
        return Cost(0.0, "size_quality", f"moderation check with {str(model)[:60]!r}: no price known, taken as free")
    return Cost(usd, "size_quality", f"moderation check: {format_usd(usd)} (prices of {MODERATION_PRICES_CHECKED})")


def cost_fields(model: str, params: dict[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    """``cost_usd`` and ``cost_basis`` for an attempt's finishing fields (used by the store)."""
    status = fields.get("status") or "succeeded"
    if status == "pending":
        return {}
    cost = estimate(model or "", params or {}, fields.get("usage"), int(fields.get("image_count") or 0), status=status)
    return {"cost_usd": cost.usd, "cost_basis": cost.basis}


def reset_cache() -> None:
    """Forget the loaded secrets (tests, or after editing secrets.toml in a long-lived process)."""
    forget_secrets_files()
    with _cache_lock:
        _cache.clear()


__all__ = [
    "BASES",
    "Cost",
    "DEFAULT_PRICES",
    "JUDGE_PRICES",
    "JUDGE_PRICES_CHECKED",
    "MODERATION_PRICES",
    "PRICES_CHECKED",
    "cost_fields",
    "estimate",
    "estimate_request",
    "find_row",
    "format_usd",
    "merge_overrides",
    "moderation_cost",
    "per_image_price",
    "price_table",
    "prices_checked",
    "reset_cache",
    "split_usage",
    "table_problems",
]
