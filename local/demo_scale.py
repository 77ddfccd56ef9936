"""The demo at scale: a universe beyond the default one, producer slices, a bounded session, and
the figures per component that the summary shows (measured by local/component_metrics.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import boto3

from consumers.history.reconcile import ReconcileResult, reconcile_day
from consumers.lake.store import LakeStore
from fyers.history import Candle, HistoryClient
from fyers.rest import RestClient
from fyers.sim import Simulator
from fyers.socket import MAX_SYMBOLS
from fyers.token_store import TokenStore
from local import component_metrics as cm
from local.errors import ScaleError
from market.session import OPEN, Session, epoch, ist_datetime
from producer.service import ProducerStats
from tickpipe.config import Settings
from tickpipe.universe import take_slice

# Fyers allows 200 REST calls a minute, and the history client keeps to it: the first symbols' candles
# come through the history API, the rest of a large universe straight from the simulator's market
# model, which is what its history endpoint serves (a 5,000-symbol run would wait 25 minutes).
HISTORY_API_SYMBOLS = 100


def cut_session(session: Session, until: dt.time | None) -> Session:
    """The session from its open to ``until`` (a bounded demo run), as a special session is cut."""
    if until is None:
        return session
    close = epoch(session.day, until)
    if not session.open_ts + 300 <= close <= session.close_ts:
        raise ScaleError(f"--to {until:%H:%M} must be at least 5 minutes after the {OPEN:%H:%M} open and at most "
                         f"the {ist_datetime(session.close_ts):%H:%M} close")
    return Session(session.day, session.open_ts, close, special=True)


def session_overrides(session: Session) -> str:
    """TICKPIPE_SESSION_OVERRIDES for a cut session (the producer and the bars handler read it)."""
    if not session.special:
        return ""
    return f"{session.day}={ist_datetime(session.open_ts):%H:%M}-{ist_datetime(session.close_ts):%H:%M}"


def demo_symbols(n: int, day: dt.date) -> list[str]:
    """``n`` instruments: the simulator's default universe, and beyond it its equities and future
    followed by generated NSE equities. The generated universe leaves the indices out: the curated
    tick table's key (sym, ltt, vol, ltp) still folds index ticks, which have no ltt or vol, into one
    per price (the corrected tick-identity rule, /work/shared/DESIGN.md, is not in yet)."""
    from fyers.sim.instruments import default_symbols, instrument
    from fyers.symbols import is_index

    base = default_symbols(day)
    if n <= len(base):
        return base[:n]
    out = [s for s in base if not is_index(s)]
    # The simulator derives a made-up symbol's exchange token from a hash of its name, so two names
    # can share a token (and a socket topic); skip such names so that every symbol has its own topic.
    topics = {instrument(s).topic for s in out}
    i = 0
    while len(out) < n:
        name = f"NSE:SIM{i:05d}-EQ"
        topic = instrument(name).topic
        if topic not in topics:
            topics.add(topic)
            out.append(name)
        i += 1
    return out


def producer_slices(symbols: list[str], producers: int) -> list[list[str]]:
    """The symbols each producer subscribes to (hash slices, as ``--slice K/N`` takes them). Raises
    :class:`ScaleError` when a slice would exceed one connection's limit or be empty."""
    if producers == 1:
        slices = [symbols]
    else:
        slices = [take_slice(symbols, k, producers) for k in range(1, producers + 1)]
    for k, part in enumerate(slices, 1):
        if len(part) > MAX_SYMBOLS:
            raise ScaleError(f"producer {k} of {producers} would carry {len(part):,} symbols, more than the "
                             f"{MAX_SYMBOLS:,} one Fyers connection takes: use --producers {producers + 1} or more")
        if not part:
            raise ScaleError(f"producer {k} of {producers} would have no symbols: use fewer --producers")
    return slices


def merge_stats(stats: list[ProducerStats]) -> ProducerStats:
    """The producers' stats added up (one ProducerStats per slice)."""
    total = ProducerStats()
    for one in stats:
        for f in dataclasses.fields(ProducerStats):
            value = getattr(one, f.name)
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                setattr(total, f.name, getattr(total, f.name) + value)
            elif isinstance(value, list):
                getattr(total, f.name).extend(value)
    total.delivered_at_stop = bool(stats) and all(s.delivered_at_stop for s in stats)
    return total


