"""The local Firehose: a KPL-aggregated stream lands in raw/ticks as Firehose would land it."""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator

from local.errors import PrefixError
from local.firehose_pump import FirehosePump, deaggregate, evaluate_prefix
from local.provision import RAW_TICKS_PREFIX, provision
from market import tick as tickmod
from tickpipe import names

KEY = re.compile(
    r"^raw/ticks/dt=(\d{4}-\d{2}-\d{2})/hh=(\d{2})/tickpipe-test-raw-1-(\d{4}-\d{2}-\d{2})-(\d{2})-\d{2}-\d{2}-[0-9a-f-]{36}\.gz$"
)


def put_aggregated(kinesis, stream: str, ticks: list[dict]) -> int:
    """Write ticks as the producer does: KPL-aggregated records, partition key = sym. Returns records put."""
    per_sym: dict[str, list[bytes]] = {}
    for t in ticks:
        per_sym.setdefault(t["sym"], []).append(tickmod.encode(t))
    records = []
    for sym, datas in per_sym.items():
        agg = RecordAggregator()
        for d in datas:
            full = agg.add_user_record(sym, d)
            if full:
                records.append(full)
        records.append(agg.clear_and_get())
    for r in records:
        pk, _ehk, data = r.get_contents()
        kinesis.put_record(StreamName=stream, PartitionKey=pk, Data=data)
    return len(records)


def landed(s3, bucket: str) -> dict[str, bytes]:
    objs = s3.list_objects_v2(Bucket=bucket, Prefix=names.RAW_TICKS).get("Contents", [])
    return {o["Key"]: gzip.decompress(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in objs}


def test_deaggregate_returns_user_records_of_a_kpl_record():
    agg = RecordAggregator()
    for i in range(3):
        agg.add_user_record("NSE:SBIN-EQ", f"line {i}\n".encode())
    _pk, _ehk, data = agg.clear_and_get().get_contents()
    assert deaggregate(data) == [b"line 0\n", b"line 1\n", b"line 2\n"]


def test_deaggregate_passes_a_plain_record_through():
    assert deaggregate(b'{"sym":"NSE:SBIN-EQ"}\n') == [b'{"sym":"NSE:SBIN-EQ"}\n']


def test_prefix_expressions_evaluate_like_firehose():
    at = datetime(2026, 11, 26, 4, 5, 6, tzinfo=UTC)
    assert evaluate_prefix(RAW_TICKS_PREFIX, at) == "raw/ticks/dt=2026-11-26/hh=04/"
    assert evaluate_prefix("x/!{firehose:error-output-type}/!{timestamp:yyyy'/'MM}/", at, error_output_type="e") == "x/e/2026/11/"
    with pytest.raises(PrefixError, match="partitionKeyFromQuery"):
        evaluate_prefix("!{partitionKeyFromQuery:sym}/", at)


def test_pump_lands_every_aggregated_tick_once_in_hourly_partitions(lake, aws, factory):
    kinesis, s3 = aws.client("kinesis"), aws.client("s3")
    ticks = factory.ticks(factory.symbols(12), 40)
    assert put_aggregated(kinesis, lake.stream, ticks) < len(ticks)  # really aggregated
    pump = FirehosePump(lake, session=aws)
    pump.drain()

    objects = landed(s3, lake.bucket)
    assert objects, "nothing landed in raw/ticks"
    for key in objects:
        m = KEY.match(key)
        assert m, f"not a Firehose object name: {key}"
        assert m.group(1) == m.group(3) and m.group(2) == m.group(4)  # partition = arrival time of the object
    got = [line + b"\n" for body in objects.values() for line in body.splitlines()]
    assert sorted(got) == sorted(tickmod.encode(t) for t in ticks)


def test_pump_resumes_from_its_checkpoint_without_redelivering(lake, aws, factory):
    kinesis, s3 = aws.client("kinesis"), aws.client("s3")
    first, second = factory.ticks(factory.symbols(3), 10), factory.ticks(factory.symbols(3), 10, start=10**9 + 7200)
    put_aggregated(kinesis, lake.stream, first)
    FirehosePump(lake, session=aws).drain()
    put_aggregated(kinesis, lake.stream, second)
    FirehosePump(lake, session=aws).drain()  # a restarted pump: reads the checkpoint from state/
    got = sorted(line + b"\n" for body in landed(s3, lake.bucket).values() for line in body.splitlines())
    assert got == sorted(tickmod.encode(t) for t in first + second)


def test_buffers_split_by_the_delivery_streams_size_hint(lake, aws, factory):
    kinesis, s3 = aws.client("kinesis"), aws.client("s3")
    ticks = factory.ticks(factory.symbols(4), 50)
    put_aggregated(kinesis, lake.stream, ticks)
    pump = FirehosePump(lake, session=aws)
    pump.delivery.config = type(pump.delivery.config)(**{**vars(pump.delivery.config), "buffer_bytes": 8 * 1024})
    pump.drain()
    objects = landed(s3, lake.bucket)
    assert len(objects) > 1
    assert sum(len(b.splitlines()) for b in objects.values()) == len(ticks)


def test_nothing_is_left_in_motos_staging_layout(lake, aws, factory):
    put_aggregated(aws.client("kinesis"), lake.stream, factory.ticks(factory.symbols(2), 5))
    FirehosePump(lake, session=aws).drain()
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=lake.bucket).get("Contents", [])]
    assert not [k for k in keys if "!{" in k]


