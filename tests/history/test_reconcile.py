"""Reconcile a day (consumers/history/reconcile.py) and the SQL over its results, on DuckDB over the moto server:
sql/ddl/candles_*, reconcile*, sql/views/bars_5m_final.sql and sql/queries/{candles_daily,
reconcile_causes,final_bar_sources}.sql."""

from __future__ import annotations

import datetime as dt
import gzip

import orjson
import pytest

from consumers.history.candles import CANDLES_5M, CandleWriter
from consumers.history.reconcile import reconcile_day
from consumers.lake.compact import CompactOptions, Compactor
from consumers.lake.schema import BARS
from local.query import QUERY_DIR, LocalEngine, query_file
from market.session import NseCalendar, epoch
from tickpipe import names

from .conftest import AFTER, SIM_DAY, client

SBIN, TCS = "NSE:SBIN-EQ", "NSE:TCS-EQ"
DAY = dt.date(2026, 11, 19)
OPEN = epoch(DAY, dt.time(9, 15))
EDGE, SHIFT, GAP, LOST = OPEN + 300 * 10, OPEN + 300 * 11, range(OPEN + 300 * 20, OPEN + 300 * 24, 300), OPEN + 300 * 40
LATE = epoch(DAY, dt.time(15, 30))  # a live bar where the exchange has no candle


def bar(sym: str, c: dict) -> dict:
    return {"sym": sym, "start": c["start"], "o": c["o"], "h": c["h"], "l": c["l"], "c": c["c"], "vol": c["vol"],
            "vwap": round((c["h"] + c["l"]) / 2, 2), "n": 5, "vol_cum": 0, "first_ts": c["start"],
            "last_ts": c["start"] + 299, "oi": 0, "rev": 0, "v": 1}


@pytest.fixture
def world(history_sim, store, settings, limiter_path):
    """The exchange's candles of DAY (backfilled) and live bars built from them with known faults:
    SBIN misses a closing trade at EDGE, shifts 100 shares from SHIFT into the next bucket, has no bars
    in GAP (a gap record covers it) nor at LOST (no record), and one bar after the close; TCS equals."""
    sim = history_sim([SBIN, TCS])
    history = client(sim, limiter_path)
    from consumers.history.backfill import Backfill, BackfillRequest

    Backfill(history, store, clock=lambda: AFTER).run(BackfillRequest.make([SBIN, TCS], DAY - dt.timedelta(days=3), DAY,
                                                                         ["5", "D"], today=SIM_DAY))
    rows = CandleWriter(store).read_day(CANDLES_5M, DAY.isoformat()).to_pylist()
    bars = []
    for c in (r for r in rows if r["res"] == 5):
        b = bar(c["sym"], c)
        if c["sym"] == SBIN:
            if c["start"] == EDGE:
                b["c"] = round(c["c"] + 0.05, 2)
                b["h"] = max(b["h"], b["c"])
            elif c["start"] == SHIFT:
                b["vol"] -= 100
            elif c["start"] == SHIFT + 300:
                b["vol"] += 100
            elif c["start"] in GAP or c["start"] == LOST:
                continue
        bars.append(b)
    extra = bar(SBIN, {"start": LATE, "o": 800.0, "h": 800.0, "l": 800.0, "c": 800.0, "vol": 10})
    bars.append(extra)
    s3 = store.s3
    s3.put_object(Bucket=store.bucket, Key=f"{names.partition(names.RAW_BARS, DAY.isoformat(), 10)}bars-1.gz",
                  Body=gzip.compress(b"".join(orjson.dumps(b) + b"\n" for b in bars)))
    gap = {"symbols": [SBIN], "from": GAP[0] + 20, "to": GAP[-1] + 200, "reason": "disconnect", "pid": "dev-producer",
           "recorded": GAP[-1] + 200, "v": 1}
    store.put_json(f"{names.partition(names.GAPS, DAY.isoformat())}dev-producer-{gap['from']}-disconnect-0.json", gap)
    Compactor(settings, BARS, store=store, options=CompactOptions(), today=DAY).run([DAY.isoformat()])
    result = reconcile_day(DAY, history, store, clock=lambda: AFTER)
    return {"result": result, "candles": [r for r in rows if r["res"] == 5], "settings": settings}


def by_start(result, sym):
    return {d.start: d for d in result.diffs if d.sym == sym}


def test_each_difference_gets_its_cause(world):
    sbin = by_start(world["result"], SBIN)
    assert (sbin[EDGE].status, sbin[EDGE].cause, sbin[EDGE].fields, sbin[EDGE].d_c) == (
        "differs", "missed_trade_at_edge", "c", pytest.approx(0.05))
    assert [(sbin[s].cause, sbin[s].d_vol) for s in (SHIFT, SHIFT + 300)] == [("volume_shifted", -100),
                                                                             ("volume_shifted", 100)]
    assert {sbin[s].cause for s in GAP} == {"missing_in_gap"} and sbin[LOST].cause == "missing_bar"
    assert (sbin[LATE].status, sbin[LATE].cause) == ("no_candle", "bar_without_candle")
    assert {d.status for d in by_start(world["result"], TCS).values()} == {"match"}


