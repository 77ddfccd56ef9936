"""Producer watermarks close bars on time: idle symbols and the day's last bar, per producer."""

from __future__ import annotations

import boto3
import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from bars_reference import OPEN
from bars_stream import kpl_records, lake_bars, lake_objects, put
from hypothesis import given
from hypothesis import strategies as st

from consumers.bars.handler import BarsConsumer
from consumers.bars.io import QUARANTINE
from local.kinesis_runner import KinesisRunner
from market.bars import BarBuilder, BarConfig
from market.errors import WatermarkError
from market.tick import encode, make
from market.watermark import ANY, Watermark, decode, drop_watermark_lines, is_watermark

CLOSE = OPEN + 75 * 300


def tick(sym: str, ts: int, ltp: float, vol: int, pid: str = "p1"):
    return make(sym, ts, ltp, ltt=ts, vol=vol, atp=ltp, pid=pid, src="ws", seq=0)


# ----- the record ---------------------------------------------------------------------------------

@given(pid=st.text(min_size=1, max_size=40), ts=st.integers(0, 2**40 - 1), state=st.sampled_from(["open", "closed"]))
def test_a_watermark_round_trips_and_is_told_from_a_tick(pid, ts, state):
    wm = Watermark(pid, ts, state)
    data = wm.encode()
    assert decode(data) == wm and is_watermark(data) and data.endswith(b"\n")
    assert not is_watermark(encode(tick("NSE:A-EQ", OPEN, 1.0, 1)))


@pytest.mark.parametrize("data, reason", [
    (b'{"kind":"wm","pid":"p","ts":1,"state":"open"', "not JSON"),
    (b'{"kind":"wm","pid":"p","ts":1,"state":"open","v":2}', "version"),
    (b'{"kind":"wm","pid":"","ts":1,"state":"open","v":1}', "'pid'"),
    (b'{"kind":"wm","pid":"p","ts":"1","state":"open","v":1}', "'ts'"),
    (b'{"kind":"wm","pid":"p","ts":-1,"state":"open","v":1}', "'ts'"),
    (b'{"kind":"wm","pid":"p","ts":1,"state":"late","v":1}', "'state'"),
    (b'[1]', "not a watermark"),
])
def test_a_bad_watermark_is_an_error_that_says_why(data, reason):
    with pytest.raises(WatermarkError, match=reason):
        decode(data)


def test_raw_lines_lose_their_watermarks_and_keep_every_tick():
    lines = b'{"sym":"NSE:A-EQ","ts":1}\n' + Watermark("p", 5).encode() + b'{"sym":"NSE:B-EQ","ts":2}\n'
    kept, dropped = drop_watermark_lines(lines)
    assert dropped == 1 and kept == b'{"sym":"NSE:A-EQ","ts":1}\n{"sym":"NSE:B-EQ","ts":2}\n'
    assert drop_watermark_lines(kept) == (kept, 0)



@pytest.mark.parametrize("line", [b'"kind":"wm"', b'{"kind":"wm"}', b'{"kind":"wm","pid":"p","ts":1,"state":"late","v":1}',
                                  b'{"sym":"NSE:A-EQ","kind":"wm"'])
def test_a_line_that_only_claims_to_be_a_watermark_stays_for_the_readers_quarantine(line):
    lines = b'{"sym":"NSE:A-EQ","ts":1}\n' + line + b"\n" + Watermark("p", 5).encode()
    kept, dropped = drop_watermark_lines(lines)
    assert dropped == 1 and kept == b'{"sym":"NSE:A-EQ","ts":1}\n' + line + b"\n"

# ----- the rule (market.bars.BarBuilder.watermark) -----------------------------------------------

def test_a_producer_watermark_closes_its_idle_symbols_bar_at_end_plus_grace():
    b = BarBuilder(BarConfig(grace_s=2))
    b.add(tick("NSE:IDLE-EQ", OPEN + 10, 50.0, 5))
    b.watermark("p1", OPEN + 301)
    assert b.take() == []
    b.watermark("p1", OPEN + 302)
    assert [(bar["sym"], bar["start"], bar["rev"]) for bar in b.take()] == [("NSE:IDLE-EQ", OPEN, 0)]


def test_the_days_last_bar_closes_by_the_closing_watermark_without_a_later_tick():
    b = BarBuilder()
    b.add(tick("NSE:A-EQ", CLOSE - 5, 100.0, 10))
    b.watermark("p1", CLOSE + 2)
    (bar,) = b.take()
    assert bar["start"] == CLOSE - 300


def test_a_shared_shard_closes_each_producers_symbols_by_its_own_watermark():
    b = BarBuilder()
    b.add(tick("NSE:A-EQ", OPEN + 10, 100.0, 10, pid="p1"))
    b.add(tick("NSE:B-EQ", OPEN + 10, 200.0, 10, pid="p2"))
    b.watermark("p1", OPEN + 400)
    assert [bar["sym"] for bar in b.take()] == ["NSE:A-EQ"]  # p2 has not got there: its feed may lag
    b.watermark("p2", OPEN + 302)
    assert [bar["sym"] for bar in b.take()] == ["NSE:B-EQ"]


