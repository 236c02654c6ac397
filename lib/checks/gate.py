"""Checks over a comparison grid, and the gate a CI job puts on them.

``check_grid`` runs the asked checks on every image of every cell (the judge too, when a rubric
is given) and keeps each result in the store against its attempt and image. ``gate`` turns the
cells' verdicts into a pass rate: a cell passes when it has images and every check of every one
of its images passed; a cell that failed to generate, or has no image, fails. The rate is the
share of cells that pass; under ``fail_under`` the gate fails. ``junit_xml`` writes the same as a
JUnit report (one test case per cell and check) for CI systems that show those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

from lib.checks import CheckRequest, CheckResult, CheckSpec, run_checks


@dataclass
class CellChecks:
    key: str
    label: str  # "row 1 · sandbox:gpt-image-2"
    ok: bool  # the cell generated
    error: str | None = None  # why it did not
    results: list[tuple[int | None, CheckResult]] = field(default_factory=list)  # (image id, result)

    @property
    def passed(self) -> bool:
        return self.ok and bool(self.results) and all(r.passed for _i, r in self.results)

    @property
    def score(self) -> float:
        """The lowest score of the cell's checks (0.0 for a cell with nothing to check)."""
        return min((r.score for _i, r in self.results), default=0.0) if self.ok else 0.0

    def failures(self) -> list[str]:
        if not self.ok:
            return [f"no image: {self.error or 'the cell did not generate'}"]
        if not self.results:
            return ["no image to check"]
        return [f"{r.name}: {r.summary}" for _i, r in self.results if not r.passed]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [{**r.as_dict(), "image_id": image_id} for image_id, r in self.results]


@dataclass(frozen=True)
class Gate:
    pass_rate: float
    fail_under: float
    cells: int
    passing: int
    failing: list[CellChecks]

    @property
    def passed(self) -> bool:
        return self.pass_rate >= self.fail_under

    def line(self) -> str:
        verdict = "passed" if self.passed else f"FAILED (under {self.fail_under:.2f})"
        return f"Checks: {self.passing}/{self.cells} cells pass every check ({self.pass_rate:.0%}); gate {verdict}."


def check_grid(
    store: Any,
    cells: Iterable[tuple[Any, Any]],
    specs: list[CheckSpec],
    *,
    judge: Callable[[bytes, dict[str, Any]], CheckResult] | None = None,
    engine=None,
) -> list[CellChecks]:
    """Run ``specs`` (and ``judge``, when given) on the images of ``cells``: pairs of a planned cell
    (``key``, ``row``, ``target.label``, ``prompt``, ``request``) and its state (``ok``, ``images``,
    ``error_type``, ``error_title``; None when it never ran). Each result is kept in the store."""
    out = []
    for plan, state in cells:
        label = f"row {plan.row + 1} · {plan.target.label}" + (f" · {plan.param} {plan.value}" if getattr(plan, "param", None) else "")
        if state is None or not state.ok:
            reason = (state.error_title or state.error_type or state.status) if state is not None else "not run"
            out.append(CellChecks(plan.key, label, False, str(reason)))
            continue
        cell = CellChecks(plan.key, label, True)
        request = CheckRequest.from_params(plan.prompt, plan.request.params())
        for image in state.images:
            try:
                data = store.keeper.resolve(image["path"]).read_bytes()
            except OSError as err:
                data = b""
                cell.error = f"the image file could not be read ({err.strerror or err})"
            results = run_checks(data, request, specs, engine=engine)
            if judge is not None and data:
                results.append(judge(data, {"judged_attempt": image["attempt_id"], "judged_image": image["id"]}))
            store.record_checks(image["attempt_id"], image["id"], results)
            cell.results += [(image["id"], r) for r in results]
        out.append(cell)
    return out


def gate(cells: list[CellChecks], fail_under: float) -> Gate:
    passing = sum(c.passed for c in cells)
    rate = passing / len(cells) if cells else 0.0
    return Gate(rate, fail_under, len(cells), passing, [c for c in cells if not c.passed])


def junit_xml(cells: list[CellChecks], *, suite: str = "imagelab compare") -> str:
    """A JUnit XML report: one test case per cell and check (one per cell when it has no image)."""
    cases = []
    failures = 0
    for cell in cells:
        if not cell.ok or not cell.results:
            failures += 1
            reason = cell.failures()[0]
            cases.append(f'  <testcase classname={quoteattr(cell.label)} name="generate"><failure message={quoteattr(reason)}/></testcase>')
            continue
        for image_id, r in cell.results:
            name = quoteattr(f"{r.name} (image {image_id})")
            if r.passed:
                cases.append(f"  <testcase classname={quoteattr(cell.label)} name={name}/>")
            else:
                failures += 1
                body = quoteattr(f"score {r.score:.3f}: {r.summary}")
                cases.append(f"  <testcase classname={quoteattr(cell.label)} name={name}><failure message={body}/></testcase>")
    head = f'<testsuite name={quoteattr(suite)} tests="{len(cases)}" failures="{failures}">'
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + head + "\n" + "\n".join(cases) + "\n</testsuite>\n"


def check_attempt(store: Any, attempt_id: int, specs: list[CheckSpec], *, judge=None, engine=None) -> list[tuple[int, CheckResult]]:
    """Run ``specs`` on every kept image of one stored attempt (its prompt and parameters are what
    the checks judge against), keep the results, and return them as (image id, result)."""
    attempt = store.attempt(attempt_id)
    if attempt is None:
        return []
    params = attempt.get("params") if isinstance(attempt.get("params"), dict) else {}
    request = CheckRequest.from_params(attempt.get("prompt") or "", params)
    out: list[tuple[int, CheckResult]] = []
    for image in attempt["images"]:
        try:
            data = store.keeper.resolve(image["path"]).read_bytes()
        except OSError:
            data = b""
        results = run_checks(data, request, specs, engine=engine)
        if judge is not None and data:
            results.append(judge(data, {"judged_attempt": attempt_id, "judged_image": image["id"]}))
        store.record_checks(attempt_id, image["id"], results)
        out += [(image["id"], r) for r in results]
    return out


def check_run(store: Any, run_id: str, specs: list[CheckSpec], *, judge=None, engine=None) -> list[tuple[int, CheckResult]]:
    """Run ``specs`` (and ``judge``) on the images of every succeeded attempt of one run, keeping the results."""
    out: list[tuple[int, CheckResult]] = []
    for attempt_id in store.checkable_attempts(run_id):
        out += check_attempt(store, attempt_id, specs, judge=judge, engine=engine)
    return out


def stored_result(row: dict[str, Any]) -> tuple[int | None, CheckResult]:
    """A row the store kept (``Store.checks_for``) as (image id, result) again."""
    detail = {k: v for k, v in (row.get("detail") or {}).items() if k != "summary"}
    return row.get("image_id"), CheckResult(row["name"], bool(row["passed"]), float(row["score"]), detail, row.get("summary") or "")


def stored_cell(key: str, label: str, rows: Iterable[dict[str, Any]], *, ok: bool = True) -> CellChecks | None:
    """The verdict of a cell from its kept checks (None when none is kept yet): the gate's rule applies."""
    results = [stored_result(r) for r in rows]
    if not results:
        return None
    return CellChecks(key, label, ok, results=results)
