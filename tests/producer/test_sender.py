"""Sender: per-symbol order on a multi-shard stream, partial failures, reshards, unreachable Kinesis."""

from __future__ import annotations

import random

import boto3

from local.moto_server import free_port
from market.tick import make
from producer.aggregator import Aggregator
from producer.journal import Journal
from producer.sender import Sender
from producer.shards import load_shard_map
from producer.testing import FlakyKinesis, read_user_records, ticks_by_symbol

SYMBOLS = [f"NSE:S{i}-EQ" for i in range(40)]


def make_ticks(n: int, start: int = 0) -> list[dict]:
    rnd = random.Random(start)
    return [make(rnd.choice(SYMBOLS), 1_790_000_000 + i, 100.0, seq=i, pid="t", src="ws", rx=0)
            for i in range(start, start + n)]


def pipeline(client, stream, **kw):
    shard_map = load_shard_map(client, stream)
    sender = Sender(client, stream, shard_map, load_map=lambda: load_shard_map(client, stream),
                    backoff_base=0.001, backoff_cap=0.01, **kw)
    agg = Aggregator(shard_map, sender.submit, max_bytes=4096)
    sender.on_map_change = agg.set_shard_map
    return sender, agg


def assert_in_order_and_complete(kinesis, stream, ticks):
    got = ticks_by_symbol(read_user_records(kinesis, stream))
    for sym in {t["sym"] for t in ticks}:
        seqs = [t["seq"] for t in got.get(sym, [])]
        want = [t["seq"] for t in ticks if t["sym"] == sym]
        assert seqs == want, f"{sym}: order or content differs"


def test_every_tick_arrives_in_order_per_symbol_on_a_multi_shard_stream(kinesis, make_stream):
    stream = make_stream(shards=4)
    sender, agg = pipeline(kinesis, stream)
    ticks = make_ticks(1500)
    agg.add_ticks(ticks)
    agg.flush()
    assert sender.drain(30)
    assert sender.stats.ticks_sent == 1500
    assert_in_order_and_complete(kinesis, stream, ticks)


def test_failed_records_are_retried_without_being_overtaken(kinesis, make_stream):
    stream = make_stream(shards=4)
    flaky = FlakyKinesis(kinesis, lambda call, i, e: (call + i) % 3 == 0)
    sender, agg = pipeline(flaky, stream)
    ticks = make_ticks(1500)
    agg.add_ticks(ticks)
    agg.flush()
    assert sender.drain(60)
    assert flaky.failed > 0 and sender.stats.throttles == flaky.failed
    assert_in_order_and_complete(kinesis, stream, ticks)


def test_a_failed_call_is_retried_whole(kinesis, make_stream):
    stream = make_stream(shards=2)

    class Dropping(FlakyKinesis):
        def put_records(self, **kw):
            self.calls += 1
            if self.calls <= 3:
                raise ConnectionError("connection reset (injected)")
            return kinesis.put_records(**kw)

    sender, agg = pipeline(Dropping(kinesis, None), stream)
    ticks = make_ticks(500)
    agg.add_ticks(ticks)
    agg.flush()
    assert sender.drain(30)
    assert sender.stats.call_errors == 3
    assert_in_order_and_complete(kinesis, stream, ticks)


def test_records_follow_a_reshard_mid_run_and_keep_order(kinesis, make_stream):
    stream = make_stream(shards=2)
    sender, agg = pipeline(kinesis, stream, map_refresh=3600)
    first, second = make_ticks(1000), make_ticks(1000, start=1000)
    agg.add_ticks(first)
    agg.flush()
    sender.drain(30)
    kinesis.update_shard_count(StreamName=stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    agg.add_ticks(second[:500])  # built for the old map: must go out before the new map's records
    sender.refresh_map()
    agg.add_ticks(second[500:])
    agg.flush()
    assert sender.drain(30)
    assert len(agg.shard_map) == 4 and sender.stats.map_refreshes == 1
    assert_in_order_and_complete(kinesis, stream, first + second)


def test_unreachable_kinesis_spills_to_the_journal_and_replays_in_order(kinesis, make_stream, tmp_path):
    stream = make_stream(shards=2)
    journal = Journal(tmp_path / "journal")
    sender, agg = pipeline(kinesis, stream, journal=journal, spill_after=0.05)
    ticks = make_ticks(4000)
    agg.add_ticks(ticks[:1000])
    agg.flush()
    sender.drain(30)
    sender.kinesis = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{free_port()}",
                                  config=kinesis.meta.config)  # nothing listens there
    agg.add_ticks(ticks[1000:3000])
    agg.flush()
    assert not sender.drain(1.0)
    assert sender.spilling and journal.pending_entries > 0
    agg.add_ticks(ticks[3000:])  # still arriving while Kinesis is away: behind the journal
    agg.flush()
    sender.kinesis = kinesis  # Kinesis is back
    assert sender.drain(30)
    assert not sender.spilling and journal.pending_entries == 0
    assert_in_order_and_complete(kinesis, stream, ticks)


def test_journal_full_hands_the_records_over_for_a_gap(kinesis, make_stream, tmp_path):
    stream = make_stream(shards=1)
    dropped = []
    journal = Journal(tmp_path / "journal", max_bytes=10_000)
    dead = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{free_port()}", config=kinesis.meta.config)
    sender, agg = pipeline(kinesis, stream, journal=journal, spill_after=0.0, on_dropped=dropped.append)
    sender.kinesis = dead
    agg.add_ticks(make_ticks(500))
    agg.flush()
    sender.drain(0.5)
    sender.close()
    assert dropped and sender.stats.dropped_ticks == sum(r.count for r in dropped)
    assert sender.stats.dropped_ticks + sum(1 for _ in journal.dir.glob("seg-*")) > 0
    assert journal.disk_bytes <= 10_000


def test_close_keeps_undelivered_records_for_the_next_start(kinesis, make_stream, tmp_path):
    stream = make_stream(shards=2)
    dead = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{free_port()}", config=kinesis.meta.config)
    sender, agg = pipeline(kinesis, stream, journal=Journal(tmp_path / "j"))
    sender.kinesis = dead
    ticks = make_ticks(800)
    agg.add_ticks(ticks)
    agg.flush()
    sender.drain(0.3)
    sender.close()
    restarted, agg2 = pipeline(kinesis, stream, journal=Journal(tmp_path / "j"))
    assert restarted.spilling
    assert restarted.drain(30)
    assert_in_order_and_complete(kinesis, stream, ticks)
