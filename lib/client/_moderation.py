"""The check before paying: the prompt and its reference images go to the provider's moderations
route before the image request, when the provider's setting asks for it (``ClientSettings.moderate``).

What is sent: ``POST {api base}/moderations`` with ``model: omni-moderation-latest`` and ``input`` as
content parts, the prompt as a ``text`` part and each reference image as an ``image_url`` part
holding a ``data:`` URL (the mask is not sent: it holds no content of its own). The first request
carries the prompt and the first image; each further image goes in a request of its own, so no
request carries more than one image. All of it is one attempt of the run (``attempt_no``
0, ``params.kind = "moderation"``, its own URL and model), priced by ``lib.pricing.moderation_cost``
(free at OpenAI).

How it ends:
- flagged: the run ends there with ``content_policy`` (code ``moderation_flagged``), its message
  naming the flagged categories and which input they were found in, the categories kept on the
  attempt (``flagged_categories``); no image request is sent. The run's model stays the image model asked for.
- not flagged: the attempt succeeds and the image request goes ahead.
- no moderations route (HTTP 404, 405 or 501, or an answer saying the route or the moderation model
  is unknown there): remembered for that provider and API base for the life
  of the process (``NO_ROUTE``), said once in the run's events and the attempt's note; later runs
  there send without checking and without a word (the sidebar shows it beside the toggle).
- the check could not be made (network, timeout, 5xx, 429, a rejected key, an answer that cannot
  be read): said in the events and the attempt's note, and the image request goes ahead.

That last choice is deliberate: the check saves paying for an image the provider would refuse;
it is not the only guard, since the provider moderates the image request itself, and a check that
is down must not stop every generation of the people who turned it on. A check that could not be
made is recorded as a failed attempt of its own, so it is never mistaken for a pass.

A provider's answer is untrusted: every field is read defensively, category names are cut short
and scrubbed, and they are shown as literal text wherever they appear.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from lib import constants as C
from lib import errors as E
from lib import pricing, redact
from lib.classify import load_json
from lib.client._attempt import AttemptResult
from lib.generation import AttemptSummary, GenerationRequest, ReferenceImage
from lib.images import data_url

log = logging.getLogger("imagelab.client")

MODERATION_MODEL = "omni-moderation-latest"
FLAGGED_CODE = "moderation_flagged"  # the error code of a run the check stopped
NO_ROUTE_STATUSES = (404, 405, 501)  # the route itself is missing: remembered, said once...
NO_ROUTE_ERRORS = ("endpoint_not_found", "model_not_found")  # ...as when the answer says the route or the model is unknown
MAX_CATEGORIES = 20  # categories named in a message at most...
MAX_CATEGORY_CHARS = 60  # ...each cut to this many characters


class RouteMemory:
    """The API bases found to have no moderations route, per provider; shared by every client of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._missing: set[tuple[str, str]] = set()

    def missing(self, provider: str, api_base: str) -> bool:
        with self._lock:
            return (provider, api_base) in self._missing

    def remember(self, provider: str, api_base: str) -> None:
        with self._lock:
            self._missing.add((provider, api_base))

    def forget(self) -> None:
        with self._lock:
            self._missing.clear()


NO_ROUTE = RouteMemory()


def moderation_inputs(request: GenerationRequest) -> list[list[dict[str, Any]]]:
    """The ``input`` of each moderation request: the prompt with the first reference image, then each other image alone."""
    return _grouped(request.prompt, [_image_part(ref) for ref in request.images if ref.role == "image"])


def described_inputs(prompt: str, images: int) -> list[list[dict[str, Any]]]:
    """``moderation_inputs`` as shown afterwards (History's request as sent): the images' bytes are not kept
    with the check, so each is named by its place instead of its ``data:`` URL."""
    parts = [{"type": "image_url", "image_url": {"url": f"(reference image {i}, sent as a data: URL)"}} for i in range(1, images + 1)]
    return _grouped(prompt, parts)


