"""The ``tickpipe`` command: one entry point, a subcommand per job.

Each subcommand lives beside the code it drives and registers itself through
``add_parser(subparsers)``, setting ``func=run`` where ``run(args) -> int`` is the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tickpipe import __version__

# (module, purpose). A module that fails to import is reported, not fatal for the other commands.
COMMANDS: list[str] = [
    "local.demo_cli",
    "fyers.sim.cli",
    "producer.cli",
    "consumers.compact_cli",
    "local.query_cli",
    "tickpipe.bench_cli",
]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickpipe",
        description="Fyers market data into an AWS lake: ticks → Kinesis → 5-minute bars → Parquet.",
    )
    parser.add_argument("--version", action="version", version=f"tickpipe {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        try:
            importlib.import_module(module).add_parser(sub)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # command not built yet
            raise
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