def test_the_daily_summary_counts_them(world):
    s = world["result"].summary
    assert (s.symbols, s.candles, s.bars, s.compared, s.matched, s.differing) == (2, 150, 146, 145, 142, 3)
    assert (s.missing_bars, s.gap_bars, s.bars_without_candle) == (1, 4, 1)
    assert s.mismatch_rate == pytest.approx(3 / 145, abs=1e-6)
    assert s.causes == "missing_in_gap=4,missing_bar=1,bar_without_candle=1,missed_trade_at_edge=1,volume_shifted=2"


def test_a_second_reconcile_asks_fyers_nothing_and_writes_the_same(world, history_sim, store, limiter_path):
    history = client(history_sim([SBIN, TCS]), limiter_path)
    again = reconcile_day(DAY, history, store, clock=lambda: AFTER)
    assert again.backfill.requests == 0 and again.summary == world["result"].summary


@pytest.fixture
def engine(world):
    return LocalEngine(world["settings"])


def test_reconcile_tables_hold_the_diffs_and_the_summary(engine, world):
    rows = engine.run(f"SELECT count(*), count_if(status = 'match') FROM reconcile WHERE dt = '{DAY}'").rows
    assert rows == [(len(world["result"].diffs), 142)]
    summary = engine.run(f"SELECT day, compared, differing, gap_bars FROM reconcile_daily WHERE dt = '{DAY}'").rows
    assert summary == [(DAY.isoformat(), 145, 3, 4)]


def test_reconcile_causes_query(engine):
    got = query_file(engine, QUERY_DIR / "reconcile_causes.sql", {"day": DAY.isoformat()}).rows
    assert [tuple(r[:4]) for r in got] == [
        ("missing_bar", "missing_in_gap", 4, 1), ("differs", "volume_shifted", 2, 1),
        ("differs", "missed_trade_at_edge", 1, 1), ("missing_bar", "missing_bar", 1, 1),
        ("no_candle", "bar_without_candle", 1, 1)]
    assert got[1][4] == 200


def test_bars_5m_final_takes_candles_and_fills_with_live_bars(engine, world):
    got = query_file(engine, QUERY_DIR / "final_bar_sources.sql", {"day": DAY.isoformat()}).rows
    volume = {s: sum(c["vol"] for c in world["candles"] if c["sym"] == s) for s in (SBIN, TCS)}
    assert [tuple(r) for r in got] == [(SBIN, 76, 75, 1, 1, volume[SBIN] + 10), (TCS, 75, 75, 0, 0, volume[TCS])]
    edge = engine.run(f"SELECT c, source FROM bars_5m_final WHERE dt = '{DAY}' AND sym = '{SBIN}' AND start = {EDGE}")
    candle = next(c for c in world["candles"] if c["sym"] == SBIN and c["start"] == EDGE)
    assert edge.rows == [(candle["c"], "candle")]  # the exchange's close, not the live bar's


def test_candles_daily_query(engine):
    got = query_file(engine, QUERY_DIR / "candles_daily.sql",
                     {"sym": SBIN, "from": (DAY - dt.timedelta(days=3)).isoformat(), "to": DAY.isoformat()}).rows
    sessions = [s.day.isoformat() for s in NseCalendar().sessions(DAY - dt.timedelta(days=3), DAY)]
    assert [r[0] for r in got] == sessions and got[0][6] is None
    assert got[1][6] == pytest.approx(got[1][4] - got[0][4], abs=0.006)


def test_a_symbol_whose_candles_failed_stops_the_reconcile_without_writing(world, history_sim, store, limiter_path):
    """A failed candle request leaves that symbol without candles: comparing anyway would call every
    one of its bars `bar_without_candle` and alarm on it. Nothing is written; a re-run continues."""
    from consumers.history.errors import ReconcileIncompleteError
    from consumers.history.reconcile import diff_key

    day = DAY - dt.timedelta(days=1)  # no marker, no reconcile yet
    sim = history_sim([SBIN, TCS])
    sim.faults.reject(-300)  # Fyers refuses the first request (invalid symbol): not transient
    with pytest.raises(ReconcileIncompleteError, match="incomplete"):
        reconcile_day(day, client(sim, limiter_path), store, symbols=[SBIN, TCS], clock=lambda: AFTER)
    assert list(store.list(diff_key(day.isoformat()))) == []
    again = reconcile_day(day, client(sim, limiter_path), store, symbols=[SBIN, TCS], clock=lambda: AFTER)
    assert again.backfill.ok and again.summary.symbols == 2 and again.summary.missing_bars == again.summary.candles > 0


def test_a_day_without_bars_or_gap_records_is_refused_and_overwrites_nothing(world, history_sim, store, limiter_path):
    """No bars, no gap records, no symbols asked for (a lake without the compaction manifests, or a
    day the producer never ran): there is nothing to compare, and an empty report would read as a
    perfect day. The earlier reconcile of the day stays."""
    from consumers.history.errors import NothingToReconcileError
    from consumers.history.reconcile import diff_key

    before = store.get(diff_key(DAY.isoformat()))
    gaps = [o["Key"] for o in store.list(names.partition(names.GAPS, DAY.isoformat()))]
    store.delete([f"{BARS.state_prefix}dt={DAY}/manifest.json", *gaps])
    with pytest.raises(NothingToReconcileError, match="no curated bars") as refused:
        reconcile_day(DAY, client(history_sim([SBIN]), limiter_path), store, clock=lambda: AFTER)
    assert store.uri(f"{BARS.state_prefix}dt={DAY}/manifest.json") in str(refused.value)  # the file to look for
    assert store.get(diff_key(DAY.isoformat())) == before
