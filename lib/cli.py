"""The command line: ``imagelab generate``, ``imagelab doctor``, ``imagelab compare`` and ``imagelab sandbox``.

``imagelab generate`` records to the same database as the app. With ``--json``
it prints one JSON object. Exit codes: 0 success, 1 the generation failed,
2 bad arguments (including input the pre-flight checks refuse).

``imagelab doctor`` runs the diagnostics checklist (lib/diagnostics.py): one
line per step, then the fixes; ``--json`` prints the report format. Exit
codes: 0 no step fails, 1 a step fails, 2 bad arguments. Usable in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from lib import constants as C
from lib import redact
from lib.config import Config, client_settings
from lib.errors import describe
from lib.generation import CancelToken, GenerationRequest
from lib.jobs import run_generation
from lib.providers import BACKGROUNDS, MODERATIONS, OUTPUT_FORMATS, PRESETS, QUALITIES, ResolvedKey
from lib.sandbox import DIALECTS, SCENARIOS


def _say(text: Any, file: Any = None) -> None:
    """Print a line with every secret masked (providers echo keys into what we print)."""
    print(redact.scrub(str(text)), file=file if file is not None else sys.stdout)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with a short, clear message
        self.print_usage(sys.stderr)
        self.exit(2, f"imagelab: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imagelab", description="Image Prompt Lab from the command line.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("generate", help="generate images from a prompt, recording every attempt")
    g.add_argument("--prompt", required=True)
    g.add_argument("--provider", default="sandbox", choices=list(PRESETS))
    g.add_argument("--base-url", help="override the preset's base URL (sandbox: a running sandbox)")
    g.add_argument("--api-key", help="the key (default: the provider's environment variable)")
    g.add_argument("--model", default="gpt-image-2")
    g.add_argument("--size", default="auto")
    g.add_argument("--n", type=int, default=1)
    g.add_argument("--quality", default="auto", choices=QUALITIES)
    g.add_argument("--background", default="auto", choices=BACKGROUNDS)
    g.add_argument("--output-format", default="png", choices=OUTPUT_FORMATS)
    g.add_argument("--moderation", default="auto", choices=MODERATIONS)
    g.add_argument("--data-dir", help=f"where the database and images live (default: ${C.DATA_DIR_ENV} or ./data)")
    g.add_argument("--timeout", type=float, default=C.DEFAULT_READ_TIMEOUT_S, help="read timeout in seconds")
    g.add_argument(
        "--task-deadline",
        type=float,
        default=C.DEFAULT_TASK_DEADLINE_S,
        metavar="SECONDS",
        help="async gateways: a task not finished by then ends as a timeout",
    )
    g.add_argument(
        "--run-deadline",
        type=float,
        default=C.DEFAULT_RUN_DEADLINE_S,
        metavar="SECONDS",
        help="the whole generation (retries and fallbacks included) stops by then",
    )
    g.add_argument("--max-retries", type=int, default=C.DEFAULT_MAX_RETRIES)
    g.add_argument("--no-fallback", action="store_true", help="do not try the fallback chain")
    g.add_argument("--scenario", choices=list(SCENARIOS), help="sandbox only: the behaviour to rehearse")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument(
        "--allow-private-images",
        action="store_true",
        help=f"fetch result URLs on private/loopback addresses too (a self-hosted image store; also ${C.ALLOW_PRIVATE_IMAGES_VAR}=1)",
    )

    # Media: streaming partial images, edits with reference images
    g.add_argument("--stream", action="store_true", help="stream partial images while the image forms (stream: true)")
    g.add_argument(
        "--partial-images",
        type=int,
        default=2,
        choices=range(0, C.MAX_PARTIAL_IMAGES + 1),
        metavar="0-3",
        help="how many partial images to ask for with --stream (default 2)",
    )
    g.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE",
        help=f"a reference image (png, webp or jpg); repeat for up to {C.MAX_REFERENCE_IMAGES}: the request becomes an edit",
    )
    g.add_argument("--mask", metavar="FILE", help="a PNG mask with transparency, the size of the first --image")
    g.add_argument("--input-fidelity", choices=("low", "high"), help="edits: how closely to keep the reference images' features")

    d = sub.add_parser("doctor", help="run the diagnostics checklist: one line per step, then the fixes")
    d.add_argument("--provider", default="sandbox", choices=list(PRESETS))
    d.add_argument("--base-url", help="override the preset's base URL (sandbox: a running sandbox)")
    d.add_argument("--api-key", help="the key (default: the provider's environment variable)")
    d.add_argument("--model", default="gpt-image-2")
    d.add_argument("--data-dir", help=f"the database to read history from and record probes to (default: ${C.DATA_DIR_ENV} or ./data)")
    d.add_argument("--timeout", type=float, default=C.DEFAULT_READ_TIMEOUT_S, help="the read timeout to judge (seconds)")
    d.add_argument("--no-probe", action="store_true", help="no requests at all: static checks and history only")
    d.add_argument("--spend", action="store_true", help="also generate one image at the lowest quality (costs money)")
    d.add_argument("--save", action="store_true", help="save the report; its id is printed (the app's /diagnostics?report=<id>)")
    d.add_argument("--hide-prompts", action="store_true", help="replace prompts with their length and a short hash")
    d.add_argument("--scenario", choices=list(SCENARIOS), help="sandbox only: the behaviour to rehearse")
    out = d.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON (imagelab-report/1)")
    out.add_argument("--markdown", action="store_true", help="print the report as Markdown")

    from lib.compare_cli import add_parser as add_compare_parser  # Compare

    add_compare_parser(sub)

    s = sub.add_parser("sandbox", help="run the local sandbox image API in the foreground")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--scenario", default="healthy", choices=list(SCENARIOS))
    s.add_argument("--dialect", default="b64", choices=list(DIALECTS))
    s.add_argument("--latency", type=float, default=None, metavar="SECONDS")
    return parser


def _read_file(path: str, flag: str) -> bytes:
    """The bytes of a file named on the command line, capped; ValueError with a clear message."""
    try:
        size = os.path.getsize(path)
        if size > C.MAX_REFERENCE_IMAGE_BYTES:
            raise ValueError(f"{flag} {path} is {size / 1048576:.1f} MB; the limit is {C.MAX_REFERENCE_IMAGE_BYTES // 1048576} MB")
        with open(path, "rb") as fh:
            return fh.read(C.MAX_REFERENCE_IMAGE_BYTES + 1)
    except OSError as err:
        raise ValueError(f"cannot read {flag} {path}: {err.strerror or err}") from None


def _target(args: argparse.Namespace) -> tuple[Config, ResolvedKey, str | None, dict[str, str], Any]:
    """Where a command sends and with which key: (config, key, base_url, headers, sandbox).

    A key from the environment or secrets.toml is bound to the preset's host;
    --api-key goes where --base-url says. The sandbox provider without
    --base-url starts its own sandbox for the one command (the caller stops it)."""
    cfg = Config.load()
    resolved = cfg.key_for(args.provider, base_url=args.base_url, typed=args.api_key or "")
    sandbox = None
    base_url = args.base_url
    headers: dict[str, str] = {}
    if args.provider == "sandbox":
        if base_url is None:
            from lib.sandbox import SandboxConfig, SandboxServer

            sandbox = SandboxServer(SandboxConfig(latency_s=C.CLI_SANDBOX_LATENCY_S)).start()
            base_url = sandbox.base_url
        if args.scenario:
            headers["X-Sandbox-Scenario"] = args.scenario
    return cfg, resolved, base_url, headers, sandbox


def _generate(args: argparse.Namespace) -> int:
    from lib.generation import ReferenceImage
    from lib.store import DamagedDatabase, Store, configure_logging

    refs: list[ReferenceImage] = []
    mask = None
    try:  # media: the files are read before anything starts
        refs = [ReferenceImage(os.path.basename(path), _read_file(path, "--image")) for path in args.image]
        if args.mask:
            mask = ReferenceImage(os.path.basename(args.mask), _read_file(args.mask, "--mask"), "mask")
    except ValueError as err:
        _say(f"imagelab: {err}", file=sys.stderr)
        return 2
    if mask is not None and not refs:
        _say("imagelab: --mask needs at least one --image to apply to", file=sys.stderr)
        return 2

    for flag, value in (("--task-deadline", args.task_deadline), ("--run-deadline", args.run_deadline)):
        if not value > 0:
            _say(f"imagelab: {flag} must be more than 0 seconds", file=sys.stderr)
            return 2
    if args.scenario and args.provider != "sandbox":
        _say("imagelab: --scenario applies to the sandbox provider only", file=sys.stderr)
        return 2
    cfg, key, base_url, headers, sandbox = _target(args)

    try:
        store = Store(data_dir=args.data_dir)
    except DamagedDatabase as err:
        if sandbox is not None:
            sandbox.stop()
        _say(f"imagelab: {err.message}", file=sys.stderr)
        return 2
    configure_logging(store.root)
    settings = client_settings(
        cfg,
        args.provider,
        base_url=base_url,
        key=key,
        typed_source="argument",
        read_timeout_s=args.timeout,
        allow_private_images=args.allow_private_images or cfg.allow_private_images,
        max_retries=args.max_retries,
        use_fallback=not args.no_fallback,
        extra_headers=headers,
        task_deadline_s=args.task_deadline,
        run_deadline_s=args.run_deadline,
    )
    request = GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        size=args.size,
        n=args.n,
        quality=args.quality,
        background=args.background,
        output_format=args.output_format,
        moderation=args.moderation,
        stream=args.stream,
        partial_images=args.partial_images,
        images=refs,
        mask=mask,
        input_fidelity=args.input_fidelity,
    )

    def progress(event) -> None:
        if not args.json:
            _say(f"  {event.elapsed_s:6.1f} s  {event.message}", file=sys.stderr)

    # SIGTERM stops the generation within moments: the request in flight is closed,
    # its rows end 'interrupted', and no new attempt starts.
    stop = CancelToken()
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.cancel("interrupted"))
    try:
        outcome = run_generation(settings, request, recorder=store, keeper=store.keeper, on_event=progress, cancel=stop)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
        if sandbox is not None:
            sandbox.stop()
        store.flush()
    err = outcome.error
    result: dict[str, Any] = {
        "ok": outcome.ok,
        "error_type": err.error_type if err else None,
        "http_status": err.status if err else None,
        "model": outcome.model,
        "attempts": len(outcome.attempts),
        "run_id": outcome.run_id,
        "images": [img.path for img in outcome.images if img.path],
        "message": err.message if err else f"{len(outcome.images)} image(s) from {outcome.model} in {outcome.latency_ms / 1000:.1f} s",
    }
    if args.stream:  # media
        result["partials"] = outcome.partial_count
        result["first_partial_ms"] = outcome.first_partial_ms
    if args.json:
        _say(json.dumps(redact.scrub_obj(result), ensure_ascii=False))
    elif outcome.ok:
        _say(result["message"])
        for path in result["images"]:
            _say(path)
    else:
        card = describe(err)
        status = f"HTTP {card['http_status']}" if card["http_status"] else "no HTTP status"
        step = f"checklist step {card['step']} ({card['step_name']})" if card["step"] else card["step_name"]
        _say(f"{card['title']} [{card['error_type']}, {status}, {step}]", file=sys.stderr)
        _say(f"  said: {card['provider_message'] or card['message']}", file=sys.stderr)
        _say(f"  fix:  {card['fix']}", file=sys.stderr)
    if outcome.ok:
        return 0
    return 2 if err and err.error_type == "invalid_input" else 1


def _doctor(args: argparse.Namespace) -> int:
    from lib import diagnostics as D
    from lib.store import Store, configure_logging

    if args.scenario and args.provider != "sandbox":
        _say("imagelab: --scenario applies to the sandbox provider only", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        _say("imagelab: --timeout must be more than 0 seconds", file=sys.stderr)
        return 2
    cfg, key, base_url, headers, sandbox = _target(args)
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
        )

        def progress(message: str) -> None:
            if not (args.json or args.markdown):
                _say(f"  {message}", file=sys.stderr)

        report = D.run_checks(settings, args.model, store=store, probe=not args.no_probe, spend=args.spend, on_progress=progress)
    finally:
        if sandbox is not None:
            sandbox.stop()
    if args.hide_prompts:
        report = D.hide_prompts(report)
    if args.save:
        report.report_id = D.save_report(store, report)
    if args.json:
        _say(D.report_to_json(report))
    elif args.markdown:
        _say(D.report_to_markdown(report))
    else:
        width = max(len(s.title) for s in report.steps)
        for step in report.steps:
            _say(f"{step.step} {step.title:<{width}}  {D.STATUS_LABELS[step.status].upper():<11}  {step.verdict}")
        fixes = [s for s in report.steps if s.status in ("fail", "warn")]
        if fixes:
            _say("\nWhat to fix:")
            for step in fixes:
                _say(f"  {step.step} {step.title}: {step.fix}")
        counts = report.counts
        _say(f"\n{counts['fail']} fail, {counts['warn']} warning, {counts['pass']} pass, {counts['not_checked']} not checked.")
        if report.report_id:
            _say(f"Saved as report {report.report_id}: open /diagnostics?report={report.report_id} in the app.")
    return 1 if report.status == "fail" else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        return _generate(args)
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "compare":  # Compare
        from lib.compare_cli import run as run_compare

        return run_compare(args)
    if args.command == "sandbox":
        from lib.sandbox import serve

        serve(args.port, host=args.host, scenario=args.scenario, dialect=args.dialect, latency=args.latency)
        return 0
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
