"""``imagelab compare``: a grid of prompts x targets from the command line.

Records to the same database as the app (the grid opens at ``/compare?comparison=<id>``).
With ``--json`` it prints one object:
``{"comparison_id", "wall_s", "cells": [{"row", "target", "ok", "error_type", "model", "latency_ms", "cost_usd", "images"}]}``,
plus ``"budget"`` (the cells not started and why) when the operator's daily budget stopped it starting cells;
such a cell has ``"status": "cancelled"`` and ``"not_started"``, the reason.
Exit codes: 0 every cell succeeded, 1 any cell failed, was stopped or was not started (the daily budget), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lib import budget as B
from lib import compare as K
from lib import constants as C
from lib.cli._common import add_dialect_argument, add_moderate_flag, chosen_dialect, say, say_json
from lib.config import Config, client_settings
from lib.generation import ClientSettings
from lib.providers import BACKGROUNDS, MODERATIONS, OUTPUT_FORMATS, PRESETS, QUALITIES


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="run a grid of prompts x targets at once, recording every cell",
        description="Rows: --prompt (repeatable) or --template with --var. Columns: --target PROVIDER:MODEL (repeatable).",
    )
    rows = p.add_mutually_exclusive_group()
    rows.add_argument("--prompt", action=_RowAction, help="a row of the grid (repeatable)")
    rows.add_argument("--template", help="a prompt with {variables}, e.g. 'a {animal} in {style} style'")
    p.add_argument(
        "--prompt-from",
        action=_RowAction,
        metavar="NAME[@VERSION]",
        help="a row from the prompt library: a saved prompt's latest version, or the version named (repeatable; "
        "rows keep the order given with --prompt)",
    )
    p.add_argument("--var", action="append", default=[], metavar="NAME=V1,V2", help="values of a template variable (repeatable)")
    p.add_argument("--target", action="append", default=[], metavar="PROVIDER:MODEL", help="a column of the grid (repeatable)")
    p.add_argument("--provider", help="shorthand: with --model, adds the targets PROVIDER:MODEL")
    p.add_argument("--model", action="append", default=[], help="shorthand: a model at --provider (repeatable)")
    p.add_argument("--vary", metavar="PARAM=V1,V2", help=f"an optional third axis: one of {', '.join(K.VARY_PARAMS)} with several values")
    p.add_argument("--size", default="auto")
    p.add_argument("--quality", default="auto", choices=QUALITIES)
    p.add_argument("--output-format", default="png", choices=OUTPUT_FORMATS)
    p.add_argument("--background", default="auto", choices=BACKGROUNDS)
    p.add_argument("--moderation", default="auto", choices=MODERATIONS)
    add_moderate_flag(p)
    p.add_argument("--n", type=int, default=C.COMPARE_DEFAULT_N, help="images per cell")
    p.add_argument("--fallback", action="store_true", help="let a cell fall back to another model (off by default)")
    p.add_argument("--max-concurrency", type=int, default=C.DEFAULT_MAX_CONCURRENCY, metavar="N", help="parallel requests per provider")
    p.add_argument("--rate", type=float, default=C.DEFAULT_RATE_PER_S, metavar="R", help="requests per second per provider")
    p.add_argument("--base-url", help="for custom targets, or a running sandbox")
    add_dialect_argument(p)
    p.add_argument("--data-dir", help=f"where the database and images live (default: ${C.DATA_DIR_ENV} or ./data)")
    p.add_argument("--timeout", type=float, default=C.DEFAULT_READ_TIMEOUT_S, help="read timeout in seconds")
    p.add_argument("--max-retries", type=int, default=C.DEFAULT_MAX_RETRIES)
    p.add_argument("--title")
    p.add_argument("--contact-sheet", metavar="OUT.png", help="write the grid as one PNG")
    p.add_argument("--zip", metavar="OUT.zip", help="write the images and comparison.json as one ZIP")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_check_arguments(p)


class _RowAction(argparse.Action):
    """--prompt and --prompt-from: each value is also a row in ``rows``, in the order typed."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
        namespace.rows = [*(getattr(namespace, "rows", None) or []), (self.dest, values)]


def _rows(args: argparse.Namespace, store: Any) -> list[str]:
    """The prompts of the grid's rows: typed ones as they are, library ones read from ``store``."""
    from lib import library as L

    out = []
    for kind, value in getattr(args, "rows", None) or []:
        if kind == "prompt":
            out.append(value)
            continue
        try:
            out.append(L.row_from_ref(store, value))
        except L.LibraryError as err:
            raise K.CompareInputError(f"--prompt-from {value}: {err}") from None
    return out


