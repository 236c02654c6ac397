"""Grids of prompts x targets: axes and templates -> cells, a comparison's record, exports.

A comparison has rows (prompts: one per line, or every combination of a
template's variables), columns (targets: a provider plus a model) and, if the
user wants, a third axis (one parameter with several values). Each cell is one
run (``runs.kind = 'compare'``, ``runs.comparison_id``, ``runs.cell`` JSON)
submitted through the engine's ``JobRunner.submit_batch``; the comparison itself
is a row of ``comparisons``. What a cell shows is read back from the store, so
a reload, another tab or a teammate's link sees the same grid.

Judging (a winner per row, thumbs and a note per cell) lives in
``cell_ratings`` (migration m006_compare). Exports: a contact sheet (one PNG
drawn with Pillow) and a ZIP of the full images plus ``comparison.json``.
Nothing here imports Streamlit; nothing written here holds an API key.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import statistics
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lib import constants as C
from lib import redact
from lib.errors import ERROR_INFO
from lib.generation import ClientSettings, GenerationRequest
from lib.providers import BACKGROUNDS, MODERATIONS, OUTPUT_FORMATS, PRESETS, QUALITIES, check_size, parse_size
from lib.store.records import AttemptRecord, run_error

log = logging.getLogger("imagelab.compare")

FORMAT = "imagelab-comparison/1"
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
COMPARISON_STATUSES = ("running", "done", "cancelled")
# The third axis: a parameter and the values it may take (None: checked per model, e.g. sizes).
VARY_PARAMS: dict[str, tuple[str, ...] | None] = {
    "quality": QUALITIES,
    "size": None,
    "output_format": OUTPUT_FORMATS,
    "background": BACKGROUNDS,
    "moderation": MODERATIONS,
}
VARY_LABELS = {"quality": "Quality", "size": "Size", "output_format": "Format", "background": "Background", "moderation": "Moderation"}
SHARED_DEFAULTS: dict[str, Any] = {
    "size": "auto",
    "quality": "auto",
    "output_format": "png",
    "background": "auto",
    "moderation": "auto",
    "n": C.COMPARE_DEFAULT_N,
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class CompareInputError(ValueError):
    """Input a grid cannot be built from; the message says what to change."""


# --------------------------------------------------------------------------
# Rows: prompts and templates


@dataclass(frozen=True)
class Row:
    index: int
    prompt: str
    vars: dict[str, str] = field(default_factory=dict)

    def label(self) -> str:
        return self.prompt


def _check_prompt(prompt: str, where: str) -> None:
    if len(prompt) > C.MAX_PROMPT_CHARS:
        raise CompareInputError(f"{where} is {len(prompt):,} characters long; a prompt may have at most {C.MAX_PROMPT_CHARS:,}.")


def _check_row_count(count: int, cap: int) -> None:
    if count > cap:
        raise CompareInputError(
            f"That makes {count:,} rows, more than the {cap} one grid allows. Remove some prompts or values, or split it into two comparisons."
        )


def prompts_from_lines(text: str, *, cap: int = C.COMPARE_MAX_ROWS) -> list[Row]:
    """One prompt per non-empty line (surrounding spaces dropped)."""
    prompts = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not prompts:
        raise CompareInputError("Write at least one prompt: one prompt per line, each line is a row of the grid.")
    _check_row_count(len(prompts), cap)
    for i, prompt in enumerate(prompts):
        _check_prompt(prompt, f"Prompt {i + 1}")
    return [Row(i, p) for i, p in enumerate(prompts)]


def _tokens(template: str) -> list[tuple[str, str]]:
    """('text', literal) and ('var', name) pieces. ``{{`` and ``}}`` are literal braces."""
    out: list[tuple[str, str]] = []
    buf: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "{" and template.startswith("{{", i):
            buf.append("{")
            i += 2
        elif ch == "}" and template.startswith("}}", i):
            buf.append("}")
            i += 2
        elif ch == "{":
            end = template.find("}", i + 1)
            nested = template.find("{", i + 1)
            if end == -1 or (nested != -1 and nested < end):
                raise CompareInputError(
                    f"The template has a '{{' at character {i + 1} that is never closed. Write variables as {{name}}; for a literal brace write {{{{."
                )
            name = template[i + 1 : end].strip()
            if not name:
                raise CompareInputError(
                    f"The template has an empty {{}} at character {i + 1}: put a variable name inside, e.g. {{animal}}."
                )
            if not _NAME.match(name):
                raise CompareInputError(
                    f"'{{{name}}}' in the template is not a variable name: use letters, digits and _ (e.g. {{art_style}})."
                )
            if buf:
                out.append(("text", "".join(buf)))
                buf = []
            out.append(("var", name))
            i = end + 1
        elif ch == "}":
            raise CompareInputError(f"The template has a '}}' at character {i + 1} with no '{{' before it. For a literal brace write }}}}.")
        else:
            buf.append(ch)
            i += 1
    if buf:
        out.append(("text", "".join(buf)))
    return out


def template_variables(template: str) -> list[str]:
    """The variables of a template in order of first appearance; raises on a malformed one."""
    if not (template or "").strip():
        raise CompareInputError("Write a template, e.g. a {animal} in {style} style.")
    names = list(dict.fromkeys(name for kind, name in _tokens(template) if kind == "var"))
    if not names:
        raise CompareInputError(
            "The template has no variables. Put each one in braces, e.g. a {animal} in {style} style; or switch to one prompt per line."
        )
    if len(names) > C.COMPARE_MAX_VARIABLES:
        raise CompareInputError(f"The template has {len(names)} variables; a grid allows at most {C.COMPARE_MAX_VARIABLES}.")
    return names


def parse_var(text: str) -> tuple[str, list[str]]:
    """``animal=fox,owl`` (or ``animal: fox, owl``) -> ('animal', ['fox', 'owl'])."""
    match = re.match(r"\s*([^=:]*?)\s*[=:]\s*(.*)\Z", text or "", re.S)
    if not match:
        raise CompareInputError(f"'{text.strip()}' is not a value list: write name = value1, value2 (e.g. animal = fox, owl).")
    name, rest = match.group(1), match.group(2)
    if not _NAME.match(name):
        raise CompareInputError(f"'{name}' is not a variable name: use letters, digits and _ (e.g. art_style = ink, oil).")
    values = list(dict.fromkeys(v.strip() for v in rest.split(",") if v.strip()))
    if not values:
        raise CompareInputError(f"The variable {name} has no values: list them after the = sign, separated by commas.")
    return name, values


def parse_vars(lines: Iterable[str]) -> dict[str, list[str]]:
    """Several value lists; one line (or one --var) each. A name given twice is an error."""
    out: dict[str, list[str]] = {}
    for line in lines:
        if not (line or "").strip():
            continue
        name, values = parse_var(line)
        if name in out:
            raise CompareInputError(f"Values for {name} are given twice: put them on one line, separated by commas.")
        out[name] = values
    return out


def check_template(template: str, values: dict[str, list[str]]) -> list[str]:
    """The variables, once every variable has values and every value list has a variable."""
    names = template_variables(template)
    missing = [n for n in names if not values.get(n)]
    if missing:
        listed = ", ".join(f"{{{n}}}" for n in missing)
        example = missing[0]
        raise CompareInputError(
            f"The template uses {listed} but no values were given for {'it' if len(missing) == 1 else 'them'}: add a line like {example} = value1, value2."
        )
    unused = [n for n in values if n not in names]
    if unused:
        raise CompareInputError(
            f"Values were given for {', '.join(unused)}, which the template does not use. Add {{{unused[0]}}} to the template, or remove those values."
        )
    return names


def template_row_count(template: str, values: dict[str, list[str]]) -> int:
    names = check_template(template, values)
    count = 1
    for name in names:
        count *= len(values[name])
    return count


def expand_template(template: str, values: dict[str, list[str]], *, cap: int = C.COMPARE_MAX_ROWS) -> list[Row]:
    """Every combination of the variables' values, the last variable changing fastest."""
    names = check_template(template, values)
    _check_row_count(template_row_count(template, values), cap)
    tokens = _tokens(template)
    rows = []
    for i, combo in enumerate(itertools.product(*(values[n] for n in names))):
        chosen = dict(zip(names, combo, strict=False))
        prompt = "".join(chosen[text] if kind == "var" else text for kind, text in tokens).strip()
        _check_prompt(prompt, f"Row {i + 1}")
        if not prompt:
            raise CompareInputError(f"Row {i + 1} comes out empty: give the variables non-empty values.")
        rows.append(Row(i, prompt, chosen))
    return rows


