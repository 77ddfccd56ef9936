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

# command -> module that registers it. A command whose module needs a package this installation
# lacks (the producer image has no `local` extra) stays listed and explains what to install.
COMMANDS: dict[str, str] = {
    "demo": "local.demo_cli",
    "sim": "fyers.sim.cli",
    "produce": "producer.cli",
    "compact": "consumers.compact_cli",
    "query": "local.query_cli",
    "backfill": "consumers.backfill_cli",
    "reconcile": "consumers.reconcile_cli",
    "bench": "tickpipe.bench_cli",
    "plan": "tickpipe.plan.cli",
    "login": "tokens.login_cli",
    "login-link": "tokens.login_link_cli",
}

_OWN_PACKAGES = {"tickpipe", "market", "fyers", "producer", "consumers", "tokens", "local", "bench"}
EXIT_FAILURE = 1
EXIT_USAGE = 2


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
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for chatty in NOISY_LOGGERS:
            logging.getLogger(chatty).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the user sees one line; -v shows the traceback
        if args.verbose:
            raise
        print(f"error: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILURE


# Libraries that log every request at INFO.
NOISY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "websockets", "werkzeug")


def describe(exc: BaseException) -> str:
    """One line for a user: what failed, and for AWS access problems, what to check."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    hint = ""
    if type(exc).__module__.startswith("botocore"):
        hint = (" (check the AWS credentials and region; for local mode start a moto server, "
                "`.venv/bin/python -m moto.server -H 127.0.0.1 -p 5000`, and set "
                "AWS_ENDPOINT_URL=http://127.0.0.1:5000)")
    return f"{text} [{name}]{hint} (run with -v for details)"
