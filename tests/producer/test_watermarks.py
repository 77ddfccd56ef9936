"""producer/watermarks.py: when a producer tells its shards how far its feed has got, and that a
watermark reaches every shard behind every tick read before it."""

from __future__ import annotations

import datetime as dt

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.session import NseCalendar, epoch
from market.tick import make
from market.watermark import Watermark, decode, is_watermark
from producer.aggregator import Aggregator
from producer.clock import FakeClock
from producer.metrics import Metrics
from producer.pipeline import Pipeline
from producer.sender import Sender
from producer.shards import Shard, ShardMap, load_shard_map, unknown_map
from producer.testing import FlakyKinesis, read_user_records
from producer.watermarks import Watermarks, add_watermark
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


THIRDS = ShardMap([Shard("s0", 0, HASH_KEY_MAX // 3), Shard("s1", HASH_KEY_MAX // 3 + 1, 2 * (HASH_KEY_MAX // 3)),
                   Shard("s2", 2 * (HASH_KEY_MAX // 3) + 1, HASH_KEY_MAX)])


def test_one_record_per_open_shard_with_a_hash_key_in_its_range():
    records: list = []
    assert add_watermark(Aggregator(THIRDS, records.append), Watermark("p1", OPEN)) == 3
    assert [r.shard_id for r in records] == ["s0", "s1", "s2"]
    assert all(s.start <= int(r.explicit_hash_key) <= s.end for r, s in zip(records, THIRDS.shards, strict=True))
    assert all(r.count == 0 for r in records)  # no tick
    for rec, shard in zip(records, THIRDS.shards, strict=True):
        ((pk, data),) = keyed_records(rec.data)  # an aggregate holding the watermark alone
        assert decode(data) == Watermark("p1", OPEN)
        # a journal replay routes by partition key: this one leads back to the same shard
        assert THIRDS.shard_for(pk) == shard


def test_no_watermark_while_the_shard_map_is_not_known():
    records: list = []
    assert add_watermark(Aggregator(unknown_map(), records.append), Watermark("p1", OPEN)) == 0
    assert records == []


def test_a_watermark_rides_in_the_same_record_as_its_shards_buffered_ticks():
    records: list = []
    agg = Aggregator(THIRDS, records.append)
    tick = make("NSE:A-EQ", OPEN, 1.0, ltt=OPEN, vol=1)
    agg.add_ticks([tick])
    add_watermark(agg, Watermark("p1", OPEN))
    (rec,) = [r for r in records if r.shard_id == THIRDS.shard_for("NSE:A-EQ").shard_id]
    (_, first), (_, second) = keyed_records(rec.data)  # one record: the tick, then the watermark
    assert orjson.loads(first) == tick and decode(second) == Watermark("p1", OPEN)
    assert rec.count == 1
    assert len(records) == 3 and agg.buffered == 0  # every shard got its record; nothing lingers


def test_every_shard_gets_watermarks_behind_every_tick_read_before_them(kinesis, make_stream):
    stream = make_stream(shards=4)
    marks_ = Watermarks("p1", FakeClock(OPEN), None, min_wall_s=0.0)
    pipeline = Pipeline(kinesis, stream, journal=None, metrics=Metrics(), max_buffer_ms=50,
                        watermarks=marks_).start()
    symbols = [f"NSE:S{i}-EQ" for i in range(12)]  # spread over the 4 shards
    for second in range(6):  # each second of feed time sends a watermark as its first frame is read
        pipeline.on_ticks([make(sym, OPEN + second, 100.0, ltt=OPEN + second, vol=second + 1, pid="p1")
                           for sym in symbols])
    pipeline.final_watermark()
    assert pipeline.stop(timeout=20)
    by_shard: dict[str, list[dict]] = {}
    for shard, _, data in read_user_records(kinesis, stream):
        by_shard.setdefault(shard, []).append(orjson.loads(data) | {"_wm": is_watermark(data)})
    assert len(by_shard) == 4
    for shard, records in by_shard.items():
        wms = [i for i, r in enumerate(records) if r["_wm"]]
        assert len(wms) == 7, shard  # one a second, then the final one
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
    alone: list = []
    add_watermark(Aggregator(shard_map, alone.append), Watermark("p1", OPEN))
    ((pk, data),) = keyed_records(alone[0].data)
    agg.add(pk, data)
    agg.add_ticks([make("NSE:B-EQ", OPEN, 1.0, ltt=OPEN, vol=1)])
    agg.flush()
    (rec,) = records
    assert rec.count == 2 and len(list(keyed_records(rec.data))) == 3


def test_a_tick_that_moves_the_feed_time_sends_the_due_watermark_at_once(kinesis, make_stream):
    # No worker thread runs: what reaches the sender comes from on_ticks (the socket thread) alone.
    stream = make_stream(shards=3)
    pipeline = Pipeline(kinesis, stream, journal=None, metrics=Metrics(), max_buffer_ms=60_000,
                        watermarks=Watermarks("p1", FakeClock(OPEN + 60), None, min_wall_s=0.0))
    symbols = [f"NSE:S{i}-EQ" for i in range(9)]
    pipeline.on_ticks([make(sym, OPEN + 1, 100.0, ltt=OPEN + 1, vol=1, pid="p1") for sym in symbols])
    pipeline.on_ticks([make(symbols[0], OPEN + 1, 101.0, ltt=OPEN + 1, vol=2, pid="p1")])  # same second: none
    assert pipeline.sender.drain(20)
    by_shard: dict[str, list[bytes]] = {}
    for shard, _, data in read_user_records(kinesis, stream):
        by_shard.setdefault(shard, []).append(data)
    assert len(by_shard) == 3
    for records in by_shard.values():
        # the watermark went the moment its tick was read, behind it; the later tick of that second lingers
        assert decode(records[-1]) == Watermark("p1", OPEN + 1)
        assert sum(map(is_watermark, records)) == 1
    assert pipeline.sender.stats.records_sent == 3  # each shard's ticks and its watermark in one record


SYMS = [f"NSE:S{i}-EQ" for i in range(16)]
OPS = st.lists(st.one_of(
    st.tuples(st.just("ticks"), st.lists(st.sampled_from(SYMS), min_size=1, max_size=25)),  # a frame
    st.just(("second",)),  # the feed time moves on
    st.just(("watermark",)),
    st.just(("linger",)),  # the aggregator's buffers reach their max age
    # one PutRecords call; True: Kinesis refuses that record (throttled), the others land
    st.tuples(st.just("call"), st.lists(st.booleans(), max_size=6)),
), max_size=50)
STREAMS = iter(range(1_000_000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, shards=st.integers(1, 4))
def test_no_watermark_overtakes_a_tick_read_before_it(kinesis, make_stream, ops, shards):
    stream = make_stream(f"wm-order-{next(STREAMS)}", shards=shards)
    refuse: list[bool] = []
    flaky = FlakyKinesis(kinesis, lambda call, i, entry: i < len(refuse) and refuse[i])
    shard_map = load_shard_map(kinesis, stream)
    sender = Sender(flaky, stream, shard_map, backoff_base=0.0, backoff_cap=0.0)
    agg = Aggregator(shard_map, sender.submit, max_bytes=1024)  # small: full buffers emit mid-frame
    second, seq = OPEN, 0
    shard_of: dict[int, str] = {}  # seq of every tick read -> the shard its symbol hashes to
    read_before: list[set[int]] = []  # per watermark sent: the seq of every tick read before it
    for op in ops:
        if op[0] == "ticks":
            frame = []
            for sym in op[1]:
                seq += 1
                frame.append(make(sym, second, 100.0, ltt=second, vol=seq, seq=seq, pid="p1"))
                shard_of[seq] = shard_map.shard_for(sym).shard_id
            agg.add_ticks(frame)
        elif op[0] == "second":
            second += 1
        elif op[0] == "watermark":
            add_watermark(agg, Watermark("p1", second))
            read_before.append(set(shard_of))
        elif op[0] == "linger":
            agg.flush_due(now=float("inf"))
        else:
            refuse[:] = op[1]
            sender.step(wait=0.0)
    refuse.clear()
    agg.flush()
    assert sender.drain(30)

    stream_order: dict[str, list[tuple[str, bytes]]] = {s.shard_id: [] for s in shard_map.shards}
    for shard, pk, data in read_user_records(kinesis, stream):
        stream_order[shard].append((pk, data))
    delivered: list[int] = []
    for shard, records in stream_order.items():
        ahead: set[int] = set()  # ticks ahead of this point in the shard
        last_seq: dict[str, int] = {}
        watermarks = 0
        for pk, data in records:
            if is_watermark(data):
                must_be_ahead = {s for s in read_before[watermarks] if shard_of[s] == shard}
                assert must_be_ahead <= ahead, f"{shard}: watermark {watermarks} overtook {must_be_ahead - ahead}"
                watermarks += 1
                continue
            tick = orjson.loads(data)
            assert tick["sym"] == pk and shard_of[tick["seq"]] == shard
            assert tick["seq"] > last_seq.get(pk, 0), f"{pk} out of order"  # per-symbol order kept
            last_seq[pk] = tick["seq"]
            ahead.add(tick["seq"])
            delivered.append(tick["seq"])
        assert watermarks == len(read_before)  # every watermark reached every shard, once
    assert sorted(delivered) == sorted(shard_of)  # every tick, once