# --------------------------------------------------------------------------
# Columns: targets


def provider_name(provider_id: str) -> str:
    """'OpenAI', 'WisGate', 'Sandbox': the preset's label without its explanation."""
    preset = PRESETS.get(provider_id)
    return preset.label.split(" (")[0] if preset else provider_id


@dataclass(frozen=True)
class Target:
    provider: str
    model: str

    @property
    def label(self) -> str:
        return f"{self.model} @ {provider_name(self.provider)}"

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"

    def to_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "model": self.model, "label": self.label}


def parse_target(text: str) -> Target:
    """``provider:model`` (the CLI) or ``model @ Provider`` (the page's labels)."""
    raw = (text or "").strip()
    if "@" in raw:
        model, _, name = raw.rpartition("@")
        model, name = model.strip(), name.strip().lower()
        provider = next((pid for pid in PRESETS if pid == name or provider_name(pid).lower() == name), None)
    elif ":" in raw:
        provider, _, model = raw.partition(":")
        provider, model = provider.strip().lower(), model.strip()
    else:
        raise CompareInputError(f"'{raw}' is not a target: write provider:model (e.g. openai:gpt-image-2) or model @ Provider.")
    if provider not in PRESETS:
        raise CompareInputError(f"'{raw}' names no known provider; choose one of {', '.join(PRESETS)}.")
    if not model:
        raise CompareInputError(f"'{raw}' names no model: write it after the provider, e.g. {provider}:gpt-image-2.")
    return Target(provider, model)


def target_options() -> list[str]:
    """Every known provider x model pair as a label, sandbox first."""
    return [Target(pid, model).label for pid, preset in PRESETS.items() for model in preset.models]


def check_targets(targets: list[Target]) -> list[Target]:
    if not targets:
        raise CompareInputError("Pick at least one target (a model at a provider); each target is a column of the grid.")
    if len(targets) > C.COMPARE_MAX_TARGETS:
        raise CompareInputError(f"{len(targets)} targets is more than the {C.COMPARE_MAX_TARGETS} one grid allows.")
    seen: set[Target] = set()
    for t in targets:
        if t in seen:
            raise CompareInputError(f"The target {t.label} is listed twice.")
        seen.add(t)
    return targets


# --------------------------------------------------------------------------
# The optional third axis and shared parameters


@dataclass(frozen=True)
class VaryAxis:
    param: str
    values: tuple[str, ...]

    def label(self, value: str) -> str:
        return f"{VARY_LABELS.get(self.param, self.param).lower()} {value}"

    def to_dict(self) -> dict[str, Any]:
        return {"param": self.param, "values": list(self.values)}


def make_vary(param: str | None, values: Iterable[str]) -> VaryAxis | None:
    """None when no parameter is chosen; else the axis, each value checked."""
    if not param:
        return None
    if param not in VARY_PARAMS:
        raise CompareInputError(f"'{param}' cannot be varied; choose one of {', '.join(VARY_PARAMS)}.")
    vals = tuple(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))
    if len(vals) < 2:
        raise CompareInputError(f"Give {VARY_LABELS[param].lower()} at least two values to compare, or vary nothing.")
    if len(vals) > C.COMPARE_MAX_VARIANTS:
        raise CompareInputError(
            f"{len(vals)} values of {VARY_LABELS[param].lower()} is more than the {C.COMPARE_MAX_VARIANTS} a grid allows."
        )
    allowed = VARY_PARAMS[param]
    for v in vals:
        if allowed is not None and v not in allowed:
            raise CompareInputError(f"'{v}' is not a {VARY_LABELS[param].lower()}; choose from {', '.join(allowed)}.")
        if allowed is None and v != "auto" and parse_size(v) is None:
            raise CompareInputError(f"'{v}' is not a size: write auto or WIDTHxHEIGHT, e.g. 1024x1536.")
    return VaryAxis(param, vals)


