"""The ``churn`` command line. Each subcommand is a function ``_cmd_<name>(args)`` registered in
``_build_parser``; heavy imports happen inside the commands so ``churn --help`` stays fast."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import __version__


def _cmd_scan(args: argparse.Namespace) -> int:
    from .events import scan

    for path in args.events:
        print(scan(path, strict=not args.lenient, threads=args.threads))
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="churn", description="Churn prediction from Sparkify-style event logs.")
    parser.add_argument("--version", action="version", version=f"churn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser("scan", help="summarise event logs (events, users, pages, dates, bad lines)")
    p.add_argument("events", nargs="+", help="JSON-lines event log(s), plain or .gz")
    p.add_argument("--lenient", action="store_true", help="skip and count bad lines instead of stopping")
    p.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    p.set_defaults(run=_cmd_scan)

    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from ._churn import ChurnError

    args = _build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ChurnError as e:
        print(f"churn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
