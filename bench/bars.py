"""Bars consumer: ticks/s through the handler's CPU path, beside DuckDB computing the same bars.

Input, built once: an hour of realistic full-mode ticks for ``SYMBOLS`` symbols (every field a
socket tick has), encoded with market.tick, packed into KPL aggregates of ~25 KiB as the producer
writes them, and grouped into Lambda events the way the event source does (≤ 10,000 records and
≤ 6 MB of payload per invocation: with 25 KiB aggregates the payload limit is the one that binds).

Measured in this process on one core (CPU time of this process, best of 5 rounds that alternate
between the two, so that other work on a shared machine counts less):
- handler: BarsConsumer.fold over every event (base64, magic + md5 check, protobuf, JSON decode and
  market.tick's plausibility checks of every field, the bar fold: market.bars_fold; the decode, checks
  and fold in the native accelerator when it is built), state carried between events as in a
  tumbling window.
- baseline: DuckDB reading the same ticks as JSON lines and computing the same bars in SQL.
Target: the handler ≥ 300,000 ticks/s. Also printed: carried state, bytes per symbol.
"""

from __future__ import annotations

import base64
import os
import random
import tempfile
import time
from typing import Any

import orjson
from aws_kinesis_agg import deaggregator as _deaggregator  # noqa: F401 - messages_pb2's imports
from aws_kinesis_agg.messages_pb2 import AggregatedRecord

from market.bars import BarBuilder, build_bars
from market.bars_fold import NATIVE
from market.session import epoch
from market.tick import encode, make
from tickpipe.kpl import frame

SYMBOLS = 200
TICKS = 400_000
SPAN_S = 3600  # an hour of a 200-symbol shard: ~0.55 ticks/s and ~170 ticks per bar per symbol
AGG_BYTES = 25 * 1024
EVENT_RECORDS = 10_000
EVENT_BYTES = 6 * 1024 * 1024
TARGET = 300_000
ROUNDS = 5


def make_ticks(seed: int = 3) -> list[dict[str, Any]]:
    import datetime as dt

    rng = random.Random(seed)
    day = dt.date(2026, 11, 26)
    t0 = epoch(day, dt.time(9, 15))
    span = SPAN_S
    state = {f"NSE:SYM{i}-EQ": [100.0 + i, 0, 0.0, 100.0 + i, 100.0 + i] for i in range(SYMBOLS)}
    syms = list(state)
    out = []
    for k in range(TICKS):
        ts = t0 + k * span // TICKS
        sym = syms[rng.randrange(SYMBOLS)]
        s = state[sym]
        s[0] = round(max(1.0, s[0] + rng.choice((-0.05, 0.0, 0.05))), 2)
        q = rng.randint(1, 300)
        s[1] += q
        s[2] += q * s[0]
        s[3], s[4] = max(s[3], s[0]), min(s[4], s[0])
        p = s[0]
        out.append(make(sym, ts, p, ltt=ts, ltq=q, vol=s[1], atp=round(s[2] / s[1], 2), bid=p - 0.05,
                        ask=p + 0.05, bq=rng.randint(1, 999), aq=rng.randint(1, 999), tbq=123456, tsq=234567,
                        oi=None, dh=s[3], dl=s[4], op=100.0, pc=99.5, src="ws", pid="bench-1", seq=k,
                        rx=ts * 1000 + 7))
    return out


def aggregate(lines: list[tuple[str, bytes]]) -> list[bytes]:
    """KPL aggregates of ~AGG_BYTES (MAGIC · AggregatedRecord · md5), mixing symbols like a shard's."""
    out: list[bytes] = []
    agg, keys, size = AggregatedRecord(), {}, 0

    def close() -> None:
        body = agg.SerializeToString()
        out.append(frame(body))

    for pk, data in lines:
        if size + len(data) > AGG_BYTES and size:
            close()
            agg, keys, size = AggregatedRecord(), {}, 0
        if pk not in keys:
            keys[pk] = len(keys)
            agg.partition_key_table.append(pk)
        r = agg.records.add()
        r.partition_key_index = keys[pk]
        r.data = data
        size += len(data) + len(pk) // 4 + 6
    close()
    return out


def events(aggregates: list[bytes]) -> list[list[dict[str, Any]]]:
    out, cur, size = [], [], 0
    for i, data in enumerate(aggregates):
        b64 = base64.b64encode(data).decode()
        if cur and (len(cur) >= EVENT_RECORDS or size + len(b64) > EVENT_BYTES):
            out.append(cur)
            cur, size = [], 0
        cur.append({"kinesis": {"sequenceNumber": str(10**20 + i), "data": b64, "partitionKey": "p"},
                    "eventID": f"shardId-000000000000:{10**20 + i}"})
        size += len(b64)
    out.append(cur)
    return out


# The same bars in SQL, VWAP included (docs/bars.md "VWAP"): tick turnover Σ Δvol × ltp, clamped
# into what the rounded atp allows, then into [low, high].
DUCKDB_BARS = """
with t as (
  select distinct on (sym, ltt, vol, ltp) sym, ts, ltt, ltp, vol, atp from read_json_auto(?, format='newline_delimited')
  order by sym, ltt, vol, ltp
), u as (
  select *, ltt - ltt % 300 as start,
         (vol - coalesce(lag(vol) over (partition by sym order by vol, ltt), 0)) * ltp as traded
  from t
), b as (
  select sym, start, arg_min(ltp, (ltt, vol)) as o, max(ltp) as h, min(ltp) as l,
         arg_max(ltp, (ltt, vol)) as c, max(vol) as vol_cum, arg_max(atp * vol, vol) as turn, sum(traded) as tb,
         count(*) as n, min(ts) as first_ts, max(ts) as last_ts
  from u group by all
), v as (
  select *, vol_cum - coalesce(lag(vol_cum) over w, 0) as vol, turn - coalesce(lag(turn) over w, 0) as ta,
         0.005 * (vol_cum + coalesce(lag(vol_cum) over w, 0)) as tol
  from b window w as (partition by sym order by start)
)
select sym, start, o, h, l, c, vol,
       least(greatest(least(greatest(tb, ta - tol), ta + tol) / nullif(vol, 0), l), h) as vwap,
       n, vol_cum, first_ts, last_ts
from v
"""


