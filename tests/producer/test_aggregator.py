"""Aggregation: records readable by aws-kinesis-agg, grouped by shard, within the PUT unit budget."""

from __future__ import annotations

import base64

from aws_kinesis_agg.deaggregator import deaggregate_records
from hypothesis import given, settings
from hypothesis import strategies as st

from market.tick import decode, encode, make
from producer.aggregator import PUT_UNIT_BYTES, Aggregator
from producer.shards import Shard, ShardMap
from tickpipe.kinesis import HASH_KEY_MAX, hash_key
from tickpipe.kpl import keyed_records


def even_map(n: int) -> ShardMap:
    step = (HASH_KEY_MAX + 1) // n
    return ShardMap(Shard(f"shardId-{i:012d}", i * step, HASH_KEY_MAX if i == n - 1 else (i + 1) * step - 1)
                    for i in range(n))


def lambda_event_records(recs):
    return [{"kinesis": {"kinesisSchemaVersion": "1.0", "data": base64.b64encode(r.data).decode(),
                         "partitionKey": r.partition_key, "sequenceNumber": str(i),
                         "approximateArrivalTimestamp": 0}} for i, r in enumerate(recs)]


def tick(sym: str, i: int) -> dict:
    return make(sym, 1_790_000_000 + i, 100.0 + i / 100, vol=i, seq=i, src="ws", pid="p1", rx=1_790_000_000_000)


def test_aws_kinesis_agg_reads_every_user_record_in_order():
    out = []
    agg = Aggregator(even_map(1), out.append)
    ticks = [tick(f"NSE:S{i % 7}-EQ", i) for i in range(500)]
    agg.add_ticks(ticks)
    agg.flush()
    users = deaggregate_records(lambda_event_records(out))
    assert [decode(base64.b64decode(u["kinesis"]["data"])) for u in users] == ticks
    assert [u["kinesis"]["partitionKey"] for u in users] == [t["sym"] for t in ticks]


def test_records_fill_put_units_without_exceeding_them():
    out = []
    agg = Aggregator(even_map(2), out.append)
    agg.add_ticks([tick(f"NSE:S{i % 50}-EQ", i) for i in range(20_000)])
    full = list(out)  # emitted because the next tick would not fit
    assert all(r.size <= PUT_UNIT_BYTES for r in full)
    assert min(r.size for r in full) >= 0.97 * PUT_UNIT_BYTES


def test_each_record_holds_only_keys_of_its_shard():
    shard_map = even_map(4)
    out = []
    agg = Aggregator(shard_map, out.append)
    agg.add_ticks([tick(f"NSE:S{i % 40}-EQ", i) for i in range(3000)])
    agg.flush()
    for rec in out:
        shard = shard_map.get(rec.shard_id)
        assert rec.explicit_hash_key == str(shard.start)
        assert all(shard.start <= hash_key(pk) <= shard.end for pk, _ in keyed_records(rec.data))


def test_old_buffers_flush_after_max_age_only():
    now = [0.0]
    out = []
    agg = Aggregator(even_map(1), out.append, max_age=0.1, clock=lambda: now[0])
    agg.add("NSE:A-EQ", b"x\n")
    now[0] = 0.05
    assert agg.flush_due() == 0
    now[0] = 0.1
    assert agg.flush_due() == 1
    assert out[0].count == 1 and out[0].created == 0.0


def test_new_shard_map_flushes_what_was_buffered_for_the_old_one():
    out = []
    agg = Aggregator(even_map(1), out.append)
    agg.add("NSE:A-EQ", b"a\n")
    agg.set_shard_map(even_map(2))
    assert len(out) == 1 and out[0].shard_id == "shardId-000000000000"
    assert agg.buffered == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["NSE:A-EQ", "NSE:BB-EQ", "BSE:SENSEX-INDEX", "NSE:Ü-EQ"]),
                          st.binary(min_size=0, max_size=3000)), max_size=60),
       st.integers(min_value=512, max_value=40_000))
def test_aggregated_records_round_trip_through_aws_kinesis_agg(items, max_bytes):
    out = []
    agg = Aggregator(even_map(3), out.append, max_bytes=max_bytes)
    for pk, data in items:
        agg.add(pk, data)
    agg.flush()
    users = deaggregate_records(lambda_event_records(out))
    got = [(u["kinesis"]["partitionKey"], base64.b64decode(u["kinesis"]["data"])) for u in users]
    shard_map = even_map(3)
    for sid in shard_map.ids:  # per shard (hence per key), order is kept
        want = [(pk, d) for pk, d in items if shard_map.shard_for(pk).shard_id == sid]
        assert [x for r in out if r.shard_id == sid for x in keyed_records(r.data)] == want
    assert sorted(got) == sorted(items)
    assert all(r.size <= max_bytes or r.count == 1 for r in out)


def test_tick_lines_end_with_newline():
    out = []
    agg = Aggregator(even_map(1), out.append)
    t = tick("NSE:A-EQ", 1)
    agg.add_ticks([t])
    agg.flush()
    assert list(keyed_records(out[0].data)) == [("NSE:A-EQ", encode(t))]