def shared_params(**given: Any) -> dict[str, Any]:
    """The parameters every cell shares (n=1 unless asked)."""
    out = dict(SHARED_DEFAULTS)
    out.update({k: v for k, v in given.items() if v is not None and k in SHARED_DEFAULTS})
    if not C.MIN_N <= int(out["n"]) <= C.MAX_N:
        raise CompareInputError(f"Images per cell must be between {C.MIN_N} and {C.MAX_N}.")
    out["n"] = int(out["n"])
    return out


# --------------------------------------------------------------------------
# The plan: rows x targets x variants -> cells


def cell_key(row: int, col: int, variant: int | None) -> str:
    return f"r{row}c{col}" + (f"v{variant}" if variant is not None else "")


@dataclass(frozen=True)
class CellPlan:
    row: int
    col: int
    variant: int | None
    prompt: str
    target: Target
    param: str | None
    value: str | None
    request: GenerationRequest

    @property
    def key(self) -> str:
        return cell_key(self.row, self.col, self.variant)

    def cell(self) -> dict[str, Any]:
        """What ``runs.cell`` holds."""
        return {
            "key": self.key,
            "row": self.row,
            "col": self.col,
            "variant": self.variant,
            "target": self.target.label,
            "provider": self.target.provider,
            "model": self.target.model,
            "param": self.param,
            "value": self.value,
        }


@dataclass
class GridPlan:
    rows: list[Row]
    targets: list[Target]
    vary: VaryAxis | None = None
    shared: dict[str, Any] = field(default_factory=lambda: dict(SHARED_DEFAULTS))
    use_fallback: bool = False  # off: a fallback would silently put another model in a cell
    title: str = ""
    template: str | None = None
    variables: dict[str, list[str]] | None = None
    # Media: reference images for the whole grid, streaming partials in cells
    references: list[Any] = field(default_factory=list)  # lib.generation.ReferenceImage, sent with every cell
    reference_mask: Any = None
    stream: bool = False
    partial_images: int = 2
    reference_entries: list[dict[str, Any]] = field(default_factory=list)  # described only: a plan read without its files

    @property
    def n_variants(self) -> int:
        return len(self.vary.values) if self.vary else 1

    @property
    def n_cells(self) -> int:
        return len(self.rows) * len(self.targets) * self.n_variants

    def shape(self) -> str:
        """'3 rows x 2 targets x 2 qualities = 12 cells'."""
        parts = [
            f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''}",
            f"{len(self.targets)} target{'s' if len(self.targets) != 1 else ''}",
        ]
        if self.vary:
            parts.append(f"{len(self.vary.values)} {VARY_LABELS[self.vary.param].lower()} values")
        return " x ".join(parts) + f" = {self.n_cells} cell{'s' if self.n_cells != 1 else ''}"

    def default_title(self) -> str:
        first = self.template or (self.rows[0].prompt if self.rows else "")
        first = first if len(first) <= 60 else first[:57] + "..."
        return f"{first} ({self.shape()})"

    def request_for(self, row: Row, target: Target, value: str | None) -> GenerationRequest:
        # Media: the grid's reference images (an edit) and streaming go with every cell.
        params = dict(self.shared)
        if self.vary and value is not None:
            params[self.vary.param] = value
        return GenerationRequest(
            prompt=row.prompt,
            model=target.model,
            size=params["size"],
            n=int(params["n"]),
            quality=params["quality"],
            background=params["background"],
            output_format=params["output_format"],
            moderation=params["moderation"],
            images=list(self.references),
            mask=self.reference_mask,
            stream=self.stream,
            partial_images=self.partial_images,  # media
        )

    def cells(self) -> list[CellPlan]:
        """Row by row, target by target: a grid submitted in this order shares the
        workers fairly between targets."""
        out = []
        values: list[tuple[int | None, str | None]] = list(enumerate(self.vary.values)) if self.vary else [(None, None)]
        for row in self.rows:
            for variant, value in values:
                for col, target in enumerate(self.targets):
                    out.append(
                        CellPlan(
                            row.index,
                            col,
                            variant,
                            row.prompt,
                            target,
                            self.vary.param if self.vary else None,
                            value,
                            self.request_for(row, target, value),
                        )
                    )
        return out

    def problems(self) -> list[str]:
        """What would make cells fail before sending, in plain words (the grid can still run)."""
        out = []
        sizes = list(self.vary.values) if self.vary and self.vary.param == "size" else [self.shared["size"]]
        for target in self.targets:
            for size in sizes:
                problem = check_size(size, target.model)
                if problem:
                    out.append(f"{target.label}: {problem}")
        backgrounds = list(self.vary.values) if self.vary and self.vary.param == "background" else [self.shared["background"]]
        formats = list(self.vary.values) if self.vary and self.vary.param == "output_format" else [self.shared["output_format"]]
        if "transparent" in backgrounds and "jpeg" in formats:
            out.append("A transparent background needs png or webp; jpeg cells will be refused.")
        # Media: what each target's model takes (lib/providers.py capabilities)
        from lib.providers import capabilities

        for target in self.targets:
            cap = capabilities(target.model)
            if self.references and not cap.edits:
                out.append(f"{target.label}: {target.model} cannot edit images; its cells will be refused.")
            if self.stream and not cap.streams:
                out.append(f"{target.label}: {target.model} does not stream partial images; its cells will be refused.")
            if self.reference_mask is not None and not cap.mask:
                out.append(f"{target.label}: {target.model} takes no mask; its cells will be refused.")
        return list(dict.fromkeys(out))

    def check(self) -> GridPlan:
        check_targets(self.targets)
        if not self.rows:
            raise CompareInputError("The grid has no rows: write at least one prompt.")
        _check_row_count(len(self.rows), C.COMPARE_MAX_ROWS)
        if self.n_cells > C.COMPARE_MAX_CELLS:
            raise CompareInputError(
                f"{self.shape()}: more than the {C.COMPARE_MAX_CELLS} cells one grid allows. Remove rows, targets or values."
            )
        return self

    def axes(self) -> dict[str, Any]:
        """What ``comparisons.axes`` holds: enough to rebuild every cell's request."""
        return {
            "rows": [{"index": r.index, "prompt": r.prompt, "vars": r.vars} for r in self.rows],
            "template": self.template,
            "variables": self.variables,
            "targets": [t.to_dict() for t in self.targets],
            "vary": self.vary.to_dict() if self.vary else None,
            "shared": self.shared,
            "use_fallback": self.use_fallback,
            # media: files described by name, size and sha256, never the bytes
            "references": [r.to_dict() for r in self.references] or self.reference_entries,
            "reference_mask": self.reference_mask.to_dict() if self.reference_mask is not None else None,
            "stream": self.stream,
            "partial_images": self.partial_images,
        }

    @classmethod
    def from_axes(cls, axes: dict[str, Any], *, title: str = "", load: Callable[[str], bytes | None] | None = None) -> GridPlan:
        """``load(sha256)`` gives back a kept reference image (``Store.input_bytes``); without it
        the plan lists its reference images but carries no files (fit to show, not to send)."""
        vary = axes.get("vary")
        entries = [e for e in (axes.get("references") or []) if isinstance(e, dict)]
        mask_entry = axes.get("reference_mask") if isinstance(axes.get("reference_mask"), dict) else None
        references, mask = [], None
        if load is not None and (entries or mask_entry):
            stored = GenerationRequest.from_dict(
                {"prompt": "-", "images": entries, "mask": mask_entry}, load=load
            )  # raises naming a lost file
            references, mask = stored.images, stored.mask
        return cls(
            references=references,
            reference_mask=mask,
            reference_entries=entries,
            stream=bool(axes.get("stream")),
            partial_images=int(axes.get("partial_images", 2) or 0),
            rows=[Row(int(r["index"]), r["prompt"], dict(r.get("vars") or {})) for r in axes.get("rows", [])],
            targets=[Target(t["provider"], t["model"]) for t in axes.get("targets", [])],
            vary=VaryAxis(vary["param"], tuple(vary["values"])) if vary else None,
            shared={**SHARED_DEFAULTS, **(axes.get("shared") or {})},
            use_fallback=bool(axes.get("use_fallback")),
            title=title,
            template=axes.get("template"),
            variables=axes.get("variables"),
        )