def main() -> None:
    import duckdb

    from consumers.bars.handler import BarsConsumer
    from tickpipe.config import Settings

    ticks = make_ticks()
    lines = [(t["sym"], encode(t)) for t in ticks]
    aggs = aggregate(lines)
    evs = events(aggs)
    per_agg = sum(len(a) for a in aggs) / len(aggs)
    print(f"   input: {len(ticks):,} ticks, {SYMBOLS} symbols, {len(aggs):,} KPL records of {per_agg / 1024:.1f} KiB, "
          f"{len(evs)} Lambda events of ≤{EVENT_RECORDS:,} records / {EVENT_BYTES // 2**20} MB")

    consumer = BarsConsumer(Settings(env="bench"), s3=object(), firehose=object(), kinesis=object())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ticks.jsonl")
        with open(path, "wb") as f:
            f.writelines(line for _, line in lines)
        con = duckdb.connect()
        con.execute("set threads=1")
        # Rounds alternate between the two, so that both see the same machine (its speed drifts
        # by up to 2x over tens of seconds here); the best round of each is reported.
        best = dbest = float("inf")
        for _ in range(ROUNDS):
            builder, seq, nbars = BarBuilder(consumer.config), -1, 0
            t0 = time.process_time()
            for ev in evs:
                bars, poison, seq = consumer.fold(builder, ev, seq, "shardId-000000000000", until=len(ev))
                nbars += len(bars)
            best = min(best, time.process_time() - t0)
            assert not poison and builder.ticks == len(ticks)
            t0 = time.process_time()
            rows = con.execute(DUCKDB_BARS, [path]).fetchall()
            dbest = min(dbest, time.process_time() - t0)
    handler_rate = len(ticks) / best
    duck_rate = len(ticks) / dbest
    state = orjson.dumps(builder.to_state())

    # the two agree on the bars (DuckDB's SQL has no day-high rule, so compare where it cannot matter)
    ours = {(b["sym"], b["start"]): b for b in build_bars(ticks)}
    agree = sum(1 for r in rows if (k := (r[0], r[1])) in ours and ours[k]["vol"] == r[6] and ours[k]["n"] == r[8]
                and ours[k]["o"] == r[2] and ours[k]["c"] == r[5]
                and abs(ours[k]["vwap"] - r[7]) <= 1e-9 * r[7])
    fold = "native accelerator" if NATIVE else "Python only: the accelerator is not built here"
    print(f"   handler (de-aggregate, parse, fold; {fold}): {handler_rate:,.0f} ticks/s "
          f"({handler_rate / TARGET:.2f}x the {TARGET:,} target: {'met' if handler_rate >= TARGET else 'NOT met'})")
    print(f"   DuckDB (read JSON lines + SQL bars, 1 thread): {duck_rate:,.0f} ticks/s")
    print(f"   handler / DuckDB: {handler_rate / duck_rate:.2f}x;  bars: {len(ours):,}, "
          f"DuckDB agrees on vol, n, open, close, vwap for {agree:,} of {len(rows):,}")
    vwap_accuracy()
    print(f"   carried state: {len(state):,} bytes for {len(builder.syms)} symbols = "
          f"{len(state) / len(builder.syms):,.0f} bytes/symbol (Lambda's limit is 1 MB per shard)")


VWAP_SYMBOLS = 20


def vwap_accuracy() -> None:
    """The VWAP estimate against the simulator's true per-bar VWAP (every trade known), for bars
    built from 1 s quote snapshots and from every trade. Target: ≤ 1 bp at p99 from snapshots."""
    import datetime as dt

    from fyers.sim import SimConfig, Simulator
    from fyers.sim.instruments import instrument
    from fyers.sim.market import bar_vwaps, generate, snapshot_ticks

    day = dt.date(2026, 11, 26)
    symbols = [s for s in Simulator(SimConfig(seed=7, day=day)).symbols if "INDEX" not in s][:VWAP_SYMBOLS]
    for mode in ("snapshots", "every trade"):
        errors, outside = [], 0
        for sym in symbols:
            tl = generate(instrument(sym), day, 7)
            truth = bar_vwaps(tl)
            ticks = snapshot_ticks(tl, 1.0 if mode == "snapshots" else None)
            for bar in build_bars(ticks):
                errors.append(abs(bar["vwap"] / truth[bar["start"]] - 1) * 1e4)
                outside += not bar["l"] <= bar["vwap"] <= bar["h"]
        errors.sort()
        p99 = errors[int(0.99 * len(errors))]
        print(f"   VWAP vs the simulator's truth, {mode} ({len(errors):,} bars): median {errors[len(errors) // 2]:.3f} bp, "
              f"p99 {p99:.3f} bp, max {errors[-1]:.3f} bp, outside [low, high]: {outside}"
              + (f"  (target p99 ≤ 1 bp: {'met' if p99 <= 1 else 'NOT met'})" if mode == "snapshots" else ""))
