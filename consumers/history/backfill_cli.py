"""`tickpipe backfill`: exchange candles from the Fyers history API into the curated candle tables."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from consumers.history.backfill import Backfill, BackfillRequest
from consumers.history.candles import RESOLUTIONS
from consumers.history.errors import BackfillError
from consumers.lake.compact_cli import ProgressLine
from consumers.lake.store import DirStore, LakeStore
from fyers.history import MAX_DAYS_DAILY, MAX_DAYS_INTRADAY, HistoryClient
from fyers.ratelimit import FYERS_LIMITS
from fyers.shared_limiter import FYERS_DAILY_LIMIT, LIMITER_VAR
from market.session import CLOSE, NseCalendar, epoch, trading_date
from tickpipe.config import Settings
from tickpipe.options import flag

SIM_LAKE_DIR = "tickpipe-out/history"  # not the demo's tickpipe-out/lake, which each demo replaces


def date_arg(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-02") from None


def resolutions_arg(value: str) -> list[str]:
    out = []
    for item in value.replace(" ", "").split(","):
        res = "D" if item.upper() in ("D", "1D") else item
        if res not in RESOLUTIONS:
            raise argparse.ArgumentTypeError(f"resolution {item!r}: use {'|'.join(RESOLUTIONS)} (comma separated)")
        out.append(res)
    return out


def last_finished_session(now: float, calendar: NseCalendar | None = None) -> dt.date:
    """The latest trading day whose session has closed at ``now`` (IST)."""
    calendar = calendar or NseCalendar()
    day = trading_date(now)
    if now < epoch(day, CLOSE):
        day -= dt.timedelta(days=1)
    return calendar.last_session_on_or_before(day).day


def symbols_arg(value: str) -> list[str]:
    """``A,B`` or ``@file`` (one symbol a line or comma separated, ``#`` comments)."""
    if value.startswith("@"):
        from tickpipe.universe import parse_symbols

        path = Path(value[1:])
        try:
            return parse_symbols(path.read_text(), str(path))
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    return [s.strip() for s in value.split(",") if s.strip()]


def _rates() -> str:
    """Fyers' request limits as the help says them: "10/s, 200/min, 100,000/day" (from the client's own)."""
    unit = {1.0: "s", 60.0: "min"}
    return ", ".join([*(f"{n:,}/{unit.get(s, f'{s:g}s')}" for n, s in FYERS_LIMITS), f"{FYERS_DAILY_LIMIT:,}/day"])


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backfill",
        help="fetch exchange candles from the Fyers history API into curated candles_* tables",
        description="Fetch candles for SYMBOLS from --from to --to (IST dates, inclusive) at each resolution "
        f"through the Fyers history API, within its limits ({MAX_DAYS_INTRADAY} days a request intraday, "
        f"{MAX_DAYS_DAILY} daily; {_rates()} shared by every process on this machine through the file named by "
        f"{LIMITER_VAR}, default ~/.cache/tickpipe/fyers-requests.json), into curated/candles_1m, "
        "candles_5m (5, 15, 60 minutes) and candles_1d. Resumable and idempotent: finished chunks are "
        "recorded under state/backfill/ and skipped by the next run. Without --sim it uses the deployment "
        "(TICKPIPE_* variables, the Fyers token in SSM); docs/history.md.",
    )
    p.add_argument("--symbols", type=symbols_arg, help="A,B,... or @file (default with --sim: its 20 equities; "
                   "else TICKPIPE_SYMBOLS)")
    p.add_argument("--from", dest="first", type=date_arg, help="first IST date (default: 30 days before --to)")
    p.add_argument("--to", dest="last", type=date_arg, help="last IST date (default: the last finished session)")
    p.add_argument("--resolution", type=resolutions_arg, default=list(RESOLUTIONS),
                   help="1|5|15|60|D, comma separated (default: all)")
    p.add_argument("--flush-symbols", type=flag(int, ge=1), default=50,
                   help="symbols fetched before their candles are written and recorded (default 50)")
    p.add_argument("--force", action="store_true", help="fetch again chunks already recorded as done (after a "
                   "day object was deleted or found corrupt)")
    p.add_argument("--sim", action="store_true", help="fetch from a local Fyers simulator (no Fyers account, "
                   f"no AWS): writes to --lake-dir, default {SIM_LAKE_DIR}")
    p.add_argument("--seed", type=int, default=1, help="the simulator's seed (with --sim)")
    p.add_argument("--lake-dir", help="write to this directory instead of the lake bucket")
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    now = time.time()
    last = args.last or last_finished_session(now)
    first = args.first or last - dt.timedelta(days=30)
    symbols = args.symbols
    settings = Settings.from_env()
    if not symbols:
        if args.sim:
            from local.fyers_sim_access import SIM_SYMBOLS

            symbols = list(SIM_SYMBOLS)
        else:
            symbols = _universe(args.parser, settings)
    try:
        request = BackfillRequest.make(symbols, first, last, args.resolution, today=trading_date(now))
    except BackfillError as exc:
        args.parser.error(str(exc))  # a usage error: on stderr, exit status 2
    lake_dir = args.lake_dir or (SIM_LAKE_DIR if args.sim else None)
    store = DirStore(lake_dir) if lake_dir else LakeStore(settings.bucket)
    progress = ProgressLine()
    with history_source(args, settings) as history:
        report = Backfill(history, store, flush_symbols=args.flush_symbols, progress=progress, force=args.force).run(request)
    progress.end()
    where = store.uri("curated") + "/"
    print(f"backfill {request.first}..{request.last}, {len(request.syms)} symbols, "
          f"resolutions {','.join(request.resolutions)} -> {where}candles_1m, candles_5m, candles_1d")
    print(report.summary())
    for failure in report.failed[:20]:
        print(f"  failed: {failure}")
    return 0 if report.ok else 1


@contextlib.contextmanager
def history_source(args: argparse.Namespace, settings: Settings) -> Iterator[HistoryClient]:
    """Where a history command reads candles: the simulator (``--sim``, ``--seed``) or Fyers with the
    token in SSM. The simulator is imported only when asked for (local/ is a development tool)."""
    if args.sim:
        from local.fyers_sim_access import simulated_history

        with simulated_history(seed=args.seed) as history:
            yield history
    else:
        from consumers.history.client import history_client

        yield history_client(settings)


def _universe(parser: argparse.ArgumentParser, settings: Settings) -> list[str]:
    if not settings.symbols:
        parser.error("no symbols: pass --symbols A,B or @file, or set TICKPIPE_SYMBOLS")
    from tickpipe.universe import load_universes

    return load_universes(settings.symbols)
