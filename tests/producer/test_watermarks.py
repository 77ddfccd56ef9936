"""producer/watermarks.py: when a producer tells its shards how far its feed has got, and that a
watermark reaches every shard behind every tick read before it."""

from __future__ import annotations

import datetime as dt
import time

import orjson

from market.session import NseCalendar, epoch
from market.tick import make
from market.watermark import Watermark, decode, is_watermark
from producer.clock import FakeClock
from producer.metrics import Metrics
from producer.pipeline import Pipeline
from producer.shards import Shard, ShardMap, unknown_map
from producer.testing import read_user_records
from producer.watermarks import Watermarks, watermark_records

DAY = dt.date(2026, 11, 26)  # a Thursday session
OPEN = epoch(DAY, dt.time(9, 15))
CLOSE = epoch(DAY, dt.time(15, 30))


class Wall:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def marks(clock_at: float, calendar: bool = True) -> tuple[Watermarks, FakeClock, Wall]:
    clock, wall = FakeClock(clock_at), Wall()
    return Watermarks("p1", clock, NseCalendar() if calendar else None, monotonic=wall), clock, wall


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


def test_one_plain_record_per_open_shard_with_a_hash_key_in_its_range():
    shard_map = ShardMap([Shard("s0", 0, 99), Shard("s1", 100, 199), Shard("s2", 200, 299)])
    recs = watermark_records(Watermark("p1", OPEN), shard_map)
    assert [r.shard_id for r in recs] == ["s0", "s1", "s2"]
    assert all(s.start <= int(r.explicit_hash_key) <= s.end for r, s in zip(recs, shard_map.shards, strict=True))
    assert all(decode(r.data) == Watermark("p1", OPEN) and r.count == 0 for r in recs)
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


def test_no_watermark_while_the_sender_spills_to_the_journal(kinesis, make_stream):
    stream = make_stream(shards=2)
    pipeline = Pipeline(kinesis, stream, journal=None, metrics=Metrics(),
                        watermarks=Watermarks("p1", FakeClock(OPEN), None))
    pipeline.sender.spilling = True  # ticks are waiting in the journal: a watermark would overtake them
    pipeline.on_ticks([make("NSE:A-EQ", OPEN + 5, 1.0, ltt=OPEN + 5, vol=1)])
    submitted = []
    pipeline.sender.submit = submitted.append
    pipeline.final_watermark()
    assert not any(is_watermark(r.data) for r in submitted)
