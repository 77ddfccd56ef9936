"""Reconcile one trading day: the exchange's 5-minute candles against the curated live bars.

1. The day's universe: every symbol with a curated bar that day, every symbol named in that day's
   gap records, and the configured universe (``TICKPIPE_SYMBOLS``, every producer's; the caller's
   symbols too): a universe symbol without a single bar or gap record must still count as missing.
2. Their 5-minute candles are backfilled into ``candles_5m`` (the same code as `tickpipe backfill`:
   chunk markers, limits, retries), then read back.
3. ``curated/bars_5m`` of the day (the generation its compaction manifest names) is compared with
   them per (sym, start) by :func:`market.reconcile.compare_symbol`.
4. Written: ``curated/reconcile/dt=D/reconcile.parquet`` (one row per bucket with a bar or a
   candle: status, cause, fields that differ, differences) and
   ``curated/reconcile_daily/dt=D/summary.parquet`` (one row); both replaced on a re-run.
5. Metrics (EMF): ``ReconcileMismatchRate`` (percent), ``ReconcileMissingBars``,
   ``ReconcileGapBars``, ``ReconcileBarsWithoutCandle``; Terraform alarms on them (infra/history.tf).

The view ``bars_5m_final`` (sql/views/) then serves, per (sym, start), the candle where one exists
and the live bar otherwise.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, NotRequired, TypedDict

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from consumers.history.backfill import (
    STOP_MARGIN_MS,
    Backfill,
    BackfillReport,
    BackfillRequest,
    BackfillResponse,
)
from consumers.history.candles import CANDLES_5M, CandleWriter
from consumers.history.errors import NothingToReconcileError, ReconcileIncompleteError
from consumers.lake.schema import BARS
from fyers.history import HistoryClient
from market.reconcile import BarDiff, DaySummary, compare_symbol, summarize
from market.session import trading_date
from tickpipe import names

log = logging.getLogger(__name__)

RECONCILE: Final = "curated/reconcile/"
RECONCILE_DAILY: Final = "curated/reconcile_daily/"

DIFF_SCHEMA: Final = pa.schema([
    ("sym", pa.string()), ("start", pa.int64()), ("status", pa.string()), ("cause", pa.string()),
    ("fields", pa.string()), ("bar_vol", pa.int64()), ("candle_vol", pa.int64()), ("d_o", pa.float64()),
    ("d_h", pa.float64()), ("d_l", pa.float64()), ("d_c", pa.float64()), ("d_vol", pa.int64()),
])
SUMMARY_SCHEMA: Final = pa.schema([
    ("day", pa.string()), ("symbols", pa.int64()), ("candles", pa.int64()), ("bars", pa.int64()),
    ("compared", pa.int64()), ("matched", pa.int64()), ("differing", pa.int64()), ("missing_bars", pa.int64()),
    ("gap_bars", pa.int64()), ("bars_without_candle", pa.int64()), ("mismatch_rate", pa.float64()),
    ("volume_bars", pa.int64()), ("volume_candles", pa.int64()), ("causes", pa.string()),
])


def diff_key(day: str) -> str:
    return f"{RECONCILE}dt={day}/reconcile.parquet"


def summary_key(day: str) -> str:
    return f"{RECONCILE_DAILY}dt={day}/summary.parquet"


class ReconcileEvent(TypedDict, total=False):
    """A manual invoke's choice; the schedule's own event has neither key (today, the configured universe)."""

    day: str  # yyyy-MM-dd
    symbols: list[str]  # besides the configured universe


class ReconcileResponse(TypedDict):
    """The reconcile function's response: the day, and its summary (DaySummary's fields) and the
    backfill's report, or why nothing was done (``skipped``)."""

    day: str
    summary: NotRequired[dict[str, Any]]
    backfill: NotRequired[BackfillResponse]
    skipped: NotRequired[str]


@dataclass
class ReconcileResult:
    day: str
    summary: DaySummary
    diffs: list[BarDiff]
    backfill: BackfillReport

    def to_dict(self) -> ReconcileResponse:
        return {"day": self.day, "summary": self.summary.row(), "backfill": self.backfill.to_dict()}


