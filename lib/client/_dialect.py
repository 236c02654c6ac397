"""Sending through a gateway dialect (``lib.dialects``): the create request its file
describes, the task id where the file says it is, the poll route built from its
templates, and its status words, results and error read back.

The client's own loop does the rest (``ImageClient._exchange`` and ``_poll``): the
limiter, deadlines, transient poll failures, caps, downloads and retries are the same
as for any provider. What is read here is turned into the client's ``TaskState``, whose
payload is then in the shape every other answer is read in: ``{"data": [{"url"}...]}``
for images, ``{"message", "code"}`` for a failure (so the error vocabulary decides
``content_policy`` from the words, else ``task_failed``). An answer the dialect cannot
read is ``bad_response``, naming the field of the file that found nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lib import errors as E
from lib.answers import TaskState, _Item, describe_shape
from lib.classify import classify_task_failure, load_json
from lib.dialects import AnswerPath, Dialect, DialectError
from lib.providers import Endpoint

SHAPE = "dialect"  # TaskState.shape of a task read through a dialect
_WORD_CHARS = 60


@dataclass(frozen=True)
class TaskRoute:
    """Where and how a task is polled, and how each answer is read."""

    method: str
    url: str
    interval_s: float
    read: Callable[[Any], TaskState]


def dialect_for(settings: Any) -> Dialect | None:
    """The dialect requests go through: the settings' (pre-flight has refused one that did not load)."""
    dialect = getattr(settings, "dialect", None)
    return dialect if isinstance(dialect, Dialect) else None


def base_of(endpoint: Endpoint) -> str:
    """The base URL a dialect's routes are read against: its API base, else the host."""
    return endpoint.api_base or endpoint.root


def values(request: Any, model: str) -> dict[str, Any]:
    """What a dialect's placeholders are filled with: the request as asked, defaults included."""
    return {**request.params(), "model": model, "prompt": request.prompt}


def create_call(dialect: Dialect, request: Any, model: str, endpoint: Endpoint) -> tuple[str, str, dict[str, Any] | None]:
    """(method, URL, JSON body or None) of the create request for this request and model."""
    try:
        spec = dialect.create_request(values(request, model))
    except DialectError as err:
        raise E.InvalidInput(f"The dialect '{dialect.name}': {err.message}", param="dialect", code="dialect") from None
    return spec.method, spec.url(base_of(endpoint)), spec.body


def read_created(dialect: Dialect, payload: Any) -> TaskState:
    """The create answer: a task to poll, or (a dialect without [poll]) the images at once."""
    read = dialect.read_create(payload)
    said = f"; its error field (create.answer.error) says: {read.error}" if read.error else ""
    if not dialect.is_async:
        if read.items:
            return TaskState(SHAPE, "", "completed", "answered", 100.0, _images(read.items))
        if read.error:
            raise classify_task_failure({"message": read.error})
        where = f'create.answer.results = "{dialect.create_results.text}"' if dialect.create_results else "the image fields"
        raise E.BadResponse(
            f"The dialect '{dialect.name}' found no image in the answer ({where}): {describe_shape(payload)}.", code="dialect_results"
        )
    if read.task_id:
        return TaskState(SHAPE, read.task_id, "pending", "created", None, payload)
    path = dialect.task_id.text if dialect.task_id else "?"
    raise E.BadResponse(
        f"The dialect '{dialect.name}' found no task id in the create answer (create.answer.task_id = \"{path}\"): "
        f"{describe_shape(payload)}{said}.",
        code="dialect_task_id",
    )


def task_route(dialect: Dialect, request: Any, model: str, endpoint: Endpoint, task_id: str) -> TaskRoute:
    """The poll of one task: its URL from the dialect's templates (the id encoded, never a route of its own)."""
    spec = dialect.poll_request(task_id, values(request, model))
    return TaskRoute(spec.method, spec.url(base_of(endpoint)), dialect.interval_s, lambda payload: read_poll(dialect, payload))


def read_poll(dialect: Dialect, payload: Any) -> TaskState:
    """A poll answer as a ``TaskState``; a status the dialect cannot place, or a finished task
    whose results it cannot read, is ``bad_response`` naming the field."""
    read = dialect.read_poll(payload)
    word = (read.status_word or "")[:_WORD_CHARS]
    status_path = dialect.status.text if dialect.status else "?"
    if read.state == "unknown":
        if not read.status_word:
            raise E.BadResponse(
                f"The dialect '{dialect.name}' found no status in the poll answer (poll.answer.status = \"{status_path}\"): "
                f"{describe_shape(payload)}.",
                code="dialect_status",
            )
        raise E.BadResponse(
            f"The task's status '{word}' (poll.answer.status) is none of the words the dialect '{dialect.name}' lists "
            f"(done: {_words(dialect.done)}; failed: {_words(dialect.failed)}; pending: {_words(dialect.pending)}). "
            "Add it to the list it belongs to in the dialect file.",
            code="dialect_status_word",
        )
    if read.state == "done":
        if not read.items:
            results = dialect.results.text if dialect.results else "the image fields"
            raise E.BadResponse(
                f"The task finished ('{word}') but poll.answer.results = \"{results}\" reads no image"
                f"{_why_empty(dialect.results, payload)}: {describe_shape(payload)}.",
                code="dialect_results",
            )
        return TaskState(SHAPE, "", "completed", word, 100.0, _images(read.items))
    if read.state == "failed":
        reason: dict[str, Any] = {"status": word, "message": read.error or f"the task ended '{word}' with no reason given"}
        if read.error_code:
            reason["code"] = read.error_code
        return TaskState(SHAPE, "", "failed", word, read.progress, reason)
    return TaskState(SHAPE, "", "pending", word, read.progress, payload)


def _images(items: list[_Item]) -> dict[str, Any]:
    return {"data": [{"url": i.value} if i.kind == "url" else {"b64_json": i.value} for i in items]}


def _words(words: frozenset[str]) -> str:
    return ", ".join(sorted(words)) or "none"


def _why_empty(path: AnswerPath | None, payload: Any) -> str:
    """Why a results path found nothing, when it reads JSON held in a string that is not JSON."""
    if path is None:
        return ""
    for i, (kind, _) in enumerate(path.steps):
        if kind != "json":
            continue
        head = AnswerPath(path.text, path.steps[:i])
        for value in head.values(payload):
            if isinstance(value, str):
                try:
                    load_json(value)
                except ValueError:
                    return f" (the text '$json' reads is not valid JSON: {len(value):,} characters starting {value[:40]!r})"
        break
    return ""
