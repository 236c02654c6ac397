"""What one attempt gathers while it runs, and what a run gathers over its attempts.

``AttemptContext`` is filled in by the exchange (status, ids, the raw answer,
usage, the images kept, notes, streaming counts) and read once when the
attempt is finished and recorded; ``AttemptResult`` is what the run loop
gets back; ``RunState`` what the run has gathered so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lib import errors as E
from lib import redact
from lib.generation import AttemptSummary, ResultImage


@dataclass
class AttemptContext:
    started: float  # the client's clock when the attempt began
    wait_s: float = 0.0  # time queued inside the app during the attempt (limiter slot, token, shared cooldown)
    queued_s: float = 0.0  # time queued before the attempt began (waiting for a worker)
    task_id: str | None = None
    http_status: int | None = None
    request_id: str | None = None
    raw: str | None = None  # the answer as History shows it (base64 elided)
    usage: dict[str, Any] | None = None
    revised: str | None = None  # the prompt as the provider rewrote it
    probe: bool | None = None  # holds the limiter's answer slot (True: the post-429 probe) until the POST is answered
    cooled: bool = False  # the shared cooldown was already started for this attempt's 429
    images: list[ResultImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partials: list[bytes] = field(default_factory=list)  # streamed previews, kept only when asked
    partial_count: int = 0
    first_partial_ms: int | None = None
    images_over: int = 0  # images the provider sent past the number asked for: counted, not kept or priced
    budget: Any = None  # the rate-limit budget the provider announced (lib.client._retry.RateBudget), the latest answer's
    budget_wait_s: float = 0.0  # time held back because that budget was spent or nearly spent

    def scrub(self) -> None:
        """Mask everything the provider controls, once, before it is recorded or shown."""
        self.raw = redact.scrub(self.raw)
        self.task_id = redact.scrub(self.task_id)
        self.request_id = redact.scrub(self.request_id)
        self.revised = redact.scrub(self.revised)
        self.usage = redact.scrub_obj(self.usage) if self.usage is not None else None

    def latency_ms(self, now: float) -> int:
        """The provider's time: from the request going out to its answer ending, waits inside the app left out."""
        return max(0, round((now - self.started - self.wait_s) * 1000))

    @property
    def wait_ms(self) -> int:
        return max(0, round((self.wait_s + self.queued_s) * 1000))

    def note(self) -> str | None:
        return "; ".join(self.notes) or None


def drop_frames(exc: BaseException | None) -> None:
    """Let go of the frames an error's tracebacks hold, along its whole chain of causes.

    An error is kept long after it was raised (on the Outcome, a job, a card), and
    its traceback holds every frame it passed through with their locals: the last
    chunk of a stream, an event's base64, a buffer of a line. Its message, type and
    fields are all that is shown or recorded."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        stack.extend((current.__cause__, current.__context__))


@dataclass
class AttemptResult:
    ok: bool
    images: list[ResultImage]
    error: E.ImageLabError | None
    usage: dict[str, Any] | None
    revised_prompt: str | None
    raw: str | None
    summary: AttemptSummary
    partials: list[bytes] | None = None
    partial_count: int = 0
    first_partial_ms: int | None = None
    note: str | None = None


@dataclass
class RunState:
    """What a run has gathered so far: the last attempt's result and the first error."""

    attempts: list[AttemptSummary] = field(default_factory=list)
    ok: bool = False
    error: E.ImageLabError | None = None
    first_error: E.ImageLabError | None = None
    images: list[ResultImage] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    revised: str | None = None
    raw: str | None = None
    model: str | None = None
    note: str | None = None
    sent: bool = True
    partials: list[bytes] = field(default_factory=list)
    partial_count: int = 0
    first_partial_ms: int | None = None

    def take(self, result: AttemptResult) -> None:
        self.attempts.append(result.summary)
        self.ok = result.ok
        self.error = result.error
        if self.first_error is None and result.error is not None:
            self.first_error = result.error
        self.images = result.images
        self.usage = result.usage
        self.revised = result.revised_prompt
        self.raw = result.raw
        self.model = result.summary.model
        self.note = result.note
        self.partials = result.partials or []
        self.partial_count = result.partial_count
        self.first_partial_ms = result.first_partial_ms

    def models_tried(self) -> int:
        return len({a.model for a in self.attempts})
