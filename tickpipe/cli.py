"""The ``tickpipe`` command: the development and local-mode CLI, a subcommand per job.

It imports every command's package, so no production artifact carries it: a deployable has its own
console script importing only its own command (``tickpipe-produce``, infra/artifacts.py).

Each subcommand lives beside the code it drives and registers itself through
``add_parser(subparsers)``, setting ``func=run`` where ``run(args) -> int`` is the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tickpipe import __version__
from tickpipe.command import EXIT_FAILURE, EXIT_USAGE, add_verbose, describe, run  # noqa: F401 - EXIT_USAGE, describe: interface

# command -> module that registers it. A command whose module needs a package this installation
# lacks (an install without the `local` extra) stays listed and explains what to install.
COMMANDS: dict[str, str] = {
    "demo": "local.demo_cli",
    "sim": "fyers.sim.cli",
    "produce": "producer.cli",
    "compact": "consumers.lake.compact_cli",
    "query": "local.query_cli",
    "backfill": "consumers.history.backfill_cli",
    "reconcile": "consumers.history.reconcile_cli",
    "bench": "bench.cli",
    "plan": "tickpipe.plan.cli",
    "login": "tokens.login_cli",
    "login-link": "tokens.login_link_cli",
}

_OWN_PACKAGES = {"tickpipe", "market", "fyers", "producer", "consumers", "tokens", "local", "bench"}


def _unavailable(sub: argparse._SubParsersAction, command: str, missing: str) -> None:
    message = (f"'tickpipe {command}' needs the Python package {missing!r}, which is not installed here; "
               "install the local tools with: pip install 'tickpipe[local]'")
    p = sub.add_parser(command, help=f"(unavailable: needs {missing})", description=message)

    def run(args: argparse.Namespace) -> int:
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILURE

    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickpipe",
        description="Fyers market data into an AWS lake: ticks → Kinesis → 5-minute bars → Parquet.",
    )
    parser.add_argument("--version", action="version", version=f"tickpipe {__version__}")
    add_verbose(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module in COMMANDS.items():
        try:
            importlib.import_module(module).add_parser(sub)
        except ModuleNotFoundError as exc:
            if not exc.name or exc.name.split(".")[0] in _OWN_PACKAGES:
                raise  # our own code is broken: say so loudly
            _unavailable(sub, command, exc.name.split(".")[0])
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)