class ScaledHistory:
    """The Fyers history client for a large demo universe: the first HISTORY_API_SYMBOLS symbols'
    candles through the history API, the others straight from the simulator's market model, which
    is what its history endpoint serves them from. Quacks like :class:`HistoryClient` for the demo's
    comparison and for reconcile's backfill (``candles``, ``requests``, ``access_token_source``)."""

    def __init__(self, api: HistoryClient, sim: Simulator, symbols: list[str]) -> None:
        self.api = api
        self.sim = sim
        self.via_api = set(symbols[:HISTORY_API_SYMBOLS])

    @property
    def requests(self) -> int:
        return self.api.requests

    @property
    def access_token_source(self) -> Any:
        return self.api.access_token_source

    def candles(self, symbol: str, resolution: int | str, start: int, end: int) -> list[Candle]:
        if symbol in self.via_api:
            return self.api.candles(symbol, resolution, start, end)
        return [Candle(int(c[0]), c[1], c[2], c[3], c[4], int(c[5])) for c in self.sim.candles(symbol, resolution)
                if start <= c[0] <= end]


def reconcile(settings: Settings, sim: Simulator, session: Session, symbols: list[str]) -> ReconcileResult:
    """local/demo_history.py's reconcile for a large universe, its candles through ScaledHistory."""
    api = HistoryClient(RestClient(settings.fyers_api_url), sim.config.app_id,
                        lambda: TokenStore(boto3.client("ssm", region_name=settings.region),
                                           settings.ssm_prefix).load_access_token())
    return reconcile_day(session.day, ScaledHistory(api, sim, symbols), LakeStore(settings.bucket),  # type: ignore[arg-type]
                         symbols=symbols, clock=sim.clock.now)


def components(producers: int, sim: Simulator, stats: ProducerStats, bars_counters: dict[str, int],
               handler: cm.MeteredHandler, cpu: cm.ThreadCpu, reports: list[Any], compact_cpu: float,
               session_wall: float) -> dict[str, dict[str, Any]]:
    """What each component did and cost (local/component_metrics.py says how it is measured)."""
    threads = cpu.totals() if cpu.available else {}
    handled = bars_counters["ticks"] + bars_counters["duplicates"]
    ticks_report = next((r for r in reports if r.table == "ticks"), None)
    rows = ticks_report.rows_out if ticks_report else 0
    state = max(handler.peak_state.values()) if handler.peak_state else 0
    out: dict[str, dict[str, Any]] = {
        "simulator (Fyers)": {"ticks": sim.published_ticks, "ticks/s": cm.rate(sim.published_ticks, session_wall),
                              "CPU s per M ticks": cm.per_million(threads.get("simulator"), sim.published_ticks)},
        f"producers ({producers})": {
            "ticks": stats.ticks_sent, "ticks/s": cm.rate(stats.ticks_sent, session_wall),
            "CPU s per M ticks": cm.per_million(threads.get("producers"), stats.ticks_sent),
            "Kinesis records": stats.records_sent, "PUT units": handler.put_units,
            "ticks per record": round(stats.ticks_sent / stats.records_sent, 1) if stats.records_sent else None},
        "bars handler": {
            "ticks": handled, "ticks/s": cm.rate(handled, session_wall),
            "CPU s per M ticks": cm.per_million(handler.cpu, handled), "invocations": handler.invocations,
            "peak state bytes per shard": state, "of Lambda's 1 MB": f"{state / 1e6:.0%}"},
        "firehose pump": {"CPU s per M ticks": cm.per_million(threads.get("firehose pump"), stats.ticks_sent)},
        "compaction": {
            "ticks": rows, "CPU s per M ticks": cm.per_million(compact_cpu, rows),
            "Parquet bytes per tick": round(ticks_report.bytes_out / rows, 1) if rows else None},
        "demo process": {"peak RSS MiB": round(cm.process_peak_rss_mib() or 0),
                         "holds": "simulator, producers, bars handler, Firehose pump, compaction (threads)"},
    }
    for pid in cm.child_pids():
        out[f"moto server (AWS stand-in, pid {pid})"] = {
            "CPU s": round(cm.process_cpu(pid) or 0, 1), "peak RSS MiB": round(cm.process_peak_rss_mib(pid) or 0)}
    return out
