"""``imagelab sandbox``: the local sandbox image API, in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from lib.sandbox import add_serve_arguments


def add_parser(sub: Any) -> None:
    s = sub.add_parser(
        "sandbox",
        help="run the local sandbox image API in the foreground",
        description="The local sandbox image API, with EvoLink's file host on a second port (both printed).",
    )
    add_serve_arguments(s)


def run(args: argparse.Namespace) -> int:
    from lib.sandbox import serve_from

    serve_from(args)
    return 0