def build_plan(
    *,
    prompts: str | list[str] | None = None,
    template: str | None = None,
    variables: dict[str, list[str]] | None = None,
    targets: list[Target],
    vary: VaryAxis | None = None,
    shared: dict[str, Any] | None = None,
    use_fallback: bool = False,
    title: str = "",
) -> GridPlan:
    """Rows from prompts (text, one per line, or a list) or from a template; checked."""
    if template is not None and template.strip():
        rows = expand_template(template, variables or {})
    else:
        if variables:
            raise CompareInputError("Values for variables need a template; without one, write one prompt per line.")
        text = "\n".join(prompts) if isinstance(prompts, list) else (prompts or "")
        rows = prompts_from_lines(text)
        template = None
    plan = GridPlan(
        rows=rows,
        targets=list(targets),
        vary=vary,
        shared=shared_params(**(shared or {})),
        use_fallback=use_fallback,
        title=title.strip(),
        template=template,
        variables=variables if template else None,
    )
    return plan.check()


# --------------------------------------------------------------------------
# Running: one comparison row, one run per cell


def cell_settings(settings: ClientSettings, plan: GridPlan) -> ClientSettings:
    """A provider's settings as a grid uses them: fallback as the grid says (off by default), and a
    token bucket at least as deep as the parallel requests allowed, so N cells may start together.
    A sandbox told to be 'healthy' gets no scenario header, so a #tag in a row's prompt still
    chooses that row's fault."""
    headers = dict(settings.extra_headers)
    if settings.provider == "sandbox" and headers.get("X-Sandbox-Scenario") == "healthy":
        del headers["X-Sandbox-Scenario"]
    return replace(
        settings, use_fallback=plan.use_fallback, burst=max(int(settings.burst), int(settings.max_concurrency)), extra_headers=headers
    )


def create_comparison(store: Any, plan: GridPlan, settings: dict[str, ClientSettings] | None = None) -> str:
    comparison_id = uuid.uuid4().hex[:16]
    summary = {"targets": {pid: s.describe() for pid, s in (settings or {}).items()}, "use_fallback": plan.use_fallback}
    store.insert_comparison(comparison_id, title=plan.title or plan.default_title(), axes=plan.axes(), settings=summary)
    return comparison_id


SettingsFor = Callable[[str], ClientSettings]


def _specs(comparison_id: str, cells: list[CellPlan], plan: GridPlan, settings_for: SettingsFor) -> list[Any]:
    from lib.jobs import JobSpec  # the engine's batch API

    cache: dict[str, ClientSettings] = {}
    specs = []
    for cell in cells:
        pid = cell.target.provider
        if pid not in cache:
            cache[pid] = cell_settings(settings_for(pid), plan)
        specs.append(
            JobSpec(
                settings=cache[pid],
                request=cell.request,
                kind="compare",
                comparison_id=comparison_id,
                cell=cell.cell(),
                label=f"{cell.target.label}: {cell.prompt[:100]}",
            )
        )
    return specs


def start(store: Any, runner: Any, plan: GridPlan, settings_for: SettingsFor) -> tuple[str, Any]:
    """Record the comparison and submit every cell as one batch. Returns (comparison id, Batch)."""
    settings = {t.provider: settings_for(t.provider) for t in plan.targets}
    comparison_id = create_comparison(store, plan, settings)
    batch = runner.submit_batch(_specs(comparison_id, plan.cells(), plan, lambda pid: settings[pid]))
    return comparison_id, batch


def load_plan(store: Any, comparison_id: str) -> GridPlan | None:
    row = comparison_row(store, comparison_id)
    if row is None:
        return None
    return GridPlan.from_axes(row["axes"], title=row["title"] or "", load=getattr(store, "input_bytes", None))  # media: files back


