"""Running a command: logging, exit codes and one-line errors, shared by every entry point.

``tickpipe`` (tickpipe/cli.py, the development CLI with a subcommand per job) and each deployable's
own console script (``tickpipe-produce``, producer/cli.py) run through :func:`run`; a deployable's
script imports only its own command module, so it starts in an image that carries nothing else.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from tickpipe.errors import ConfigError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Libraries that log every request at INFO.
NOISY_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "websockets", "werkzeug")


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging (and tracebacks)")


def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv``, set up logging and run ``args.func``; its return value is the exit code."""
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
        return EXIT_INTERRUPTED
    except ConfigError as exc:  # a bad option, variable or file the user gave: a usage error, whichever command
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the user sees one line; -v shows the traceback
        if args.verbose:
            raise
        print(f"error: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILURE


class _OneCommand:
    """Stands in for argparse's subparsers so a command's ``add_parser`` builds a top-level parser."""

    def __init__(self, prog: str) -> None:
        self.prog = prog
        self.parser: argparse.ArgumentParser | None = None

    def add_parser(self, name: str, *, help: str | None = None, **kwargs: Any) -> argparse.ArgumentParser:
        self.parser = argparse.ArgumentParser(prog=self.prog, **kwargs)
        return self.parser


def single(prog: str, add_parser: Callable[[Any], None], argv: list[str] | None = None) -> int:
    """Run one command (registered by ``add_parser(subparsers)``) as its own program ``prog``."""
    one = _OneCommand(prog)
    add_parser(one)
    assert one.parser is not None, f"{add_parser!r} registered no command"
    add_verbose(one.parser)
    return run(one.parser, argv)


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
