"""Shard map: the shard Kinesis routes a partition key to, from ListShards."""

from __future__ import annotations

import pytest

from producer.errors import ShardMapError
from producer.shards import load_shard_map


def test_partition_keys_map_to_the_shard_kinesis_puts_them_on(kinesis, make_stream):
    stream = make_stream(shards=4)
    shard_map = load_shard_map(kinesis, stream)
    for sym in ["NSE:SBIN-EQ", "NSE:RELIANCE-EQ", "NSE:NIFTY50-INDEX", "BSE:SENSEX-INDEX", "NSE:TCS-EQ"]:
        put = kinesis.put_record(StreamName=stream, PartitionKey=sym, Data=b"x")
        assert shard_map.shard_for(sym).shard_id == put["ShardId"]


def test_closed_parents_are_left_out_after_a_split(kinesis, make_stream):
    stream = make_stream(shards=1)
    before = load_shard_map(kinesis, stream)
    parent = before.shards[0]
    kinesis.split_shard(StreamName=stream, ShardToSplit=parent.shard_id,
                        NewStartingHashKey=str((parent.start + parent.end) // 2))
    after = load_shard_map(kinesis, stream)
    assert len(after) == 2 and parent.shard_id not in after.ids
    assert after != before


def test_missing_stream_names_the_variable_to_set(kinesis):
    with pytest.raises(ShardMapError, match="TICKPIPE_STREAM"):
        load_shard_map(kinesis, "no-such-stream")