def retry_cells(store: Any, runner: Any, comparison_id: str, settings_for: SettingsFor, *, keys: Iterable[str] | None = None) -> Any | None:
    """Run again the cells that failed, were cancelled or interrupted (or exactly ``keys``); finished images stay.
    Returns the Batch, or None when nothing needed a retry."""
    plan = load_plan(store, comparison_id)
    if plan is None:
        return None
    state = cell_states(store, comparison_id)
    wanted = set(keys) if keys is not None else {k for k, c in state.items() if c.status in ("failed", "cancelled", "interrupted")}
    cells = [c for c in plan.cells() if c.key in wanted and (c.key not in state or state[c.key].status in TERMINAL)]
    if not cells:
        return None
    store.comparison_running(comparison_id)
    return runner.submit_batch(_specs(comparison_id, cells, plan, settings_for))


def rerun(store: Any, runner: Any, comparison_id: str, settings_for: SettingsFor) -> tuple[str, Any] | None:
    """The whole grid again, as a new comparison (the old one and its judging stay as they were)."""
    plan = load_plan(store, comparison_id)
    if plan is None:
        return None
    plan.title = (plan.title or plan.default_title()) + " (again)"
    return start(store, runner, plan, settings_for)


def cancel(store: Any, runner: Any, comparison_id: str, *, keys: Iterable[str] | None = None) -> int:
    """Cancel the unfinished cells (all, or ``keys``) that run in this process. Returns how many were asked to stop."""
    wanted = set(keys) if keys is not None else None
    n = 0
    for key, c in cell_states(store, comparison_id).items():
        if c.status in TERMINAL or (wanted is not None and key not in wanted):
            continue
        job = runner.get(c.run_id) if runner is not None else None
        if job is not None and not job.done:
            job.cancel()
            n += 1
    if wanted is None:
        store.comparison_cancelled(comparison_id)
    return n


# --------------------------------------------------------------------------
# Reading a comparison back


def comparison_row(store: Any, comparison_id: str) -> dict[str, Any] | None:
    return store.comparison(comparison_id)


@dataclass
class CellState:
    key: str
    row: int
    col: int
    variant: int | None
    target: str
    provider: str
    model: str  # requested
    run_id: str
    status: str  # queued | running | succeeded | failed | cancelled | interrupted
    created_at: float
    finished_at: float | None = None
    latency_ms: int | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    tries: int = 1  # runs of this cell (retries of the grid add one each)
    cost_usd: float | None = None  # every attempt of every try
    run_error_type: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def model_used(self) -> str:
        for a in reversed(self.attempts):
            if a.status == "succeeded":
                return a.model
        return self.attempts[-1].model if self.attempts else self.model

    @property
    def fell_back(self) -> bool:
        return self.ok and self.model_used != self.model

    @property
    def last_error(self) -> AttemptRecord | None:
        for a in reversed(self.attempts):
            if a.error_type:
                return a
        return None

    @property
    def error_type(self) -> str | None:
        if self.status in ("succeeded", "cancelled", "queued", "running"):
            return None
        err = self.last_error
        return err.error_type if err else (self.run_error_type or ("interrupted" if self.status == "interrupted" else None))

    @property
    def error_title(self) -> str:
        et = self.error_type
        if not et:
            return ""
        return ERROR_INFO[et].title if et in ERROR_INFO else et  # app_error has its own title now

    def error(self):
        """The error as an ImageLabError, for the full error card."""
        return run_error(self.error_type, self.attempts)


def _status_of(run_status: str | None) -> str:
    if run_status in (*TERMINAL, "queued", "running"):
        return run_status
    return "running"  # written before the engine's statuses existed, and not finished


def cell_states(store: Any, comparison_id: str) -> dict[str, CellState]:
    """The current state of each cell: its latest run (retries replace it), with attempts and images."""
    runs, rows = store.comparison_runs(comparison_id)
    if not runs:
        return {}
    attempts: dict[str, list[AttemptRecord]] = {}
    costs: dict[str, float] = {}
    for a in rows:
        run_id = a.pop("run_id")
        attempts.setdefault(run_id, []).append(AttemptRecord.from_row(a))
        if a["cost_usd"] is not None:
            costs[run_id] = costs.get(run_id, 0.0) + a["cost_usd"]
    out: dict[str, CellState] = {}
    tries: dict[str, int] = {}
    spent: dict[str, float | None] = {}
    for r in runs:
        try:
            cell = json.loads(r["cell"] or "{}")
        except ValueError:
            continue
        key = cell.get("key")
        if not key:
            continue
        tries[key] = tries.get(key, 0) + 1
        if r["id"] in costs:
            spent[key] = (spent.get(key) or 0.0) + costs[r["id"]]
        out[key] = CellState(
            key=key,
            row=int(cell.get("row", 0)),
            col=int(cell.get("col", 0)),
            variant=cell.get("variant"),
            target=cell.get("target", ""),
            provider=cell.get("provider", ""),
            model=cell.get("model", r["model"] or ""),
            run_id=r["id"],
            status=_status_of(r["status"]),
            created_at=r["created_at"] or 0.0,
            finished_at=r["finished_at"],
            latency_ms=r["latency_ms"],
            attempts=attempts.get(r["id"], []),
            run_error_type=r["error_type"],
        )
    images = store.images_for([a.id for c in out.values() for a in c.attempts if a.status == "succeeded"])
    for key, c in out.items():
        c.tries = tries[key]
        c.cost_usd = spent.get(key)
        c.images = [img for a in c.attempts for img in images.get(a.id, [])]
        if c.latency_ms is None and c.done and c.attempts:
            c.latency_ms = sum(a.latency_ms or 0 for a in c.attempts)
    return out


def status_counts(cells: Iterable[CellState]) -> dict[str, int]:
    out = {s: 0 for s in ("queued", "running", *TERMINAL)}
    for c in cells:
        out[c.status] = out.get(c.status, 0) + 1
    return out


