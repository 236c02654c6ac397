"""``imagelab generate``: one generation, recorded to the same database as the app.

With ``--json`` it prints one JSON object. Exit codes: 0 success, 1 the generation
failed or was refused by the operator's daily budget (nothing sent; the JSON object then
has ``"budget"``), 2 bad arguments (including input the pre-flight checks refuse)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from lib import budget as B
from lib import constants as C
from lib.cli._common import add_dialect_argument, add_moderate_flag, chosen_dialect, read_file, say, say_json, target
from lib.config import client_settings
from lib.errors import describe
from lib.generation import CancelToken, GenerationRequest
from lib.jobs import JobSpec, run_generation, start_run, watch_cancel_requests
from lib.providers import BACKGROUNDS, MODERATIONS, OUTPUT_FORMATS, PRESETS, QUALITIES
from lib.sandbox import SCENARIOS

SAID_LIMIT = 1000  # characters of a provider's message on the 'said:' line; History keeps all of it


def add_parser(sub: Any) -> None:
    g = sub.add_parser("generate", help="generate images from a prompt, recording every attempt")
    g.add_argument("--prompt", required=True)
    g.add_argument("--provider", default="sandbox", choices=list(PRESETS))
    g.add_argument("--base-url", help="override the preset's base URL (sandbox: a running sandbox)")
    g.add_argument("--api-key", help="the key (default: the provider's environment variable)")
    g.add_argument("--model", default="gpt-image-2")
    add_dialect_argument(g)
    g.add_argument("--size", default="auto", help="auto, WIDTHxHEIGHT, or on routes that take one a ratio such as 16:9")
    g.add_argument(
        "--resolution",
        type=str.upper,
        default=None,
        metavar="1K|2K|4K",
        help="with a ratio size, on routes that take one (EvoLink): 1K (~1 MP), 2K (~4 MP) or 4K",
    )
    g.add_argument("--n", type=int, default=1)
    g.add_argument("--quality", default="auto", choices=QUALITIES)
    g.add_argument("--background", default="auto", choices=BACKGROUNDS)
    g.add_argument("--output-format", default="png", choices=OUTPUT_FORMATS)
    g.add_argument("--moderation", default="auto", choices=MODERATIONS)
    add_moderate_flag(g)
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
    g.add_argument(
        "--rehearse",
        action="store_true",
        help="send to a sandbox started for this command, in the provider's shapes (EvoLink: tasks, ratio sizes, "
        "uploads and image_urls); no configured key leaves this machine",
    )
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


def run(args: argparse.Namespace) -> int:
    from lib.config import configure_logging
    from lib.generation import ReferenceImage
    from lib.store import DamagedDatabase, Store

    refs: list[ReferenceImage] = []
    mask = None
    try:  # media: the files are read before anything starts
        refs = [ReferenceImage(os.path.basename(path), read_file(path, "--image")) for path in args.image]
        if args.mask:
            mask = ReferenceImage(os.path.basename(args.mask), read_file(args.mask, "--mask"), "mask")
    except ValueError as err:
        say(f"imagelab: {err}", file=sys.stderr)
        return 2
    if mask is not None and not refs:
        say("imagelab: --mask needs at least one --image to apply to", file=sys.stderr)
        return 2

    for flag, value in (("--task-deadline", args.task_deadline), ("--run-deadline", args.run_deadline)):
        if not value > 0:
            say(f"imagelab: {flag} must be more than 0 seconds", file=sys.stderr)
            return 2
    if args.scenario and args.provider != "sandbox":
        say("imagelab: --scenario applies to the sandbox provider only", file=sys.stderr)
        return 2
    if args.rehearse and args.base_url:
        say("imagelab: --rehearse sends to its own sandbox; leave --base-url out", file=sys.stderr)
        return 2
    cfg, key, base_url, headers, sandbox = target(args)
    try:
        dialect = chosen_dialect(args, cfg)
    except ValueError as err:
        say(f"imagelab: {err}", file=sys.stderr)
        return 2

    try:
        store = Store(data_dir=args.data_dir)
    except DamagedDatabase as err:
        if sandbox is not None:
            sandbox.stop()
        say(f"imagelab: {err.message}", file=sys.stderr)
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
        moderate=args.moderate,
        dialect=dialect,
    )
    request = GenerationRequest(
        prompt=args.prompt,
        model=args.model,
        size=args.size,
        resolution=args.resolution,
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

    # The operator's daily budget for this provider ([budget] in secrets.toml, the environment): refused before sending
    for problem in cfg.budget.problems:
        say(f"warning: budget setting ignored: {problem}", file=sys.stderr)
    with B.sending():
        check = B.check_send(store, args.provider, B.request_cost(request).usd, B.limit_for(args.provider, cfg.budget))
    if not check.ok:
        if sandbox is not None:
            sandbox.stop()
        if args.json:
            say_json(
                {
                    "ok": False,
                    "error_type": None,
                    "http_status": None,
                    "model": request.model,
                    "attempts": 0,
                    "run_id": None,
                    "images": [],
                    "message": check.message,
                    "budget": {"limit_usd": check.limit.usd, "source": check.limit.source, "spent_usd": round(check.spend.total_usd, 6)},
                }
            )
        else:
            say(f"imagelab: {check.message}", file=sys.stderr)
        return 1

    def progress(event) -> None:
        if not args.json:
            say(f"  {event.elapsed_s:6.1f} s  {event.message}", file=sys.stderr, newlines=False)

    # SIGTERM stops the generation within moments: the request in flight is closed,
    # its rows end 'interrupted', and no new attempt starts.
    stop = CancelToken()
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.cancel("interrupted"))
    # The app may stop this run too (its Cancel writes a request to the database, read every second).
    try:
        run_id: str | None = start_run(store, JobSpec(settings=settings, request=request))
    except Exception:  # the write failed: run_generation tries again and reports it as the card
        run_id = None
    end_watch = watch_cancel_requests(store, run_id, stop) if run_id else None
    try:
        outcome = run_generation(settings, request, recorder=store, keeper=store.keeper, on_event=progress, cancel=stop, run_id=run_id)
    finally:
        if end_watch is not None:
            end_watch()
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
        say_json(result)
    elif outcome.ok:
        say(result["message"])
        for path in result["images"]:
            say(path)
    else:
        card = describe(err)
        status = f"HTTP {card['http_status']}" if card["http_status"] else "no HTTP status"
        step = f"checklist step {card['step']} ({card['step_name']})" if card["step"] else card["step_name"]
        say(f"{card['title']} [{card['error_type']}, {status}, {step}]", file=sys.stderr)
        say(f"  said: {card['provider_message'] or card['message']}", file=sys.stderr, newlines=False, limit=SAID_LIMIT)
        say(f"  fix:  {card['fix']}", file=sys.stderr, newlines=False)
    if outcome.ok:
        return 0
    return 2 if err and err.error_type == "invalid_input" else 1