def _grouped(prompt: str, images: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    first: list[dict[str, Any]] = [{"type": "text", "text": prompt}, *images[:1]]
    return [first, *([part] for part in images[1:])]


def _image_part(ref: ReferenceImage) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(ref.data, ref.content_type or "image/png")}}


class UnreadableAnswer(ValueError):
    """A moderation answer whose verdict cannot be read."""


def flagged_categories(payload: Any) -> tuple[bool, list[str]]:
    """(flagged, the flagged category names) of one moderation answer; ``UnreadableAnswer`` when it has
    no verdict to read. A result flagged without a category marked true is flagged all the same."""
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or not results:
        raise UnreadableAnswer("it holds no list of results")
    flagged = False
    names: list[str] = []
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("flagged"), bool):
            raise UnreadableAnswer("a result has no true or false 'flagged'")
        categories = result.get("categories")
        if categories is not None and not isinstance(categories, dict):
            raise UnreadableAnswer("a result's 'categories' is not an object")
        flagged = flagged or result["flagged"]
        for name, value in (categories or {}).items():
            label = redact.scrub(" ".join(str(name).split()), limit=MAX_CATEGORY_CHARS) or "?"
            if value is True and label not in names:
                names.append(label)
    return flagged or bool(names), names[:MAX_CATEGORIES]


@dataclass
class _Check:
    """What the check found: flagged (with categories and where), passed, or a reason it went ahead unchecked."""

    flagged: bool = False
    categories: tuple[str, ...] = ()
    where: str = ""
    skipped: str = ""  # why the image request goes ahead unchecked ("" when the check answered)
    no_route: bool = False
    error: E.ImageLabError | None = None  # the check's own failure, recorded on its attempt
    http_status: int | None = None
    request_id: str | None = None
    raw: str | None = None
    latency_ms: int = 0


def check_before_sending(client: Any, request: GenerationRequest, run_id: str, emit: Any) -> AttemptResult | None:
    """Run the check for one generation of ``client`` (an ``ImageClient``), recorded as an attempt of the
    run: an ``AttemptResult`` that ends the run when the prompt or an image is flagged, else None (send)."""
    s = client.settings
    endpoint = s.endpoint
    if NO_ROUTE.missing(s.provider, endpoint.api_base):
        return None  # said once already, when the route was found missing
    url = endpoint.moderations_url
    row = {
        "run_id": run_id,
        "started_at": client.wall_clock(),
        "provider": s.provider,
        "url": url,
        "model": MODERATION_MODEL,
        "prompt": request.prompt,
        "params": {"kind": "moderation", "images": sum(1 for ref in request.images if ref.role == "image")},
        "attempt_no": 0,
        "fallback_from": None,
        "status": "pending",
        "key_hint": s.key_hint,
    }
    attempt_id = client.recorder.attempt_started(row)
    emit("moderation", f"Checking the prompt at {url} ({MODERATION_MODEL}) before the image request", model=MODERATION_MODEL)
    check = _ask(client, url, moderation_inputs(request))
    if client._token.cancelled:
        fields = client._finish_fields(None, check.latency_ms, 0, None, check.http_status)
        stopped = client._token.reason or "cancelled"
        status = "cancelled" if stopped == "cancelled" else "interrupted"
        fields.update(status=status, error_type=None if status == "cancelled" else "interrupted", cost_usd=0.0, cost_basis="size_quality")
        client.finish_attempt(attempt_id, fields, row=row)
        stop = E.Cancelled(stopped)
        stop.summary = AttemptSummary(attempt_id, 0, MODERATION_MODEL, status, fields["error_type"], check.http_status, check.latency_ms)
        raise stop
    err: E.ImageLabError | None = check.error
    note = None
    if check.flagged:
        named = ", ".join(check.categories) if check.categories else "no category named"
        err = E.ContentPolicy(
            f"The moderation check flagged {check.where} ({named}). Nothing was sent to the image model, and no image was paid for.",
            code=FLAGGED_CODE,
            param=check.where,
            request_id=check.request_id,
        )
        err.categories = check.categories
        emit("failed", f"Flagged by the moderation check: {named}", model=MODERATION_MODEL, error_type=err.error_type)
    elif check.skipped:
        note = check.skipped
        if check.no_route:
            NO_ROUTE.remember(s.provider, endpoint.api_base)
        emit("note", check.skipped, model=MODERATION_MODEL, moderation="unchecked")
    else:
        emit("moderation", "The moderation check passed: nothing flagged", model=MODERATION_MODEL)
    cost = pricing.moderation_cost(MODERATION_MODEL)
    fields = client._finish_fields(err, check.latency_ms, 0, None, check.http_status, check.request_id)
    fields.update(cost_usd=cost.usd, cost_basis=cost.basis, raw_response=check.raw)
    if check.flagged:  # kept with the attempt, so a card rebuilt from the store shows them as the live one does
        fields["flagged_categories"] = list(check.categories)
    if note:
        fields["note"] = redact.scrub(note, limit=C.MAX_ERROR_MESSAGE_CHARS)
    client.finish_attempt(attempt_id, fields, row=row)
    if not check.flagged:
        return None
    summary = AttemptSummary(
        attempt_id,
        0,
        MODERATION_MODEL,
        "failed",
        err.error_type,
        check.http_status,
        check.latency_ms,
        error_message=err.message,
        error_code=err.code,
    )
    return AttemptResult(False, [], err, None, None, check.raw, summary)


