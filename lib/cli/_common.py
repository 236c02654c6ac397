"""What every command shares: printing made safe for a terminal (secrets masked), a parser that exits 2 with a
clear message, reading a file named on the command line, and where a command sends."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from lib import constants as C
from lib import redact
from lib.config import Config
from lib.providers import REHEARSAL_KEY, ResolvedKey
from lib.text import TERMINAL_LINE_LIMIT, terminal


def say(text: Any, file: Any = None, *, newlines: bool = True, limit: int | None = TERMINAL_LINE_LIMIT) -> None:
    """Print text for a person: every secret masked (providers echo keys into what we
    print), escape sequences removed and other controls escaped visibly, each line cut at
    ``limit`` characters with a marker (``lib.text.terminal``). ``newlines=False`` for a
    line that quotes a provider: its line breaks show as ``\\n`` and cannot fake output."""
    print(terminal(text, newlines=newlines, limit=limit), file=file if file is not None else sys.stdout)


def say_json(value: Any, file: Any = None) -> None:
    """Print one JSON document, exact: every string masked, never cut. JSON escapes
    C0 controls itself; C1 controls, direction overrides and other invisible characters,
    which it leaves raw, are written as JSON escapes too: the same value once parsed."""
    text = value if isinstance(value, str) else json.dumps(redact.scrub_obj(value), ensure_ascii=False)
    say(text, file=file, limit=None)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with a short, clear message
        self.print_usage(sys.stderr)
        self.exit(2, f"imagelab: {message}\n")


def read_file(path: str, flag: str) -> bytes:
    """The bytes of a file named on the command line, capped; ValueError with a clear message."""
    try:
        size = os.path.getsize(path)
        if size > C.MAX_REFERENCE_IMAGE_BYTES:
            raise ValueError(f"{flag} {path} is {size / 1048576:.1f} MB; the limit is {C.MAX_REFERENCE_IMAGE_BYTES // 1048576} MB")
        with open(path, "rb") as fh:
            return fh.read(C.MAX_REFERENCE_IMAGE_BYTES + 1)
    except OSError as err:
        raise ValueError(f"cannot read {flag} {path}: {err.strerror or err}") from None


def add_moderate_flag(parser: argparse.ArgumentParser) -> None:
    """--moderate / --no-moderate: the check before paying; without either, the operator's setting."""
    from lib.config import MODERATION_ENV, MODERATION_PROVIDER_ENV, MODERATION_SECRETS_TABLE

    parser.add_argument(
        "--moderate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check the prompt and reference images at the provider's moderations route (omni-moderation-latest, free at OpenAI) "
        "before the image request; a flagged prompt stops there as content_policy and no image is paid for. A provider "
        "without the route is said once and sent as usual. Default: off, or as set in secrets.toml "
        f"([{MODERATION_SECRETS_TABLE}] default / <provider> = true) or ${MODERATION_ENV} / "
        f"${MODERATION_PROVIDER_ENV.format(provider='OPENAI')}...",
    )


def target(args: argparse.Namespace) -> tuple[Config, ResolvedKey, str | None, dict[str, str], Any]:
    """Where a command sends and with which key: (config, key, base_url, headers, sandbox).

    A key from the environment or secrets.toml is bound to the preset's host;
    --api-key goes where --base-url says. The sandbox provider without
    --base-url starts its own sandbox for the one command (the caller stops it), and so does
    ``--rehearse`` for another provider: its base URL is the sandbox's face for that provider
    (EvoLink's shapes for EvoLink), and without --api-key a placeholder key is sent there."""
    cfg = Config.load()
    resolved = cfg.key_for(args.provider, base_url=args.base_url, typed=args.api_key or "")
    sandbox = None
    base_url = args.base_url
    headers: dict[str, str] = {}
    if getattr(args, "rehearse", False) and args.provider != "sandbox":
        # A sandbox for this command, answering in the provider's shapes; a configured key stays home.
        from lib.sandbox import SandboxConfig, SandboxServer

        sandbox = SandboxServer(SandboxConfig(latency_s=C.CLI_SANDBOX_LATENCY_S)).start()
        base_url = sandbox.face_for(args.provider)
        resolved = cfg.key_for(args.provider, base_url=base_url, typed=args.api_key or REHEARSAL_KEY)
    elif args.provider == "sandbox":
        if base_url is None:
            from lib.sandbox import SandboxConfig, SandboxServer

            sandbox = SandboxServer(SandboxConfig(latency_s=C.CLI_SANDBOX_LATENCY_S)).start()
            base_url = sandbox.base_url
        if args.scenario:
            headers["X-Sandbox-Scenario"] = args.scenario
    return cfg, resolved, base_url, headers, sandbox


def add_dialect_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dialect",
        metavar="NAME",
        help="custom provider: the gateway dialect file's name (default: dialect in secrets.toml or $IMAGELAB_DIALECT; "
        "none: OpenAI-compatible)",
    )


def chosen_dialect(args: argparse.Namespace, cfg: Config, provider: str | None = None) -> Any:
    """The dialect the command's Custom provider speaks (``ClientSettings.dialect``): --dialect, else the
    setting; a file's problems come back as the error pre-flight refuses. ValueError for --dialect
    with another provider."""
    from lib.config import chosen_dialect as resolve

    provider = provider or getattr(args, "provider", None) or ""
    if getattr(args, "dialect", None) and provider != "custom":
        raise ValueError("--dialect applies to the custom provider only")
    return resolve(provider, getattr(args, "dialect", None) or cfg.dialect_name, getattr(args, "data_dir", None))