def _plan(args: argparse.Namespace, store: Any = None) -> K.GridPlan:
    targets = [K.parse_target(t) for t in args.target]
    if args.model and not args.provider:
        raise K.CompareInputError("--model needs --provider (or write --target PROVIDER:MODEL).")
    if args.provider:
        if args.provider not in PRESETS:
            raise K.CompareInputError(f"--provider {args.provider} is not known; choose one of {', '.join(PRESETS)}.")
        targets += [K.Target(args.provider, m) for m in (args.model or [PRESETS[args.provider].default_model])]
    vary = None
    if args.vary:
        param, values = K.parse_var(args.vary)
        vary = K.make_vary(param, values)
    shared = {
        "size": args.size,
        "quality": args.quality,
        "output_format": args.output_format,
        "background": args.background,
        "moderation": args.moderation,
        "n": args.n,
    }
    if args.template is not None:
        if args.prompt_from:
            raise K.CompareInputError("--prompt-from adds rows of prompts; a --template makes its own rows: use one or the other.")
        return K.build_plan(
            template=args.template,
            variables=K.parse_vars(args.var),
            targets=targets,
            vary=vary,
            shared=shared,
            use_fallback=args.fallback,
            title=args.title or "",
        )
    if not getattr(args, "rows", None):
        raise K.CompareInputError("Give the grid its rows: --prompt TEXT, --prompt-from NAME[@VERSION] (repeatable) or --template.")
    if args.var:
        raise K.CompareInputError("--var gives values to a --template; with --prompt there is nothing to fill in.")
    return K.build_plan(
        prompts=_rows(args, store), targets=targets, vary=vary, shared=shared, use_fallback=args.fallback, title=args.title or ""
    )