def test_the_safety_nets_watermark_closes_every_producers_bars():
    b = BarBuilder()
    b.add(tick("NSE:A-EQ", CLOSE - 100, 100.0, 10, pid="p1"))
    b.add(make("NSE:B-EQ", CLOSE - 100, 200.0, ltt=CLOSE - 100, vol=10, atp=200.0))  # no pid: old producer
    b.watermark(ANY, CLOSE + 900)
    assert sorted(bar["sym"] for bar in b.take()) == ["NSE:A-EQ", "NSE:B-EQ"]


def test_a_tick_after_the_watermark_amends_its_bar():
    b = BarBuilder()
    b.add(tick("NSE:A-EQ", OPEN + 10, 100.0, 10))
    b.watermark("p1", OPEN + 310)
    (first,) = b.take()
    b.add(tick("NSE:A-EQ", OPEN + 20, 101.0, 20))  # traded before the watermark, arrived after it
    (amended,) = b.take()
    assert (first["rev"], amended["rev"], amended["vol"], amended["c"]) == (0, 1, 20, 101.0)


def test_a_watermark_behind_the_symbols_own_moves_nothing():
    b = BarBuilder()
    b.add(tick("NSE:A-EQ", OPEN + 10, 100.0, 10))
    b.add(tick("NSE:A-EQ", OPEN + 250, 100.0, 11))
    b.watermark("p1", OPEN + 100)
    assert b.take() == [] and b.syms["NSE:A-EQ"][5] == OPEN + 250


# ----- the handler --------------------------------------------------------------------------------

def run(settings, consumer, records):
    put(boto3.client("kinesis"), settings.stream, records)
    KinesisRunner(settings.stream, consumer.handle, batch_size=7, tumbling_window_s=60).drain()


def aggregated(pk: str, data: bytes) -> bytes:
    """A KPL aggregate holding one user record (as the producer writes its watermarks)."""
    agg = RecordAggregator()
    agg.add_user_record(pk, data)
    return agg.clear_and_get().get_contents()[2]


@pytest.mark.parametrize("form", ["plain", "aggregated"])
def test_without_flush_the_last_bar_and_idle_bars_arrive_by_watermarks(lake, form):
    ticks = [tick("NSE:A-EQ", OPEN + 30 * i, 100.0 + i % 3, 10 * (i + 1)) for i in range(20)]
    ticks += [tick("NSE:IDLE-EQ", OPEN + 5, 50.0, 7), tick("NSE:A-EQ", CLOSE - 3, 100.0, 500)]
    records = kpl_records(ticks, per_record=5, mix_symbols=True)
    wm = Watermark("p1", CLOSE + 2, "closed").encode()
    records.append(("wm:p1", wm if form == "plain" else aggregated("wm:p1", wm)))
    consumer = BarsConsumer(lake)
    run(lake, consumer, records)
    bars = {(b["sym"], b["start"]) for b in lake_bars(boto3.client("s3"), lake.bucket)}
    assert ("NSE:IDLE-EQ", OPEN) in bars and ("NSE:A-EQ", CLOSE - 300) in bars
    assert consumer.counters["watermarks"] == 1 and consumer.counters["ticks"] == len(ticks)


def test_a_bad_watermark_is_quarantined_and_the_shard_goes_on(lake):
    bad = b'{"kind":"wm","pid":"p1","ts":"soon","state":"open","v":1}\n'
    ticks = [tick("NSE:A-EQ", OPEN + 10, 100.0, 10), tick("NSE:A-EQ", OPEN + 400, 101.0, 20)]
    consumer = BarsConsumer(lake)
    run(lake, consumer, [("wm:p1", bad), *kpl_records(ticks)])
    (doc,) = lake_objects(boto3.client("s3"), lake.bucket, QUARANTINE).values()
    assert "'ts'" in doc["reason"] and doc["data"] == bad.decode()
    assert [b["start"] for b in lake_bars(boto3.client("s3"), lake.bucket)] == [OPEN]


def test_a_watermark_among_ticks_in_one_aggregate_applies_between_them(lake):
    # what a producer's journal replay writes: ticks, the watermark, more ticks, in one aggregate
    before = [tick("NSE:A-EQ", OPEN + 10, 100.0, 10), tick("NSE:IDLE-EQ", OPEN + 20, 50.0, 5)]
    after = [tick("NSE:A-EQ", OPEN + 310, 101.0, 20)]
    agg = RecordAggregator()
    for t in before:
        agg.add_user_record(t["sym"], encode(t))
    agg.add_user_record("wm:p1:0", Watermark("p1", OPEN + 302).encode())
    for t in after:
        agg.add_user_record(t["sym"], encode(t))
    consumer = BarsConsumer(lake)
    pk, _, data = agg.clear_and_get().get_contents()
    run(lake, consumer, [(pk, data)])
    bars = lake_bars(boto3.client("s3"), lake.bucket)
    assert sorted((b["sym"], b["start"], b["n"]) for b in bars) == [("NSE:A-EQ", OPEN, 1), ("NSE:IDLE-EQ", OPEN, 1)]
    assert consumer.counters["quarantined"] == 0 and consumer.counters["ticks"] == 3
