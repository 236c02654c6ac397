"""``imagelab doctor``: the diagnostics checklist, one line per step, then the fixes;
``--json`` prints the report format, ``--junit FILE`` writes one test case per step.
``--report ID`` prints a saved report and ``--from FILE`` an exported one, without
probing. Exit codes: 0 no step at or above ``--fail-on`` (default ``fail``; ``warn``
counts warnings too), 1 one is, 2 bad arguments or a report that cannot be read.
Usable in CI."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from lib import constants as C
from lib.cli._common import add_dialect_argument, chosen_dialect, say, say_json, target
from lib.config import client_settings
from lib.providers import PRESETS
from lib.sandbox import SCENARIOS


def add_parser(sub: Any) -> None:
    d = sub.add_parser("doctor", help="run the diagnostics checklist: one line per step, then the fixes")
    d.add_argument("--provider", default="sandbox", choices=list(PRESETS))
    d.add_argument("--base-url", help="override the preset's base URL (sandbox: a running sandbox)")
    d.add_argument("--api-key", help="the key (default: the provider's environment variable)")
    d.add_argument("--model", default="gpt-image-2")
    add_dialect_argument(d)
    d.add_argument("--data-dir", help=f"the database to read history from and record probes to (default: ${C.DATA_DIR_ENV} or ./data)")
    d.add_argument("--timeout", type=float, default=C.DEFAULT_READ_TIMEOUT_S, help="the read timeout to judge (seconds)")
    d.add_argument("--no-probe", action="store_true", help="no requests at all: static checks and history only")
    d.add_argument("--spend", action="store_true", help="also generate one image at the lowest quality (costs money)")
    d.add_argument("--save", action="store_true", help="save the report; its id is printed (the app's /diagnostics?report=<id>)")
    d.add_argument("--hide-prompts", action="store_true", help="replace prompts with their length and a short hash")
    d.add_argument("--scenario", choices=list(SCENARIOS), help="sandbox only: the behaviour to rehearse")
    d.add_argument("--no-history", action="store_true", help="live checks only: recent attempts are not read")
    d.add_argument(
        "--fail-on",
        choices=["fail", "warn"],
        default="fail",
        help="exit 1 when a step is at this level or worse (default: fail; warn: a warning fails the run too)",
    )
    d.add_argument(
        "--junit",
        metavar="FILE",
        help="also write JUnit XML: one test case per step; fail is a failure, warn a failure with --fail-on warn "
        "(else skipped, 'warning: ...'), not checked is skipped",
    )
    d.add_argument("--link-base", metavar="URL", help="the app's address, for absolute /diagnostics?step=N links in Markdown and JUnit")
    source = d.add_mutually_exclusive_group()
    source.add_argument("--report", metavar="ID", help="print a saved report (from --data-dir) instead of running the checks")
    source.add_argument("--from", dest="from_file", metavar="FILE", help="print an exported report JSON (imagelab-report/1), no probing")
    out = d.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON (imagelab-report/1)")
    out.add_argument("--markdown", action="store_true", help="print the report as Markdown")


def run(args: argparse.Namespace) -> int:
    from lib import diagnostics as D
    from lib.config import configure_logging
    from lib.store import Store

    if args.scenario and args.provider != "sandbox":
        say("imagelab: --scenario applies to the sandbox provider only", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        say("imagelab: --timeout must be more than 0 seconds", file=sys.stderr)
        return 2
    link_base = (args.link_base or "").strip()
    if link_base and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", link_base):
        say("imagelab: --link-base must be an http(s) address such as https://imagelab.example.com", file=sys.stderr)
        return 2
    if args.report or args.from_file:
        try:
            report = _stored_report(args)
        except (ValueError, D.ReportError) as err:
            say(f"imagelab: {err}", file=sys.stderr)
            return 2
        return _print(args, report, link_base)
    cfg, key, base_url, headers, sandbox = target(args)
    try:
        dialect = chosen_dialect(args, cfg)
    except ValueError as err:
        if sandbox is not None:
            sandbox.stop()
        say(f"imagelab: {err}", file=sys.stderr)
        return 2
    try:
        store = Store(data_dir=args.data_dir)
        configure_logging(store.root)
        settings = client_settings(
            cfg,
            args.provider,
            base_url=base_url,
            key=key,
            typed_source="argument",
            read_timeout_s=args.timeout,
            extra_headers=headers,
            dialect=dialect,
        )

        def progress(message: str) -> None:
            if not (args.json or args.markdown):
                say(f"  {message}", file=sys.stderr)

        report = D.run_checks(
            settings,
            args.model,
            store=store,
            history=not args.no_history,
            probe=not args.no_probe,
            spend=args.spend,
            on_progress=progress,
        )
    finally:
        if sandbox is not None:
            sandbox.stop()
    if args.hide_prompts:
        report = D.hide_prompts(report)
    if args.save:
        report.report_id = D.save_report(store, report)
    return _print(args, report, link_base)


def _stored_report(args: argparse.Namespace) -> Any:
    from lib import diagnostics as D
    from lib.cli._common import read_file
    from lib.store import Store

    if args.from_file:
        imported = D.import_report(read_file(args.from_file, "--from"))
        for note in imported.notes:
            say(f"imagelab: {note}", file=sys.stderr)
        return imported.report
    report = D.load_report(Store(data_dir=args.data_dir), args.report)
    if report is None:
        raise ValueError(f"there is no saved report '{args.report}' in this data directory")
    return report


def _print(args: argparse.Namespace, report: Any, link_base: str) -> int:
    from lib import diagnostics as D

    if args.hide_prompts:
        report = D.hide_prompts(report)
    if args.junit:
        try:
            with open(args.junit, "w", encoding="utf-8") as fh:
                fh.write(D.report_to_junit(report, base_url=link_base, fail_on=args.fail_on))
        except OSError as err:
            say(f"imagelab: cannot write --junit {args.junit}: {err.strerror or err}", file=sys.stderr)
            return 2
    if args.json:
        say_json(D.report_to_json(report))
    elif args.markdown:
        say(D.report_to_markdown(report, base_url=link_base))
    else:
        width = max(len(s.title) for s in report.steps)
        for step in report.steps:
            say(f"{step.step} {step.title:<{width}}  {D.STATUS_LABELS[step.status].upper():<11}  {step.verdict}")
        fixes = [s for s in report.steps if s.status in ("fail", "warn")]
        if fixes:
            say("\nWhat to fix:")
            for step in fixes:
                say(f"  {step.step} {step.title}: {step.fix}")
        counts = report.counts
        say(f"\n{counts['fail']} fail, {counts['warn']} warning, {counts['pass']} pass, {counts['not_checked']} not checked.")
        if report.report_id:
            say(f"Saved as report {report.report_id}: open /diagnostics?report={report.report_id} in the app.")
    failing = ("fail", "warn") if args.fail_on == "warn" else ("fail",)
    return 1 if report.status in failing else 0
