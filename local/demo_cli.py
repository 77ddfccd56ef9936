"""``tickpipe demo``: the whole pipeline on this machine for one simulated NSE session."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run a simulated NSE session through the whole pipeline locally",
        description="Start a moto server (AWS) and the Fyers simulator on 127.0.0.1, provision every "
                    "resource, stream a simulated 09:15–15:30 session through producer → Kinesis → bars "
                    "Lambda and Firehose → compaction, check the counts end to end and write a report. "
                    "Needs no AWS or Fyers account and no network.")
    p.add_argument("--symbols", type=int, default=23,
                   help="number of instruments: equities, then NIFTY 50, NIFTY BANK and the NIFTY future (default 23: all)")
    p.add_argument("--day", type=dt.date.fromisoformat, default=None,
                   help="trading day to simulate, YYYY-MM-DD (default: the latest NSE session that is over)")
    p.add_argument("--speed", type=float, default=400.0,
                   help="exchange seconds per wall second (default 400: a session in about a minute)")
    p.add_argument("--shards", type=int, default=4, help="Kinesis shards (default 4)")
    p.add_argument("--seed", type=int, default=7, help="market model seed (default 7)")
    p.add_argument("--producers", type=int, default=1,
                   help="producer slices, one Fyers connection each (at most 5,000 symbols a connection; default 1)")
    p.add_argument("--to", dest="until", type=_hhmm, default=None, metavar="HH:MM",
                   help="end the session at HH:MM IST: a bounded slice from the 09:15 open (default: the 15:30 close)")
    p.add_argument("--every-trade", action="store_true",
                   help="publish every trade instead of quote snapshots (the default, as real Fyers sends): "
                        "bars then equal the exchange's candles exactly")
    p.add_argument("--snapshots", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    p.add_argument("--outage", metavar="HH:MM-HH:MM", default=None,
                   help="simulate a producer outage in exchange time (IST), e.g. 11:00-11:20: the socket is cut "
                        "and logins refused; the reconciliation at the end fills the gap from the exchange's "
                        "candles (bars_5m_final)")
    p.add_argument("--out", type=Path, default=Path("tickpipe-out"), help="report folder (default tickpipe-out)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--keep", action="store_true",
                   help="after the summary keep the moto server and the simulator running (until Ctrl-C) and "
                        "print the environment that points tickpipe query/compact/produce at them")
    p.add_argument("--login-page", action="store_true",
                   help="with --keep (implied): also serve the token login page against them, with a login link "
                        "(docs/login.md)")
    p.set_defaults(func=run, parser=p)


def _hhmm(text: str) -> dt.time:
    try:
        return dt.datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM (IST), got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from local.demo import DemoOptions, choose_day, print_summary, run_demo
    from local.demo_history import Outage
    from local.demo_scale import cut_session, demo_symbols, producer_slices
    from local.errors import DemoError, OutageError, ScaleError
    from tickpipe.errors import ConfigError

    try:  # bad values are usage errors (exit 2), before anything starts
        session = choose_day(args.day)
        outage = Outage.parse(args.outage) if args.outage else None
        if outage:
            outage.check(session)
        opts = DemoOptions(symbols=args.symbols, day=args.day, speed=args.speed, shards=args.shards, seed=args.seed,
                           every_trade=args.every_trade, out_dir=args.out, progress=not args.quiet,
                           keep=args.keep or args.login_page, login_page=args.login_page, outage=outage,
                           producers=args.producers, until=args.until)
    except (ConfigError, DemoError, OutageError) as exc:
        args.parser.error(str(exc))
    try:
        session = cut_session(session, args.until)
        producer_slices(demo_symbols(args.symbols, session.day), args.producers)
    except ScaleError as exc:
        args.parser.error(str(exc))
    if not args.verbose:
        # Components log their own progress; the demo's display is the progress line.
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        result = run_demo(opts)
    except DemoError as exc:
        print(f"error: {exc}")
        return 1
    if not result.printed:
        print_summary(result)
    return 0 if result.ok else 1
