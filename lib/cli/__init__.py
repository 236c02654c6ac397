"""The command line: ``imagelab generate``, ``imagelab doctor``, ``imagelab compare`` and ``imagelab sandbox``.

Each command is a module with ``add_parser`` and ``run``; they record to the same
database as the app, mask every secret in what they print, and exit 0 (success),
1 (the generation, a cell or a check failed) or 2 (bad arguments).
"""

from __future__ import annotations

from collections.abc import Sequence

from lib.cli import compare, doctor, generate, sandbox
from lib.cli._common import Parser

COMMANDS = {"generate": generate, "doctor": doctor, "compare": compare, "sandbox": sandbox}


def parser() -> Parser:
    top = Parser(prog="imagelab", description="Image Prompt Lab from the command line.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return COMMANDS[args.command].run(args)