def run(args: argparse.Namespace) -> int:
    from lib.config import configure_logging
    from lib.jobs import JobRunner
    from lib.store import DamagedDatabase, Store

    store = None
    if args.prompt_from:  # library rows are read from the database the grid is recorded in
        try:
            store = Store(data_dir=args.data_dir)
        except DamagedDatabase as err:
            say(f"imagelab compare: {err.message}", file=sys.stderr)
            return 2
    try:
        plan = _plan(args, store)
        if args.max_concurrency < 1 or args.rate <= 0:
            raise K.CompareInputError("--max-concurrency must be at least 1 and --rate above 0.")
        specs = _check_specs(args)
    except K.CompareInputError as err:
        say(f"imagelab compare: {err}", file=sys.stderr)
        return 2
    if not args.json:
        for problem in plan.problems():  # the cells will be refused before sending; the grid still runs
            say(f"warning: {problem}", file=sys.stderr)
    providers = list(dict.fromkeys(t.provider for t in plan.targets))
    if args.base_url and not {"sandbox", "custom"} & set(providers):
        say("imagelab compare: --base-url is for custom targets or a running sandbox; no target uses either.", file=sys.stderr)
        return 2
    if args.dialect and "custom" not in providers:
        say("imagelab compare: --dialect is for custom targets; no target uses one.", file=sys.stderr)
        return 2
    if "custom" in providers and not args.base_url:
        say("imagelab compare: custom targets need --base-url (the gateway's address).", file=sys.stderr)
        return 2

    try:
        store = store or Store(data_dir=args.data_dir)
    except DamagedDatabase as err:
        say(f"imagelab compare: {err.message}", file=sys.stderr)
        return 2
    configure_logging(store.root)
    cfg = Config.load()
    sandbox = None
    settings: dict[str, ClientSettings] = {}
    for pid in providers:
        preset = PRESETS[pid]
        base_url = args.base_url if pid in ("sandbox", "custom") else None
        if pid == "sandbox" and base_url is None:
            if sandbox is None:
                from lib.sandbox import SandboxConfig, SandboxServer

                sandbox = SandboxServer(SandboxConfig(latency_s=C.CLI_SANDBOX_LATENCY_S)).start()
            base_url = sandbox.base_url
        resolved = cfg.key_for(pid, base_url=base_url)
        if preset.needs_key and not resolved.key:
            say(f"imagelab compare: {K.provider_name(pid)} has no key: set ${preset.key_env}.", file=sys.stderr)
            if sandbox is not None:
                sandbox.stop()
            return 2
        settings[pid] = client_settings(
            cfg,
            pid,
            base_url=base_url,
            key=resolved,
            read_timeout_s=args.timeout,
            max_retries=args.max_retries,
            rate_per_s=args.rate,
            max_concurrency=args.max_concurrency,
            moderate=args.moderate,
            dialect=chosen_dialect(args, cfg, pid) if pid == "custom" else None,
        )

    workers = max(1, min(plan.n_cells, args.max_concurrency * len(providers)))
    runner = JobRunner(recorder=store, keeper=store.keeper, max_workers=workers, reserved_workers=0)  # one owner: every worker
    started = time.monotonic()
    comparison_id = ""
    # SIGTERM stops the grid like Ctrl-C, but its cells end 'interrupted' (the process is stopping),
    # never left 'running'. The app may also stop cells through the database (a cancel request the
    # runner reads between steps): those end 'cancelled'.
    previous = signal.getsignal(signal.SIGTERM)
    on_main = threading.current_thread() is threading.main_thread()
    terminated = threading.Event()
    if on_main:
        signal.signal(signal.SIGTERM, lambda signum, frame: terminated.set())
    try:
        for problem in cfg.budget.problems:
            say(f"warning: budget setting ignored: {problem}", file=sys.stderr)
        # the operator's daily budgets ([budget] in secrets.toml, the environment): cells over them are not started
        comparison_id, batch = K.start(store, runner, plan, lambda pid: settings[pid], limits=lambda pid: B.limit_for(pid, cfg.budget))
        if not args.json:
            say(f"Comparison {comparison_id}: {plan.shape()}", file=sys.stderr)
        pending = list(batch.jobs)
        finished = 0
        try:
            while pending and not terminated.is_set():
                pending[0].wait(0.2)
                still = []
                for job in pending:
                    if job.done:
                        finished += 1
                        if not args.json:
                            cell = job.spec.cell or {}
                            out = job.outcome
                            what = (
                                f"ok, {out.model} in {out.latency_ms / 1000:.1f} s"
                                if out and out.ok
                                else job.status
                                if out is None or out.error is None
                                else f"{out.error.error_type}: {out.error.info.title}"
                            )
                            say(
                                f"  [{finished}/{len(batch.jobs)}] row {cell.get('row', 0) + 1} · {cell.get('target')}"
                                + (f" · {cell.get('param')} {cell.get('value')}" if cell.get("param") else "")
                                + f": {what}",
                                file=sys.stderr,
                                newlines=False,
                            )
                    else:
                        still.append(job)
                pending = still
        except KeyboardInterrupt:
            say("Stopping the grid...", file=sys.stderr)
            batch.cancel()
            batch.wait(C.DEFAULT_CONNECT_TIMEOUT_S)
        if terminated.is_set():
            say("Stopped by SIGTERM: the unfinished cells are marked interrupted.", file=sys.stderr)
            runner.shutdown(C.DEFAULT_CONNECT_TIMEOUT_S)
        wall_s = time.monotonic() - started
        view = K.load(store, comparison_id)
        assert view is not None
        checked = _run_checks(args, store, plan, view, specs, settings) if specs is not None else None
        if args.contact_sheet:
            Path(args.contact_sheet).write_bytes(K.contact_sheet_png(store, view))
        if args.zip:
            Path(args.zip).write_bytes(K.export_zip(store, view))
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)
        runner.shutdown(C.DEFAULT_CONNECT_TIMEOUT_S)
        if sandbox is not None:
            sandbox.stop()

    cells = []
    for cp in plan.cells():
        c = view.cells.get(cp.key)
        entry: dict[str, Any] = {
            "row": cp.row + 1,
            "target": cp.target.label,
            "ok": bool(c and c.ok),
            "error_type": c.error_type if c else None,
            "model": c.model_used if c else cp.target.model,
            "latency_ms": c.latency_ms if c else None,
            "cost_usd": round(c.cost_usd, 6) if c and c.cost_usd is not None else None,
            "images": [str(store.keeper.resolve(img["path"])) for img in c.images] if c else [],
        }
        if cp.param:
            entry["variant"] = {cp.param: cp.value}
        if c is not None and not c.ok and not c.error_type:
            entry["status"] = c.status  # cancelled or interrupted: not a provider error
            reason = B.skipped_reason(view.settings, cp.key, cp.target.provider)
            if reason:
                entry["not_started"] = reason  # the daily budget was reached before this cell
        if checked is not None:
            entry["checks"] = checked[cp.key].as_dicts()
            entry["checks_passed"] = checked[cp.key].passed
        cells.append(entry)
    all_ok = all(cell["ok"] for cell in cells)
    verdict = _gate(args, checked) if checked is not None else None
    note = view.settings.get("budget") or {}
    if note and not args.json:
        say(f"{len(note.get('skipped') or [])} cell(s) not started: the daily budget was reached.", file=sys.stderr)
        for reason in (note.get("reasons") or {}).values():
            say(f"  {reason}", file=sys.stderr)
    if args.json:
        gate = (
            {"gate": {"pass_rate": round(verdict.pass_rate, 4), "fail_under": verdict.fail_under, "passed": verdict.passed}}
            if verdict
            else {}
        )
        say_json({"comparison_id": comparison_id, "wall_s": round(wall_s, 3), "cells": cells, **({"budget": note} if note else {}), **gate})
    else:
        for s in K.summary(view):
            say(s.line(), newlines=False)
        say(
            f"{sum(c['ok'] for c in cells)}/{len(cells)} cells succeeded in {wall_s:.1f} s. In the app: /compare?comparison={comparison_id}"
        )
        if args.contact_sheet:
            say(f"Contact sheet: {args.contact_sheet}")
        if args.zip:
            say(f"ZIP: {args.zip}")
        if verdict is not None:
            _say_gate(verdict)
    if verdict is not None:
        return 0 if verdict.passed else 1
    return 0 if all_ok else 1


