"""`tickpipe reconcile`: compare a day's live bars with the exchange's candles (docs/history.md)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from consumers.history.backfill_cli import (
    SIM_LAKE_DIR,
    date_arg,
    history_source,
    last_finished_session,
    symbols_arg,
)
from consumers.history.reconcile import configured_universe, diff_key, reconcile_day, summary_key
from consumers.lake.compact_cli import ProgressLine
from consumers.lake.store import DirStore, LakeStore
from tickpipe.config import Settings


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reconcile",
        help="compare a day's curated 5-minute bars with the exchange's candles",
        description="Fetch the day's exchange 5-minute candles (into candles_5m) for every symbol with bars or "
        "gap records that day and every symbol of the universe (TICKPIPE_SYMBOLS, if set), compare them with "
        "curated bars_5m per (sym, start) and write "
        "curated/reconcile/dt=DAY/ (per bucket: status, cause, differences) and curated/reconcile_daily/dt=DAY/ "
        "(one summary row). Re-running replaces both.",
    )
    p.add_argument("--day", type=date_arg, help="IST trading date (default: the last finished session)")
    p.add_argument("--symbols", type=symbols_arg, default=[], help="also these symbols (A,B or @file)")
    p.add_argument("--sim", action="store_true", help="candles from a fresh local Fyers simulator; lake in --lake-dir, which "
                   "must hold that simulator's bars, manifests and gap records (the demo's lake: see docs/history.md)")
    p.add_argument("--seed", type=int, default=1, help="the simulator's seed (with --sim)")
    p.add_argument("--lake-dir", help=f"read and write this directory instead of the lake bucket (--sim: {SIM_LAKE_DIR})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    day = args.day or last_finished_session(time.time())
    lake_dir = args.lake_dir or (SIM_LAKE_DIR if args.sim else None)
    store = DirStore(lake_dir) if lake_dir else LakeStore(settings.bucket)
    universe = configured_universe(settings.symbols)
    progress = ProgressLine()
    with history_source(args, settings) as history:
        result = reconcile_day(day, history, store, symbols=[*args.symbols, *universe], progress=progress)
    progress.end()
    s = result.summary
    print(f"reconcile {s.day}: {s.symbols} symbols, {s.candles} candles, {s.bars} bars; {s.matched} match, "
          f"{s.differing} differ ({100 * s.mismatch_rate:.1f}% of {s.compared} compared), {s.missing_bars} missing, "
          f"{s.gap_bars} in gaps, {s.bars_without_candle} bars without a candle")
    print(f"volume: bars {s.volume_bars:,}, candles {s.volume_candles:,}; causes: {s.causes or 'none'}")
    print(f"written: {store.uri(diff_key(s.day))}, {store.uri(summary_key(s.day))}")
    if not result.backfill.ok:
        print(f"candles incomplete: {result.backfill.summary()}")
        return 1
    return 0