def refresh_status(store: Any, comparison_id: str, cells: dict[str, CellState] | None = None) -> str | None:
    """Mark a comparison done (with its finish time) once every cell has ended; returns its status."""
    row = comparison_row(store, comparison_id)
    if row is None:
        return None
    cells = cell_states(store, comparison_id) if cells is None else cells
    if cells and all(c.done for c in cells.values()) and row["finished_at"] is None:
        finished = max((c.finished_at or 0.0) for c in cells.values()) or time.time()
        status = "cancelled" if row["status"] == "cancelled" else "done"
        store.comparison_finished(comparison_id, status, finished)
        return status
    return row["status"]


def list_comparisons(store: Any, limit: int = C.COMPARE_LIST_SIZE) -> list[dict[str, Any]]:
    """The newest comparisons: title, date, grid size, status counts of their cells."""
    rows = store.recent_comparisons(limit)
    out = []
    for row in rows:
        try:
            plan = GridPlan.from_axes(json.loads(row["axes"] or "{}"))
            shape, n_cells = plan.shape(), plan.n_cells
        except (ValueError, KeyError, TypeError):
            shape, n_cells = "?", 0
        counts = status_counts(cell_states(store, row["id"]).values())
        out.append(
            {
                "id": row["id"],
                "title": row["title"],
                "created_at": row["created_at"],
                "finished_at": row["finished_at"],
                "status": row["status"],
                "shape": shape,
                "cells": n_cells,
                "counts": counts,
            }
        )
    return out


# --------------------------------------------------------------------------
# Judging: a winner per row, thumbs and a note per cell


def ratings(store: Any, comparison_id: str) -> dict[str, dict[str, Any]]:
    return store.ratings(comparison_id)


def _ensure_rating(store: Any, comparison_id: str, key: str) -> None:
    m = re.fullmatch(r"r(\d+)c(\d+)(?:v(\d+))?", key)
    if not m:
        raise ValueError(f"not a cell key: {key!r}")
    store.ensure_rating(comparison_id, key, int(m.group(1)), int(m.group(3)) if m.group(3) else -1)


def set_thumb(store: Any, comparison_id: str, key: str, thumb: int | None) -> None:
    """+1 thumbs up, -1 thumbs down, None neither."""
    if thumb not in (None, 1, -1):
        raise ValueError("thumb is +1, -1 or None")
    _ensure_rating(store, comparison_id, key)
    store.set_rating(comparison_id, key, thumb=thumb)


def set_note(store: Any, comparison_id: str, key: str, note: str) -> None:
    _ensure_rating(store, comparison_id, key)
    store.set_rating(comparison_id, key, note=redact.scrub(note or "", limit=C.COMPARE_NOTE_MAX_CHARS).strip() or None)


def set_winner(store: Any, comparison_id: str, key: str, winner: bool = True) -> None:
    """The star of a row (within its variant): starring one cell unstars the others of that row."""
    _ensure_rating(store, comparison_id, key)
    store.set_winner(comparison_id, key, winner)


# --------------------------------------------------------------------------
# The whole comparison, summaries


@dataclass
class Column:
    col: int
    variant: int | None
    target: Target
    value: str | None

    @property
    def label(self) -> str:
        return self.target.label

    def sub_label(self, vary: VaryAxis | None) -> str:
        return vary.label(self.value) if vary and self.value is not None else ""


@dataclass
class ComparisonView:
    id: str
    title: str
    created_at: float
    finished_at: float | None
    status: str
    plan: GridPlan
    cells: dict[str, CellState]
    ratings: dict[str, dict[str, Any]]
    settings: dict[str, Any]

    @property
    def running(self) -> bool:
        return any(not c.done for c in self.cells.values())

    def columns(self, variant: int | None = None) -> list[Column]:
        """Columns of one variant's grid (or of the grid without a third axis)."""
        value = self.plan.vary.values[variant] if self.plan.vary and variant is not None else None
        return [Column(i, variant, t, value) for i, t in enumerate(self.plan.targets)]

    def all_columns(self) -> list[Column]:
        if not self.plan.vary:
            return self.columns(None)
        return [c for v in range(len(self.plan.vary.values)) for c in self.columns(v)]

    def cell(self, row: int, col: int, variant: int | None) -> CellState | None:
        return self.cells.get(cell_key(row, col, variant))

    def counts(self) -> dict[str, int]:
        out = status_counts(self.cells.values())
        out["planned"] = self.plan.n_cells
        return out

    def winners(self) -> dict[tuple[int, int], str]:
        """(row, variant or -1) -> the starred cell's key."""
        return {(r["row"], r["variant"]): key for key, r in self.ratings.items() if r.get("winner")}


def load(store: Any, comparison_id: str) -> ComparisonView | None:
    row = comparison_row(store, comparison_id)
    if row is None:
        return None
    cells = cell_states(store, comparison_id)
    status = refresh_status(store, comparison_id, cells) or row["status"]
    if status != row["status"] or row["finished_at"] is None:
        row = comparison_row(store, comparison_id) or row
    return ComparisonView(
        id=row["id"],
        title=row["title"] or "",
        created_at=row["created_at"] or 0.0,
        finished_at=row["finished_at"],
        status=status,
        plan=GridPlan.from_axes(row["axes"], title=row["title"] or ""),
        cells=cells,
        ratings=ratings(store, comparison_id),
        settings=row["settings"] or {},
    )


@dataclass
class ColumnSummary:
    label: str
    sub_label: str
    cells: int
    succeeded: int
    failed: int
    unfinished: int
    median_latency_ms: float | None
    cost_usd: float | None
    winners: int
    error_types: dict[str, int]

    def line(self) -> str:
        from lib.pricing import format_usd

        head = self.label + (f" ({self.sub_label})" if self.sub_label else "")
        latency = f"median {self.median_latency_ms / 1000:.1f} s" if self.median_latency_ms is not None else "no latency yet"
        return (
            f"{head}: {self.succeeded}/{self.cells} succeeded, {latency}, {format_usd(self.cost_usd)} estimated, "
            f"{self.winners} win{'s' if self.winners != 1 else ''}"
        )