class LakeReader:
    """What reconcile reads from the lake: curated bars, candles, gap records."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def bars(self, day: str) -> dict[str, dict[int, dict[str, Any]]]:
        doc = self.store.get_json(f"{BARS.state_prefix}dt={day}/manifest.json")
        out: dict[str, dict[int, dict[str, Any]]] = {}
        for f in (doc or {}).get("files", []):
            t = pq.read_table(io.BytesIO(self.store.get(f["key"])), columns=["sym", "start", "o", "h", "l", "c", "vol"])
            for row in t.to_pylist():
                out.setdefault(str(row["sym"]), {})[int(row["start"])] = row
        return out

    def candles(self, day: str) -> dict[str, dict[int, dict[str, Any]]]:
        t = CandleWriter(self.store).read_day(CANDLES_5M, day)
        out: dict[str, dict[int, dict[str, Any]]] = {}
        if t is None:
            return out
        for row in t.to_pylist():
            if row["res"] == 5:
                out.setdefault(str(row["sym"]), {})[int(row["start"])] = row
        return out

    def gaps(self, day: str) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        for obj in self.store.list(names.partition(names.GAPS, day)):
            try:
                gap = orjson.loads(self.store.get(obj["Key"]))
                for sym in gap["symbols"]:
                    out.setdefault(sym, []).append((int(gap["from"]), int(gap["to"])))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                log.warning("skipping unreadable gap record %s", obj["Key"])
        return out


def reconcile_day(day: dt.date, history: HistoryClient, store: Any, *, symbols: Iterable[str] = (),
                  clock: Any = time.time, progress: Any = None, deadline: Any = None) -> ReconcileResult:
    """Reconcile ``day``. When the candle fetch stops early (``deadline()`` turned true, the day's
    request budget is spent, the token was refused) or a symbol's request failed, nothing is compared or written and
    :class:`ReconcileIncompleteError` says so: a re-run (the scheduler's retry) continues the fetch."""
    key = day.isoformat()
    reader = LakeReader(store)
    bars = reader.bars(key)
    gaps = reader.gaps(key)
    universe = sorted(set(bars) | set(gaps) | {s for s in symbols if s})
    if not universe:  # an empty report would read as a perfect day, and replace the day's earlier one
        raise NothingToReconcileError(
            f"reconcile {key}: no curated bars (no compaction manifest {store.uri(f'{BARS.state_prefix}dt={key}/manifest.json')}), "
            "no gap records and no symbols given: nothing to compare, nothing written. Compact the day first, "
            "or name symbols to check (--symbols; in the event, \"symbols\")")
    request = BackfillRequest.make(universe, day, day, ["5"], today=trading_date(clock()))
    report = Backfill(history, store, clock=clock, progress=progress, deadline=deadline).run(request)
    if not report.ok:  # stopped early, or a symbol's request failed: its bars would all read `bar_without_candle`
        failed = "".join(f"; failed: {f}" for f in report.failed[:5])
        raise ReconcileIncompleteError(f"reconcile {key}: the exchange candles are incomplete ({report.summary()}"
                                       f"{failed}); nothing was written, run it again to continue")
    candles = reader.candles(key)
    diffs: list[BarDiff] = []
    for sym in universe:
        diffs += compare_symbol(sym, bars.get(sym, {}), candles.get(sym, {}), gaps.get(sym, ()))
    summary = summarize(key, diffs)
    _write(store, diff_key(key), pa.Table.from_pylist([d.row() for d in diffs], schema=DIFF_SCHEMA))
    _write(store, summary_key(key), pa.Table.from_pylist([summary.row()], schema=SUMMARY_SCHEMA))
    return ReconcileResult(key, summary, diffs, report)


def _write(store: Any, key: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    store.put(key, buf.getvalue())


METRICS: Final = {
    "ReconcileMissingBars": "missing_bars",
    "ReconcileGapBars": "gap_bars",
    "ReconcileBarsWithoutCandle": "bars_without_candle",
    "ReconcileDifferingBars": "differing",
}


def emit_metrics(summary: DaySummary) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="ReconcileMismatchRate", unit=MetricUnit.Percent, value=100 * summary.mismatch_rate,
                       namespace=names.METRIC_NAMESPACE):
        pass
    for name, attr in METRICS.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=getattr(summary, attr),
                           namespace=names.METRIC_NAMESPACE):
            pass


def configured_universe(sources: str) -> list[str]:
    """The symbols of ``TICKPIPE_SYMBOLS`` (tickpipe/universe.py), or none, with a warning, when it is unset."""
    if not sources:
        log.warning("reconcile: TICKPIPE_SYMBOLS is not set: only symbols with bars or gap records that day "
                    "are checked; a symbol with neither is not reported missing")
        return []
    from tickpipe.universe import load_universes

    return load_universes(sources)


def handler(event: ReconcileEvent | None, context: Any = None) -> ReconcileResponse:
    """Lambda entry point. The schedule (after each session) sends its own event: today (IST) is
    reconciled, if it traded. A manual invoke may pass ``{"day": "2026-11-26", "symbols": [...]}``."""
    from consumers.history.client import history_client
    from consumers.lake.store import LakeStore
    from market.session import NseCalendar
    from tickpipe.config import Settings

    event = event or {}
    settings = Settings.from_env()
    day = dt.date.fromisoformat(event["day"]) if event.get("day") else trading_date(time.time())
    if not event.get("day") and NseCalendar(settings.session_overrides).session(day) is None:
        log.info("reconcile: %s is not a trading day", day)
        return {"day": day.isoformat(), "skipped": "not a trading day"}
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    symbols = [*(event.get("symbols") or ()), *configured_universe(settings.symbols)]
    result = reconcile_day(day, history_client(settings), LakeStore(settings.bucket), symbols=symbols,
                           deadline=(lambda: remaining() < STOP_MARGIN_MS) if remaining else None)
    emit_metrics(result.summary)
    out = result.to_dict()
    log.info("reconcile: %s", orjson.dumps(out).decode())
    return out