def test_provision_is_idempotent(lake, aws):
    provision(lake, shards=2)
    fh = aws.client("firehose")
    assert sorted(fh.list_delivery_streams()["DeliveryStreamNames"]) == [lake.bars_firehose, lake.raw_firehose]
    raw = fh.describe_delivery_stream(DeliveryStreamName=lake.raw_firehose)["DeliveryStreamDescription"]
    assert raw["DeliveryStreamType"] == "KinesisStreamAsSource"


def test_bars_delivery_stream_lands_like_firehose_after_direct_puts(lake, aws, factory):
    from local.firehose_pump import FirehoseDelivery

    fh, s3 = aws.client("firehose"), aws.client("s3")
    bars = factory.bars(factory.symbols(3), 4)
    data = [tickmod.encode(b) for b in bars]  # the same JSON-line encoding the bars Lambda writes
    fh.put_record_batch(DeliveryStreamName=lake.bars_firehose, Records=[{"Data": d} for d in data[:6]])
    fh.put_record_batch(DeliveryStreamName=lake.bars_firehose, Records=[{"Data": d} for d in data[6:]])
    delivery = FirehoseDelivery(lake.bars_firehose, s3=s3, firehose=fh)
    assert delivery.flush() == []  # neither full nor expired yet: Firehose would still be buffering
    (key,) = delivery.flush(force=True)
    assert re.match(r"^raw/bars/dt=\d{4}-\d{2}-\d{2}/hh=\d{2}/tickpipe-test-bars-1-.*\.gz$", key)
    body = gzip.decompress(s3.get_object(Bucket=lake.bucket, Key=key)["Body"].read())
    # moto names staged objects to the second, so two puts in one second may swap: compare as lines.
    assert sorted(body.splitlines()) == sorted(d.rstrip(b"\n") for d in data)


def test_pump_follows_a_reshard_and_still_lands_every_tick_once(lake, aws, factory):
    kinesis, s3 = aws.client("kinesis"), aws.client("s3")
    before, after = factory.ticks(factory.symbols(8), 10), factory.ticks(factory.symbols(8), 10, start=10**9 + 3600)
    put_aggregated(kinesis, lake.stream, before)
    pump = FirehosePump(lake, session=aws)
    pump.poll()
    kinesis.update_shard_count(StreamName=lake.stream, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    put_aggregated(kinesis, lake.stream, after)  # lands on the child shards
    pump.drain()
    got = sorted(line + b"\n" for body in landed(s3, lake.bucket).values() for line in body.splitlines())
    assert got == sorted(tickmod.encode(t) for t in before + after)