def summary(view: ComparisonView) -> list[ColumnSummary]:
    """Per target (and value of the third axis): successes out of cells, median latency, total cost, winners."""
    winners = set(view.winners().values())
    out = []
    for column in view.all_columns():
        cells = [view.cell(r.index, column.col, column.variant) for r in view.plan.rows]
        present = [c for c in cells if c is not None]
        ok = [c for c in present if c.ok]
        latencies = [c.latency_ms for c in ok if c.latency_ms is not None]
        costs = [c.cost_usd for c in present if c.cost_usd is not None]
        errors: dict[str, int] = {}
        for c in present:
            if c.error_type:
                errors[c.error_type] = errors.get(c.error_type, 0) + 1
        out.append(
            ColumnSummary(
                label=column.label,
                sub_label=column.sub_label(view.plan.vary),
                cells=len(cells),
                succeeded=len(ok),
                failed=sum(1 for c in present if c.status in ("failed", "interrupted")),
                unfinished=sum(1 for c in cells if c is None or not c.done),
                median_latency_ms=statistics.median(latencies) if latencies else None,
                cost_usd=sum(costs) if costs else None,
                winners=sum(1 for c in present if c.key in winners),
                error_types=errors,
            )
        )
    return out


def live_note(job: Any) -> str:
    """What a cell still in the runner is doing: 'queued: 4 ahead on WisGate', 'running 12 s'."""
    if job is None:
        return ""
    status = getattr(job, "status", "running")
    provider = provider_name(job.spec.settings.provider) if getattr(job, "spec", None) is not None else ""
    ahead = getattr(job, "queue_position", None)
    if status == "queued" or ahead is not None:
        return f"queued: {int(ahead)} ahead on {provider}" if ahead else f"queued: next on {provider}"
    if status == "running":
        return f"running {job.elapsed_s:.0f} s"
    return status


# --------------------------------------------------------------------------
# Export: comparison.json, the ZIP, the contact sheet


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds") if ts else None


def _image_name(c: CellState, i: int, fmt: str) -> str:
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", c.model_used)
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}.get((fmt or "").upper(), (fmt or "bin").lower())
    return (
        f"images/row{c.row + 1:02d}-col{c.col + 1:02d}"
        + (f"-v{c.variant + 1}" if c.variant is not None else "")
        + f"-{model}-{i + 1}.{ext}"
    )


def export_dict(view: ComparisonView) -> dict[str, Any]:
    """comparison.json: axes, cells (models actually used, latency, cost, error types, judging), summary, winners."""
    plan = view.plan
    cells = []
    for cp in plan.cells():
        c = view.cells.get(cp.key)
        rating = view.ratings.get(cp.key, {})
        entry: dict[str, Any] = {
            "cell": cp.key,
            "row": cp.row + 1,
            "prompt": cp.prompt,
            "target": cp.target.label,
            "provider": cp.target.provider,
            "model_requested": cp.target.model,
            "variant": {"param": cp.param, "value": cp.value} if cp.param else None,
            "status": c.status if c else "not started",
            "ok": bool(c and c.ok),
            "model_used": c.model_used if c and c.attempts else None,
            "error_type": c.error_type if c else None,
            "error_title": c.error_title if c else "",
            "http_status": c.last_error.http_status if c and c.last_error and c.error_type else None,
            "error_message": redact.scrub(c.last_error.error_message or "", limit=500) if c and c.last_error and c.error_type else None,
            "latency_ms": c.latency_ms if c else None,
            "attempts": len(c.attempts) if c else 0,
            "tries": c.tries if c else 0,
            "cost_usd": round(c.cost_usd, 6) if c and c.cost_usd is not None else None,
            "images": [_image_name(c, i, img.get("format") or "") for i, img in enumerate(c.images)] if c else [],
            "winner": bool(rating.get("winner")),
            "thumb": rating.get("thumb"),
            "note": rating.get("note"),
        }
        cells.append(entry)
    winners = []
    for (row, variant), key in sorted(view.winners().items()):
        c = view.cells.get(key)
        winners.append(
            {
                "row": row + 1,
                "variant": plan.vary.values[variant] if plan.vary and variant >= 0 else None,
                "cell": key,
                "target": c.target if c else None,
            }
        )
    used = sorted({c.model_used for c in view.cells.values() if c.ok})
    data = {
        "format": FORMAT,
        "id": view.id,
        "title": view.title,
        "created_at": _iso(view.created_at),
        "finished_at": _iso(view.finished_at),
        "status": view.status,
        "shape": plan.shape(),
        "axes": {
            "rows": [r.prompt for r in plan.rows],
            "template": plan.template,
            "variables": plan.variables,
            "targets": [t.label for t in plan.targets],
            "vary": plan.vary.to_dict() if plan.vary else None,
        },
        "shared_params": plan.shared,
        "use_fallback": plan.use_fallback,
        "models_used": used,
        "settings": view.settings,
        "cells": cells,
        "summary": [s.__dict__ for s in summary(view)],
        "winners": winners,
    }
    return redact.scrub_obj(data)


