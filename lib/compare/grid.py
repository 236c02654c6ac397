"""The grid: rows (prompts, or every combination of a template's values), columns (targets:
a model at a provider), an optional third axis, and the plan of cells they make."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lib import constants as C
from lib.generation import GenerationRequest
from lib.providers import BACKGROUNDS, MODERATIONS, OUTPUT_FORMATS, PRESETS, QUALITIES, check_size, parse_size, provider_name

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

    def values_label(self) -> str:
        """The template values that made this row ('animal: fox · style: ink'); '' for a typed prompt."""
        return " · ".join(f"{name}: {value}" for name, value in self.vars.items())


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
    from lib.preflight import parse_number

    n, problem = parse_number("n", out["n"])
    if problem:
        raise CompareInputError(problem.replace("Images", "Images per cell", 1))
    out["n"] = n
    return out


# --------------------------------------------------------------------------
# The plan: rows x targets x variants -> cells


def cell_key(row: int, col: int, variant: int | None, repeat: int = 0) -> str:
    """'r0c1', 'r0c1v2'; a cell's further samples add 's1', 's2' (the first sample is the cell's own key)."""
    return f"r{row}c{col}" + (f"v{variant}" if variant is not None else "") + (f"s{repeat}" if repeat else "")


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
    repeat: int = 0  # which sample of the cell (0 for the first)

    @property
    def key(self) -> str:
        return cell_key(self.row, self.col, self.variant, self.repeat)

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
            "repeat": self.repeat,
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
    repeats: int = 1  # samples per cell, each one run
    checks: list[dict[str, Any]] = field(default_factory=list)  # lib.checks.CheckSpec.to_dict() of each check every cell gets

    @property
    def n_variants(self) -> int:
        return len(self.vary.values) if self.vary else 1

    @property
    def n_cells(self) -> int:
        return len(self.rows) * len(self.targets) * self.n_variants * self.repeats

    def shape(self) -> str:
        """'3 rows x 2 targets x 2 qualities = 12 cells'."""
        parts = [
            f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''}",
            f"{len(self.targets)} target{'s' if len(self.targets) != 1 else ''}",
        ]
        if self.vary:
            parts.append(f"{len(self.vary.values)} {VARY_LABELS[self.vary.param].lower()} values")
        if self.repeats > 1:
            parts.append(f"{self.repeats} samples")
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
                    request = self.request_for(row, target, value)
                    for repeat in range(self.repeats):
                        out.append(
                            CellPlan(
                                row.index,
                                col,
                                variant,
                                row.prompt,
                                target,
                                self.vary.param if self.vary else None,
                                value,
                                request,
                                repeat,
                            )
                        )
        return out

    def problems(self) -> list[str]:
        """What would make cells fail before sending, in plain words (the grid can still run)."""
        out = []
        sizes = list(self.vary.values) if self.vary and self.vary.param == "size" else [self.shared["size"]]
        for target in self.targets:
            for size in sizes:
                problem = check_size(size, target.model, target.provider)
                if problem:
                    out.append(f"{target.label}: {problem}")
        backgrounds = list(self.vary.values) if self.vary and self.vary.param == "background" else [self.shared["background"]]
        formats = list(self.vary.values) if self.vary and self.vary.param == "output_format" else [self.shared["output_format"]]
        if "transparent" in backgrounds and "jpeg" in formats:
            out.append("A transparent background needs png or webp; jpeg cells will be refused.")
        # Media: what each target's model takes (lib/providers.py capabilities)
        from lib.providers import capabilities

        for target in self.targets:
            cap = capabilities(target.model, target.provider)
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
        if not 1 <= self.repeats <= C.COMPARE_MAX_REPEATS:
            raise CompareInputError(f"Samples per cell must be from 1 to {C.COMPARE_MAX_REPEATS}; {self.repeats} is out of range.")
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
            "repeats": self.repeats,
            **({"checks": self.checks} if self.checks else {}),
        }

    def check_specs(self, read_file: Callable[[str], bytes] | None = None) -> list[Any]:
        """The checks every cell gets, as lib.checks specs (``read_file`` gives back a kept reference)."""
        from lib.checks import spec_from_dict

        return [s for s in (spec_from_dict(e, read_file=read_file) for e in self.checks) if s is not None]

    def builder_values(self) -> dict[str, Any]:
        """The plan as the Compare builder's inputs, so 'Edit and re-run' opens it filled in:
        rows (the template and its values, or one prompt per line), targets as labels, the third
        axis, the shared parameters, fallback and title. Reference images are not carried."""
        values: dict[str, Any] = {
            "rows_mode": "Template" if self.template else "One prompt per line",
            "template": self.template or "",
            "vars": "\n".join(f"{name} = {', '.join(vals)}" for name, vals in (self.variables or {}).items()),
            "prompts": "" if self.template else "\n".join(r.prompt for r in self.rows),
            "targets": [t.label for t in self.targets],
            "vary": self.vary.param if self.vary else None,
            "vary_values": list(self.vary.values) if self.vary else [],
            "fallback": self.use_fallback,
            "title": self.title,
            "repeats": self.repeats,
        }
        values.update({name: self.shared.get(name, default) for name, default in SHARED_DEFAULTS.items()})
        return values

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
            repeats=_repeats(axes.get("repeats")),
            checks=[e for e in (axes.get("checks") or []) if isinstance(e, dict)],
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
    repeats: Any = 1,
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
        repeats=_repeats(repeats, strict=True),
    )
    return plan.check()


def _repeats(value: Any, *, strict: bool = False) -> int:
    """Samples per cell as a whole number; a stored plan without one (or a bad one) has 1."""
    try:
        number = float(value if value is not None else 1)
    except (TypeError, ValueError):
        number = float("nan")
    if number != number or number != int(number):
        if strict:
            raise CompareInputError(f"Samples per cell must be a whole number, from 1 to {C.COMPARE_MAX_REPEATS}.")
        return 1
    return int(number) if strict else max(1, min(int(number), C.COMPARE_MAX_REPEATS))