# --------------------------------------------------------------------------
# Checks and the CI gate: --check size --check text --check similar=ref.png --judge RUBRIC --fail-under 0.9


def _add_check_arguments(p: Any) -> None:
    from lib.checks.judge import DEFAULT_JUDGE_MODEL

    p.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="check every image: size | text[=THRESHOLD] | similar=REF.png[@THRESHOLD] (repeatable)",
    )
    p.add_argument("--judge", metavar="RUBRIC", help="also ask a vision model whether each image meets RUBRIC (billed; priced first)")
    p.add_argument("--judge-model", default=DEFAULT_JUDGE_MODEL, help=f"the judge's model (default {DEFAULT_JUDGE_MODEL})")
    p.add_argument(
        "--fail-under", type=float, metavar="RATE", help="exit 1 when fewer than RATE (0-1) of the cells pass every check (default 1)"
    )
    p.add_argument("--junit", metavar="FILE", help="write the checks as a JUnit XML report")


def _check_specs(args: argparse.Namespace) -> list | None:
    """The checks asked for (None: none), or CompareInputError for one that cannot be used."""
    from lib.checks import CheckSpec, SpecError, parse_spec

    if not args.check and not args.judge:
        if args.fail_under is not None or args.junit:
            raise K.CompareInputError("--fail-under and --junit judge checks: add --check (size, text, similar=REF.png) or --judge.")
        return None
    if args.fail_under is not None and not 0.0 <= args.fail_under <= 1.0:
        raise K.CompareInputError(f"--fail-under {args.fail_under:g} is outside 0 to 1.")
    try:
        specs = [parse_spec(raw) for raw in args.check]
    except SpecError as err:
        raise K.CompareInputError(f"--check {err}") from None
    if args.judge:
        specs.append(CheckSpec("judge", rubric=args.judge))
    return specs


def _run_checks(args, store, plan, view, specs, settings) -> dict:
    from lib.checks.gate import check_grid

    pairs = [(cp, view.cells.get(cp.key)) for cp in plan.cells()]
    judges = {}

    def judge_for(provider: str):
        from lib.checks.judge import judge_caller
        from lib.client import ImageClient

        client = judges.setdefault(provider, ImageClient(settings=settings[provider]))
        return judge_caller(client, store, rubric=args.judge, model=args.judge_model)

    if args.judge:
        from lib.checks.judge import estimate_total

        images = [img for _cp, c in pairs if c is not None and c.ok for img in c.images]
        total = estimate_total(
            args.judge, [(img.get("width") or 1024, img.get("height") or 1024) for img in images], model=args.judge_model
        )
        say(f"Judge: {len(images)} image(s) with {args.judge_model}, about ${total:.4f} in all (an estimate).", file=sys.stderr)
    out = {}
    for cp, state in pairs:
        judge = judge_for(cp.target.provider) if args.judge else None
        [cell] = check_grid(store, [(cp, state)], [s for s in specs if s.name != "judge"], judge=judge)
        out[cp.key] = cell
    return out


def _gate(args, checked: dict):
    from lib.checks.gate import gate, junit_xml

    cells = list(checked.values())
    if args.junit:
        Path(args.junit).write_text(junit_xml(cells), encoding="utf-8")
    return gate(cells, 1.0 if args.fail_under is None else args.fail_under)


def _say_gate(verdict) -> None:
    say(verdict.line())
    for cell in verdict.failing:
        for reason in cell.failures():
            say(f"  FAIL {cell.label}: {reason}", newlines=False)
