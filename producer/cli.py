"""``tickpipe-produce`` (also ``tickpipe produce``): run the producer service (the container's entry point).

SIGTERM (ECS stopping the task) and SIGINT stop reading, flush, deliver what can be delivered
within ``--stop-timeout`` and keep the rest in the journal; the exit code is then 0. It is 1 when
the producer stopped by itself because a worker thread died, or when ticks it read were lost
(neither delivered, journalled nor covered by a gap record); the summary line says how many.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from producer.errors import ProducerError
from producer.options import ENV_VARS, ProducerOptions
from tickpipe.options import flag

EXIT_CONFIG = 2
EXIT_FAILURE = 1

log = logging.getLogger("producer")


def main(argv: list[str] | None = None) -> int:
    """The ``tickpipe-produce`` console script: this command alone, importing nothing of the dev CLI."""
    from tickpipe.command import single

    return single("tickpipe-produce", add_parser, argv)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "produce", help="stream Fyers ticks into Kinesis (the long-running producer)",
        description="Stream the Fyers data socket into the Kinesis stream, following the NSE session. "
                    "Configured by TICKPIPE_* variables; flags override the producer's own ones.",
    )
    p.add_argument("--symbols", help="universe source: file, s3://bucket/key or ssm:/name (TICKPIPE_SYMBOLS)")
    p.add_argument("--slice", help=f"take slice K/N of the universe, e.g. 2/4 ({ENV_VARS['slice']})")
    p.add_argument("--session", choices=["calendar", "always"],
                   help=f"follow the NSE calendar (default) or stream regardless ({ENV_VARS['session']})")
    p.add_argument("--health-port", type=ProducerOptions.flag_type("health_port"),
                   help=f"health endpoint port; -1 disables ({ENV_VARS['health_port']})")
    p.add_argument("--health-host", help=f"health endpoint address ({ENV_VARS['health_host']})")
    p.add_argument("--journal-dir", help=f"on-disk journal directory ({ENV_VARS['journal_dir']})")
    p.add_argument("--stop-timeout", type=ProducerOptions.flag_type("stop_timeout"),
                   help=f"seconds to finish after SIGTERM ({ENV_VARS['stop_timeout']})")
    p.add_argument("--max-buffer-ms", type=ProducerOptions.flag_type("max_buffer_ms"),
                   help=f"max aggregation delay ({ENV_VARS['max_buffer_ms']})")
    p.add_argument("--sessions", type=flag(int, ge=1), help="exit after this many sessions (default: run until stopped)")
    p.add_argument("--json-logs", action="store_true", help="structured JSON log lines (default in the container)")
    p.set_defaults(func=run)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; messages never carry secrets (tokens are not logged anywhere)."""

    def format(self, record: logging.LogRecord) -> str:
        import orjson

        entry = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def run(args: argparse.Namespace) -> int:
    from market.errors import CalendarError
    from market.session import parse_overrides
    from producer.service import run_producer
    from tickpipe import redact
    from tickpipe.config import ENV_VARS as ENV_VARS_SETTINGS
    from tickpipe.config import Settings
    from tickpipe.errors import ConfigError

    redact.install()  # before the first SSM call: its bodies hold the token (tickpipe -v logs botocore's)

    if args.json_logs:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.getLogger().handlers[:] = [handler]
    try:
        settings = Settings.from_env(symbols=args.symbols or "")
        parse_overrides(settings.session_overrides)  # a bad TICKPIPE_SESSION_OVERRIDES is a usage error too
        options = ProducerOptions.from_env(
            slice=args.slice, session=args.session, health_port=args.health_port, health_host=args.health_host,
            journal_dir=args.journal_dir, stop_timeout=args.stop_timeout, max_buffer_ms=args.max_buffer_ms)
    except CalendarError as exc:
        print(f"tickpipe produce: {ENV_VARS_SETTINGS['session_overrides']}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (ConfigError, ProducerError) as exc:
        print(f"tickpipe produce: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("%s: stopping (finishing within %.0f s)", signal.Signals(signum).name, options.stop_timeout)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stats = run_producer(settings, stop=stop, options=options, sessions=args.sessions)
    except (ConfigError, ProducerError) as exc:  # ConfigError: a bad universe (tickpipe/universe.py)
        print(f"tickpipe produce: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        for sig, previous_handler in previous.items():
            signal.signal(sig, previous_handler)
    import orjson

    summary = {k: v for k, v in vars(stats).items() if k != "gaps"} | {"gaps": len(stats.gaps)}
    print(orjson.dumps(summary).decode(), flush=True)  # the run's figures, one JSON line on stdout
    if stats.fatal or stats.lost_ticks:
        print(f"tickpipe produce: stopped by a failure: {stats.fatal or 'ticks were lost'}; "
              f"{stats.kept_ticks} ticks journalled at stop, {stats.lost_ticks} lost", file=sys.stderr)
        return EXIT_FAILURE
    return 0