def _ask(client: Any, url: str, inputs: list[list[dict[str, Any]]]) -> _Check:
    """Send each moderation request through ``client.send`` until one is flagged or one fails."""
    check = _Check()
    for index, parts in enumerate(inputs):
        exchange = client.send(
            "POST", url, json_body={"model": MODERATION_MODEL, "input": parts}, deadline_s=client.settings.read_timeout_s
        )
        check.latency_ms += exchange.latency_ms
        check.http_status = exchange.status
        check.request_id = redact.scrub(exchange.request_id)
        if client._token.cancelled:
            return check
        where = "the prompt" + (" or its first reference image" if len(parts) > 1 else "") if index == 0 else f"reference image {index + 1}"
        if exchange.error is not None:
            err = exchange.error
            check.error = err
            check.raw = redact.scrub(f"HTTP {exchange.status}  {exchange.content_type}\n{err.message}", limit=C.MAX_RAW_PREVIEW_CHARS)
            if exchange.status in NO_ROUTE_STATUSES or err.error_type in NO_ROUTE_ERRORS:
                check.no_route = True
                check.skipped = (
                    f"This provider has no moderations route at {url} (HTTP {exchange.status}, {err.error_type}): sent without the check. "
                    "Said once; later runs here are sent unchecked too."
                )
            else:
                check.skipped = f"The moderation check could not be made ({err.error_type}: {err.message}); sent without it."
            return check
        try:
            payload = load_json(client.redact(exchange.content.decode("utf-8", "replace")) or "")
            flagged, categories = flagged_categories(payload)
        except (ValueError, TypeError) as why:
            reason = str(why) if isinstance(why, UnreadableAnswer) else "it is not JSON"
            check.error = E.BadResponse(
                f"The moderation answer could not be read: {reason}.", status=exchange.status, code="moderation_answer"
            )
            check.raw = redact.scrub(exchange.content[: C.MAX_RAW_PREVIEW_CHARS].decode("utf-8", "replace"))
            check.skipped = f"The moderation check could not be read ({reason}); sent without it."
            return check
        check.raw = redact.scrub(f"HTTP {exchange.status}  flagged: {flagged}; categories: {', '.join(categories) or 'none'}")
        if flagged:
            check.flagged, check.categories, check.where = True, tuple(categories), where
            return check
    return check