def export_zip(store: Any, view: ComparisonView) -> bytes:
    """The full images, comparison.json and the contact sheet, in one ZIP."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for c in view.cells.values():
            for i, img in enumerate(c.images):
                try:
                    data = store.keeper.resolve(img["path"]).read_bytes()
                except (OSError, ValueError, TypeError):
                    log.warning("image %s of cell %s is missing from the data directory", img.get("path"), c.key)
                    continue
                zf.writestr(_image_name(c, i, img.get("format") or ""), data, compress_type=zipfile.ZIP_STORED)
        zf.writestr("comparison.json", json.dumps(export_dict(view), ensure_ascii=False, indent=2))
        zf.writestr("contact_sheet.png", contact_sheet_png(store, view))
    return buf.getvalue()


# -- the contact sheet ------------------------------------------------------------

CHIP_FILL = (253, 226, 226)
CHIP_EDGE = (200, 40, 40)
CHIP_TEXT = (140, 20, 20)
PENDING_FILL = (236, 238, 242)
CELL_FILL = (246, 247, 249)
GRID_BG = (255, 255, 255)
LABEL_TEXT = (30, 30, 35)
MUTED_TEXT = (110, 112, 120)
STAR_FILL = (245, 180, 20)


@dataclass
class SheetLayout:
    width: int
    height: int
    columns: list[tuple[str, tuple[int, int, int, int]]]  # (label, box) per column
    rows: list[tuple[str, tuple[int, int, int, int]]]  # (label, box) per row
    cells: dict[str, tuple[str, tuple[int, int, int, int]]]  # key -> (kind: image|error|pending|cancelled, box)
    texts: list[str] = field(default_factory=list)  # every text drawn, in order


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType
        return ImageFont.load_default()


def _wrap(draw, text: str, font, width: int, max_lines: int) -> list[str]:
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= width:
            current = trial
            continue
        if current:
            lines.append(current)
        current = word
        while draw.textlength(current, font=font) > width and len(current) > 1:  # one very long word
            cut = len(current) - 1
            while cut > 1 and draw.textlength(current[:cut], font=font) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "...", font=font) > width:
            last = last[:-1]
        lines[-1] = last + "..."
    return lines


def contact_sheet(store: Any, view: ComparisonView):
    """The grid as one Pillow image: column labels on top, row labels on the left, each cell's
    first image (fitted), an error chip (type and short title), or its state. Returns (image, layout)."""
    from PIL import Image, ImageDraw

    cell, pad, label_w, header_h = C.COMPARE_SHEET_CELL_PX, C.COMPARE_SHEET_PAD_PX, C.COMPARE_SHEET_LABEL_PX, C.COMPARE_SHEET_HEADER_PX
    columns = view.all_columns()
    rows = view.plan.rows
    width = label_w + pad + len(columns) * (cell + pad)
    height = header_h + pad + len(rows) * (cell + pad)
    sheet = Image.new("RGB", (width, height), GRID_BG)
    draw = ImageDraw.Draw(sheet)
    font = _font(C.COMPARE_SHEET_FONT_PX)
    small = _font(max(10, C.COMPARE_SHEET_FONT_PX - 3))
    line_h = int(C.COMPARE_SHEET_FONT_PX * 1.3)
    layout = SheetLayout(width, height, [], [], {})

    def text(xy, value: str, fnt=font, fill=LABEL_TEXT) -> None:
        value = redact.scrub(value)
        layout.texts.append(value)
        draw.text(xy, value, font=fnt, fill=fill)

    for line_no, line in enumerate(_wrap(draw, view.title or "Comparison", small, label_w - 2 * pad, 3)):
        text((pad, pad + line_no * line_h), line, small, MUTED_TEXT)
    for j, column in enumerate(columns):
        x = label_w + pad + j * (cell + pad)
        box = (x, 0, x + cell, header_h)
        layout.columns.append((column.label, box))
        lines = _wrap(draw, column.label, font, cell, 2)
        sub = column.sub_label(view.plan.vary)
        y = pad
        for line in lines:
            text((x, y), line)
            y += line_h
        if sub:
            text((x, y), sub, small, MUTED_TEXT)
    winners = set(view.winners().values())
    for i, row in enumerate(rows):
        y = header_h + pad + i * (cell + pad)
        layout.rows.append((row.prompt, (0, y, label_w, y + cell)))
        text((pad, y), f"Row {row.index + 1}", small, MUTED_TEXT)
        for k, line in enumerate(_wrap(draw, row.prompt, font, label_w - 2 * pad, (cell - line_h) // line_h)):
            text((pad, y + line_h + k * line_h), line)
        for j, column in enumerate(columns):
            x = label_w + pad + j * (cell + pad)
            box = (x, y, x + cell, y + cell)
            key = cell_key(row.index, column.col, column.variant)
            state = view.cells.get(key)
            kind = _draw_cell(store, sheet, draw, box, state, font, small, line_h, text)
            layout.cells[key] = (kind, box)
            if key in winners:
                _star(draw, (x + cell - 18, y + 18), 13)
    return sheet, layout


def _draw_cell(store, sheet, draw, box, state: CellState | None, font, small, line_h, text) -> str:
    from PIL import Image, ImageOps

    x0, y0, x1, y1 = box
    size = x1 - x0
    if state is not None and state.ok and state.images:
        try:
            with Image.open(store.keeper.resolve(state.images[0]["path"])) as img:
                thumb = ImageOps.contain(img.convert("RGB"), (size, size))
            draw.rectangle(box, fill=CELL_FILL)
            sheet.paste(thumb, (x0 + (size - thumb.width) // 2, y0 + (size - thumb.height) // 2))
            if len(state.images) > 1:
                badge = f"+{len(state.images) - 1}"
                draw.rectangle((x0 + 4, y1 - line_h - 6, x0 + 14 + draw.textlength(badge, font=small), y1 - 4), fill=(0, 0, 0))
                text((x0 + 9, y1 - line_h - 4), badge, small, (255, 255, 255))
            if state.fell_back:
                text((x0 + 4, y0 + 4), f"by {state.model_used}", small, (255, 255, 255))
            return "image"
        except (OSError, ValueError, TypeError):
            pass
    if state is not None and state.error_type:
        chip = (x0 + 10, y0 + size // 2 - 3 * line_h // 2 - 8, x1 - 10, y0 + size // 2 + 3 * line_h // 2 + 8)
        draw.rectangle(box, fill=CELL_FILL)
        draw.rounded_rectangle(chip, radius=10, fill=CHIP_FILL, outline=CHIP_EDGE, width=2)
        y = chip[1] + 6
        text((chip[0] + 8, y), state.error_type, font, CHIP_TEXT)
        for line in _wrap(draw, state.error_title, small, chip[2] - chip[0] - 16, 2):
            y += line_h
            text((chip[0] + 8, y), line, small, CHIP_TEXT)
        return "error"
    draw.rectangle(box, fill=PENDING_FILL)
    label = "not run" if state is None else ("no image" if state.ok else state.status)
    text((x0 + 10, y0 + size // 2 - line_h // 2), label, font, MUTED_TEXT)
    return "cancelled" if state is not None and state.status == "cancelled" else "pending"


def _star(draw, center: tuple[int, int], radius: int) -> None:
    import math

    cx, cy = center
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.45
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=STAR_FILL, outline=(120, 80, 0))


def contact_sheet_png(store: Any, view: ComparisonView) -> bytes:
    sheet, _ = contact_sheet(store, view)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
