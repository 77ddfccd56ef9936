"""consumers/bars/watermark_net.py: after the close, an end-of-session watermark into every shard closes
the bars a producer left open; the bars function counts them (the alarm's metric)."""

from __future__ import annotations

import boto3
import pytest
from bars_reference import OPEN
from bars_stream import kpl_records, lake_bars, put
from botocore.exceptions import EndpointConnectionError

from consumers.bars.errors import SafetyNetError
from consumers.bars.handler import BarsConsumer
from consumers.bars.watermark_net import run, session_in_progress, write_watermarks
from local.kinesis_runner import KinesisRunner
from local.provision import provision
from market.tick import make
from market.watermark import ANY, decode
from producer.testing import read_user_records
from tickpipe.config import Settings

CLOSE = OPEN + 75 * 300


@pytest.fixture
def four_shards(aws):
    settings = Settings.from_env()
    provision(settings, shards=4)
    return settings


def test_every_open_shard_gets_one_watermark_for_every_producer(four_shards):
    kinesis = boto3.client("kinesis")
    assert run(four_shards, kinesis, now=CLOSE + 900) == {"written": 4, "ts": CLOSE + 900}
    records = read_user_records(kinesis, four_shards.stream)
    assert sorted(shard for shard, _, _ in records) == sorted(s["ShardId"] for s in
                                                              kinesis.list_shards(StreamName=four_shards.stream)["Shards"])
    assert {decode(data) for _, _, data in records} == {decode(records[0][2])}
    wm = decode(records[0][2])
    assert (wm.pid, wm.ts, wm.state) == (ANY, CLOSE + 900, "closed")


def test_nothing_is_written_while_a_session_is_in_progress(four_shards):
    kinesis = boto3.client("kinesis")
    assert run(four_shards, kinesis, now=CLOSE - 60)["written"] == 0
    assert read_user_records(kinesis, four_shards.stream) == []


def test_session_in_progress_follows_the_overrides():
    assert session_in_progress(OPEN + 10) and not session_in_progress(CLOSE)
    assert not session_in_progress(OPEN + 10, "2026-11-26=closed")
    assert session_in_progress(CLOSE + 3600, "2026-11-26=09:15-17:00")


def test_the_bars_a_dead_producer_left_open_close_and_are_counted(lake):
    ticks = [make("NSE:A-EQ", CLOSE - 200 + i, 100.0, ltt=CLOSE - 200 + i, vol=i + 1, atp=100.0, pid="p1")
             for i in range(5)]
    kinesis = boto3.client("kinesis")
    put(kinesis, lake.stream, kpl_records(ticks))  # then the producer dies: no closing watermark
    consumer = BarsConsumer(lake)
    runner = KinesisRunner(lake.stream, consumer.handle, batch_size=10, tumbling_window_s=60)
    runner.drain()
    assert lake_bars(boto3.client("s3"), lake.bucket) == []
    run(lake, kinesis, now=CLOSE + 900)
    runner.drain()
    (bar,) = lake_bars(boto3.client("s3"), lake.bucket)
    assert bar["start"] == CLOSE - 300 and consumer.counters["safety_net_bars"] == 1


class Refusing:
    """A Kinesis client whose PutRecords refuses the records for one shard ``times`` times."""

    def __init__(self, real, shard_start: str, times: int, error=None):
        self.real, self.shard_start, self.times, self.error, self.calls = real, shard_start, times, error, 0

    def list_shards(self, **kw):
        return self.real.list_shards(**kw)

    def put_records(self, *, StreamName, Records):  # noqa: N803
        self.calls += 1
        if self.error is not None:
            raise self.error
        refused = [r["ExplicitHashKey"] == self.shard_start and self.calls <= self.times for r in Records]
        kept = [r for r, x in zip(Records, refused, strict=True) if not x]
        it = iter(self.real.put_records(StreamName=StreamName, Records=kept)["Records"] if kept else [])
        results = [{"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"} if x
                   else next(it) for x in refused]
        return {"FailedRecordCount": sum(refused), "Records": results}


def test_a_refused_shard_is_retried_alone(four_shards):
    kinesis = boto3.client("kinesis")
    first = kinesis.list_shards(StreamName=four_shards.stream)["Shards"][0]
    client = Refusing(kinesis, first["HashKeyRange"]["StartingHashKey"], times=2)
    assert write_watermarks(client, four_shards.stream, CLOSE + 900, backoff_s=0) == 4
    assert client.calls == 3 and len(read_user_records(kinesis, four_shards.stream)) == 4


def test_a_shard_that_keeps_refusing_is_an_error_that_names_the_stream(four_shards):
    kinesis = boto3.client("kinesis")
    first = kinesis.list_shards(StreamName=four_shards.stream)["Shards"][0]
    client = Refusing(kinesis, first["HashKeyRange"]["StartingHashKey"], times=99)
    with pytest.raises(SafetyNetError, match=f"1 of 4 shards of {four_shards.stream}.*Rate exceeded"):
        write_watermarks(client, four_shards.stream, CLOSE + 900, backoff_s=0)


def test_an_unreachable_kinesis_is_an_error_not_a_crash(four_shards):
    # botocore's connection errors carry no response
    client = Refusing(boto3.client("kinesis"), "", 0, error=EndpointConnectionError(endpoint_url="http://x"))
    with pytest.raises(SafetyNetError, match="EndpointConnectionError"):
        write_watermarks(client, four_shards.stream, CLOSE + 900, backoff_s=0)

