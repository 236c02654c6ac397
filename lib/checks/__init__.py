"""Checks of a result: pure functions over image bytes and the request that made them.

- ``size``: the size, format and background asked for (lib.checks.size);
- ``text``: the prompt's quoted text read back by OCR (lib.checks.text, lib.checks.ocr);
- ``similar``: perceptual similarity to a reference image (lib.checks.similar);
- ``judge``: a vision model's verdict on a rubric (lib.checks.judge: the request, the verdict read
  from the answer, the cost estimate; the call itself goes through the client).

Each returns a ``CheckResult`` (passed, score 0-1, detail, one-line summary). ``parse_spec`` reads
the specs the CLI and the pages take (``size``, ``text``, ``text=0.9``, ``similar=ref.png``,
``similar=ref.png@0.8``); ``run_checks`` runs the image checks of a list of specs on one image.
A check never raises for bad input: an image that cannot be opened, a reference that cannot be
read or an OCR engine that is missing make a failed result that says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from lib.checks._base import CheckRequest, CheckResult, open_image
from lib.checks.ocr import OcrUnavailable
from lib.errors import InvalidImage

CHECK_NAMES = ("size", "text", "similar", "judge")
IMAGE_CHECKS = ("size", "text", "similar")  # run locally on the image; the judge is a request of its own


@dataclass(frozen=True)
class CheckSpec:
    """One check as asked: its name, an optional pass threshold, and its input (a reference, a rubric)."""

    name: str
    threshold: float | None = None
    reference: bytes | None = None
    reference_name: str = ""
    rubric: str = ""
    model: str = ""  # the judge's model ("" for the default judge model)
    reference_path: str = ""  # where the reference is kept (under the data directory), once kept

    def label(self) -> str:
        if self.name == "similar" and self.reference_name:
            return f"similar={self.reference_name}"
        return self.name

    def to_dict(self) -> dict:
        """The spec as JSON keeps it (a comparison's axes): the reference by its kept path, never its bytes."""
        out: dict = {"name": self.name}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.name == "similar":
            out.update(reference_name=self.reference_name, reference_path=self.reference_path)
        if self.name == "judge":
            out.update(rubric=self.rubric, model=self.model)
        return out


def spec_from_dict(entry: dict, *, read_file=None) -> CheckSpec | None:
    """A spec kept by ``CheckSpec.to_dict`` (None for one that is not a check); ``read_file(path) -> bytes``
    gives back a similar check's reference (a lost one makes the check fail and say so when it runs)."""
    if not isinstance(entry, dict) or entry.get("name") not in CHECK_NAMES:
        return None
    threshold = entry.get("threshold")
    threshold = float(threshold) if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else None
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        threshold = None
    reference = None
    path = str(entry.get("reference_path") or "")
    if entry["name"] == "similar" and path and read_file is not None:
        try:
            reference = read_file(path)
        except (OSError, ValueError):
            reference = None
    return CheckSpec(
        entry["name"],
        threshold,
        reference,
        str(entry.get("reference_name") or ""),
        str(entry.get("rubric") or ""),
        str(entry.get("model") or ""),
        path,
    )


class SpecError(ValueError):
    """A check spec that cannot be used; the message says what to write instead."""


def _threshold(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{spec!r}: the threshold {text!r} is not a number; write one from 0 to 1, such as 0.9.") from None
    if not 0.0 <= value <= 1.0:
        raise SpecError(f"{spec!r}: the threshold {value:g} is outside 0 to 1.")
    return value


def parse_spec(spec: str, *, read_file=None) -> CheckSpec:
    """``size`` | ``text`` | ``text=0.9`` | ``similar=PATH`` | ``similar=PATH@0.8`` | ``judge=RUBRIC``.

    ``read_file(path) -> bytes`` reads the reference (default: from disk)."""
    raw = (spec or "").strip()
    name, _, arg = raw.partition("=")
    name = name.strip().lower()
    if name not in CHECK_NAMES:
        raise SpecError(f"Unknown check {name or raw!r}; the checks are {', '.join(CHECK_NAMES)}.")
    arg = arg.strip()
    if name == "size":
        if arg:
            raise SpecError("'size' takes no value: it checks the size, format and background the request asked for.")
        return CheckSpec("size")
    if name == "text":
        return CheckSpec("text", _threshold(arg, raw) if arg else None)
    if name == "judge":
        if not arg:
            raise SpecError("'judge' needs a rubric: judge=\"the poster shows a red fox\".")
        return CheckSpec("judge", rubric=arg)
    if not arg:
        raise SpecError("'similar' needs a reference image: similar=ref.png (or similar=ref.png@0.8 for a threshold).")
    path, at, level = arg.rpartition("@")
    if not at or not re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)\s*", level):
        path, level = arg, ""  # no threshold: an @ in a file name stays in the name
    threshold = _threshold(level, raw) if level else None
    reader = read_file or (lambda p: Path(p).expanduser().read_bytes())
    try:
        data = reader(path)
    except OSError as err:
        raise SpecError(f"Cannot read the reference image {path!r}: {err.strerror or err}.") from None
    try:
        open_image(data)
    except InvalidImage as err:
        raise SpecError(f"The reference {path!r} is not an image this app can open: {err}") from None
    return CheckSpec("similar", threshold, data, Path(path).name)


def kept_specs(keeper, specs: Iterable[CheckSpec]) -> list[dict]:
    """Specs as JSON keeps them, a similar check's reference saved first through ``keeper``
    (lib.images.ImageKeeper: content-addressed under the data directory)."""
    out = []
    for spec in specs:
        if spec.name == "similar" and spec.reference and not spec.reference_path:
            spec = replace(spec, reference_path=keeper.save(spec.reference, source="reference").rel_path)
        out.append(spec.to_dict())
    return out


def kept_reader(keeper):
    """``read_file(path) -> bytes`` for ``spec_from_dict``: a reference kept by ``kept_specs``."""
    return lambda path: keeper.resolve(path).read_bytes()


def _failed(name: str, reason: str, **detail) -> CheckResult:
    return CheckResult(name, False, 0.0, {"error": reason, **detail}, reason)


def run_checks(data: bytes, request: CheckRequest, specs: Iterable[CheckSpec], *, engine=None) -> list[CheckResult]:
    """The image checks of ``specs`` on one image (a ``judge`` spec is skipped: it is a request of its own)."""
    from lib.checks.similar import DEFAULT_THRESHOLD as SIMILAR_THRESHOLD
    from lib.checks.similar import check_similar
    from lib.checks.size import check_size
    from lib.checks.text import DEFAULT_THRESHOLD as TEXT_THRESHOLD
    from lib.checks.text import check_text

    specs = [s for s in specs if s.name in IMAGE_CHECKS]
    try:
        image = open_image(data)
    except InvalidImage as err:
        return [_failed(s.name, f"The result is not an image that can be checked: {err}") for s in specs]
    results = []
    for spec in specs:
        if spec.name == "size":
            results.append(check_size(image, request))
        elif spec.name == "text":
            try:
                results.append(
                    check_text(image, request, threshold=spec.threshold if spec.threshold is not None else TEXT_THRESHOLD, engine=engine)
                )
            except OcrUnavailable as err:
                results.append(_failed("text", f"The text could not be read: {err}"))
        elif spec.name == "similar":
            try:
                reference = open_image(spec.reference or b"")
            except InvalidImage as err:
                results.append(_failed("similar", f"The reference image cannot be opened: {err}", reference=spec.reference_name))
                continue
            threshold = spec.threshold if spec.threshold is not None else SIMILAR_THRESHOLD
            results.append(check_similar(image, reference, threshold=threshold, reference_name=spec.reference_name))
    return results


__all__ = [
    "CHECK_NAMES",
    "IMAGE_CHECKS",
    "CheckRequest",
    "CheckResult",
    "CheckSpec",
    "SpecError",
    "kept_reader",
    "kept_specs",
    "parse_spec",
    "run_checks",
    "spec_from_dict",
]
