"""``imagelab sandbox``: the local sandbox image API, in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from lib.sandbox import DIALECTS, SCENARIOS


def add_parser(sub: Any) -> None:
    s = sub.add_parser("sandbox", help="run the local sandbox image API in the foreground")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--scenario", default="healthy", choices=list(SCENARIOS))
    s.add_argument("--dialect", default="b64", choices=list(DIALECTS))
    s.add_argument("--latency", type=float, default=None, metavar="SECONDS")


def run(args: argparse.Namespace) -> int:
    from lib.sandbox import serve

    serve(args.port, host=args.host, scenario=args.scenario, dialect=args.dialect, latency=args.latency)
    return 0
