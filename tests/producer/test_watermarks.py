"""producer/watermarks.py: when a producer tells its shards how far its feed has got, and that a
watermark reaches every shard behind every tick read before it."""

from __future__ import annotations

import datetime as dt
import time

import orjson

from market.session import NseCalendar, epoch
from market.tick import make
from market.watermark import Watermark, decode, is_watermark
from producer.aggregator import Aggregator
from producer.clock import FakeClock
from producer.metrics import Metrics
from producer.pipeline import Pipeline
from producer.shards import Shard, ShardMap, unknown_map
from producer.testing import read_user_records
from producer.watermarks import Watermarks, watermark_records
from tickpipe.kinesis import HASH_KEY_MAX
from tickpipe.kpl import keyed_records

DAY = dt.date(2026, 11, 26)  # a Thursday session
OPEN = epoch(DAY, dt.time(9, 15))
CLOSE = epoch(DAY, dt.time(15, 30))


class Wall:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def marks(clock_at: float, calendar: bool = True, min_wall_s: float = 0.0) -> tuple[Watermarks, FakeClock, Wall]:
    clock, wall = FakeClock(clock_at), Wall()
    return (Watermarks("p1", clock, NseCalendar() if calendar else None, monotonic=wall, min_wall_s=min_wall_s),
            clock, wall)


def test_in_session_a_watermark_goes_every_second_of_feed_time():
    w, _, wall = marks(OPEN + 100)
    assert w.due(0, None) is None  # nothing read yet: nothing to promise
    assert w.due(OPEN + 90, wall.now) == Watermark("p1", OPEN + 90, "open")
    assert w.due(OPEN + 90, wall.now) is None
    assert w.due(OPEN + 91, wall.now) == Watermark("p1", OPEN + 91, "open")


def test_watermarks_never_go_back():
    w, _, wall = marks(OPEN + 100)
    w.due(OPEN + 95, wall.now)
    assert w.due(OPEN + 90, wall.now) is None
    assert w.final(OPEN + 90).ts >= OPEN + 95


def test_after_the_close_a_drained_feed_gives_closed_watermarks_at_the_clocks_time():
    w, clock, wall = marks(CLOSE + 1)
    w.due(CLOSE - 30, wall.now)
    # the feed has not reached the close and is not quiet: its last ticks may still come
    wall.now = 1.0
    assert w.due(CLOSE - 20, 0.5) == Watermark("p1", CLOSE - 20, "open")
    wall.now = 3.0  # quiet for 2.5 s: drained
    clock.now = CLOSE + 3
    assert w.due(CLOSE - 20, 0.5) == Watermark("p1", CLOSE + 3, "closed")
    clock.now = CLOSE + 4
    assert w.due(CLOSE - 20, 0.5) == Watermark("p1", CLOSE + 4, "closed")


def test_a_feed_that_reached_the_close_has_drained():
    w, _, wall = marks(CLOSE + 2)
    assert w.due(CLOSE - 1, wall.now) == Watermark("p1", CLOSE + 2, "closed")


def test_without_a_calendar_the_feed_time_alone_moves_the_watermark():
    w, _, wall = marks(CLOSE + 500, calendar=False)
    assert w.due(CLOSE - 1, wall.now) == Watermark("p1", CLOSE - 1, "open")
    assert w.final(CLOSE - 1) == Watermark("p1", CLOSE + 500, "closed")


def test_one_record_per_open_shard_with_a_hash_key_in_its_range():
    third = HASH_KEY_MAX // 3
    shard_map = ShardMap([Shard("s0", 0, third), Shard("s1", third + 1, 2 * third), Shard("s2", 2 * third + 1,
                                                                                          HASH_KEY_MAX)])
    recs = watermark_records(Watermark("p1", OPEN), shard_map)
    assert [r.shard_id for r in recs] == ["s0", "s1", "s2"]
    assert all(s.start <= int(r.explicit_hash_key) <= s.end for r, s in zip(recs, shard_map.shards, strict=True))
    assert all(r.count == 0 for r in recs)  # no tick
    for rec, shard in zip(recs, shard_map.shards, strict=True):
        ((pk, data),) = keyed_records(rec.data)  # an aggregate holding the watermark alone
        assert decode(data) == Watermark("p1", OPEN)
        # a journal replay routes by partition key: this one leads back to the same shard
        assert shard_map.shard_for(pk) == shard
    assert watermark_records(Watermark("p1", OPEN), unknown_map()) == []


def test_every_shard_gets_watermarks_behind_every_tick_read_before_them(kinesis, make_stream):
    stream = make_stream(shards=4)
    marks_ = Watermarks("p1", FakeClock(OPEN), None)
    pipeline = Pipeline(kinesis, stream, journal=None, metrics=Metrics(), max_buffer_ms=50,
                        watermarks=marks_).start()
    symbols = [f"NSE:S{i}-EQ" for i in range(12)]  # spread over the 4 shards
    for second in range(6):
        pipeline.on_ticks([make(sym, OPEN + second, 100.0, ltt=OPEN + second, vol=second + 1, pid="p1")
                           for sym in symbols])
        time.sleep(0.15)  # the flush thread sends a watermark per second of feed time
    pipeline.final_watermark()
    assert pipeline.stop(timeout=20)
    by_shard: dict[str, list[dict]] = {}
    for shard, _, data in read_user_records(kinesis, stream):
        by_shard.setdefault(shard, []).append(orjson.loads(data) | {"_wm": is_watermark(data)})
    assert len(by_shard) == 4
    for shard, records in by_shard.items():
        wms = [i for i, r in enumerate(records) if r["_wm"]]
        assert len(wms) >= 3, shard
        assert records[-1]["_wm"] and records[-1]["state"] == "closed"
        for i in wms:  # every tick of this shard at or before the watermark's time is ahead of it
            later = [r for r in records[i + 1:] if not r["_wm"] and r["ts"] <= records[i]["ts"]]
            assert later == [], (shard, records[i])
    assert pipeline.sender.stats.ticks_sent == 6 * len(symbols)  # watermarks count as no tick


def test_watermarks_go_no_more_often_than_the_wall_clock_allows():
    w, _, wall = marks(OPEN + 100, min_wall_s=0.25)
    assert w.due(OPEN + 10, wall.now) is not None
    wall.now = 0.1  # a fast simulated clock: the feed moved 40 s in 0.1 s of wall time
    assert w.due(OPEN + 50, wall.now) is None
    wall.now = 0.3
    assert w.due(OPEN + 60, wall.now) == Watermark("p1", OPEN + 60, "open")


def test_a_watermark_in_an_aggregate_counts_as_no_tick_also_when_a_replay_mixes_it_with_ticks():
    # a journal replay re-aggregates what it reads back: the watermark lands among ticks
    records: list = []
    shard_map = ShardMap([Shard("s0", 0, HASH_KEY_MAX)])
    agg = Aggregator(shard_map, records.append)
    agg.add_ticks([make("NSE:A-EQ", OPEN, 1.0, ltt=OPEN, vol=1)])
    ((pk, data),) = keyed_records(watermark_records(Watermark("p1", OPEN), shard_map)[0].data)
    agg.add(pk, data)
    agg.add_ticks([make("NSE:B-EQ", OPEN, 1.0, ltt=OPEN, vol=1)])
    agg.flush()
    (rec,) = records
    assert rec.count == 2 and len(list(keyed_records(rec.data))) == 3
