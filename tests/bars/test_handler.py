"""consumers.bars.handler against the moto server, driven by the local runner exactly as Lambda would."""

from __future__ import annotations

import hashlib

import boto3
import msgspec
import orjson
import pytest
from bars_reference import reference_bars, strip, synthetic_day, vwaps_in_range, without_vwap
from bars_stream import kpl_records, kpl_runs, lake_bars, lake_objects, put

from consumers.bars.events import WindowResponse
from consumers.bars.handler import BarsConsumer
from consumers.bars.io import CHECKPOINTS, QUARANTINE
from local.kinesis_runner import KinesisRunner
from local.provision import provision
from market.bars import curated
from market.tick import make


def run(settings, consumer, **kw):
    kw.setdefault("batch_size", 7)
    kw.setdefault("tumbling_window_s", 60)
    runner = KinesisRunner(settings.stream, kw.pop("handler", consumer.handle), **kw)
    runner.drain()
    consumer.flush("shardId-000000000000")  # the end of the stream: close what is open
    return runner


def curated_lake(settings):
    return strip(curated(lake_bars(boto3.client("s3"), settings.bucket)))


def test_bars_across_batches_and_windows_equal_the_reference(lake):
    ticks = synthetic_day(11, symbols=3, trades=150, span=1800)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, per_record=15, mix_symbols=True))
    consumer = BarsConsumer(lake)
    runner = run(lake, consumer)
    assert runner.counters.invocations > 5  # state crossed many invocations
    assert curated_lake(lake) == reference_bars(ticks)
    assert consumer.counters["ticks"] == len(ticks)


def test_plain_records_are_accepted_beside_aggregates(lake):
    ticks = synthetic_day(12, symbols=2, trades=40, span=900, with_index=False)
    kinesis = boto3.client("kinesis")
    put(kinesis, lake.stream, kpl_records(ticks[:40], mix_symbols=True))
    put(kinesis, lake.stream, [(t["sym"], orjson.dumps(t) + b"\n") for t in ticks[40:]])
    run(lake, BarsConsumer(lake))
    assert curated_lake(lake) == reference_bars(ticks)


def test_state_larger_than_the_budget_is_carried_in_the_lake(lake):
    ticks = synthetic_day(13, symbols=3, trades=100, span=1500)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, per_record=10, mix_symbols=True))
    consumer = BarsConsumer(lake, state_budget=1_000)
    states = []

    def handler(event, context):
        resp = consumer.handle(event, context)
        states.append(resp["state"])
        return resp

    run(lake, consumer, handler=handler)
    assert any("ref" in s and "b" not in s for s in states)
    assert all(len(orjson.dumps(s)) < 1_000 for s in states)
    assert curated_lake(lake) == reference_bars(ticks)


def test_poison_is_quarantined_with_its_reason_and_the_shard_goes_on(lake):
    ticks = synthetic_day(14, symbols=2, trades=60, span=1200, with_index=False)
    runs = kpl_runs(ticks, per_record=20, mix_symbols=True)
    good = [(pk, data) for pk, data, _ in runs]
    pk, data = good[1]
    corrupt = data[:-1] + bytes([data[-1] ^ 0xFF])  # md5 no longer matches
    wrong_schema = make("NSE:SBIN-EQ", ticks[0]["ts"], 1.0, vol="many")
    kinesis = boto3.client("kinesis")
    put(kinesis, lake.stream, [good[0], ("x", b"not json at all\n"), (pk, corrupt),
                               ("NSE:SBIN-EQ", orjson.dumps(wrong_schema) + b"\n"), *good[2:]])
    consumer = BarsConsumer(lake)
    run(lake, consumer)
    reasons = sorted(doc["reason"] for doc in lake_objects(boto3.client("s3"), lake.bucket, QUARANTINE).values())
    assert len(reasons) == 3 and consumer.counters["quarantined"] == 3
    assert any("md5" in r for r in reasons) and any("not JSON" in r for r in reasons)
    assert any("'vol' must be an integer" in r for r in reasons)
    # the corrupt aggregate's ticks are the only ones missing
    lost = {orjson.dumps(t) for t in runs[1][2]}
    assert curated_lake(lake) == reference_bars([t for t in ticks if orjson.dumps(t) not in lost])


def test_unreachable_firehose_gives_a_partial_batch_response_and_nothing_is_lost(lake):
    ticks = synthetic_day(15, symbols=2, trades=120, span=1800)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, per_record=10, mix_symbols=True))
    firehose = boto3.client("firehose")
    firehose.delete_delivery_stream(DeliveryStreamName=lake.bars_firehose)
    consumer = BarsConsumer(lake)
    consumer.sink.backoff_s = 0.01
    responses = []

    def handler(event, context):
        resp = consumer.handle(event, context)
        responses.append(resp)
        if resp["batchItemFailures"] and len([r for r in responses if r["batchItemFailures"]]) == 2:
            provision(lake, shards=1)  # the delivery stream is back
        return resp

    runner = run(lake, consumer, handler=handler)
    failed = [r for r in responses if r["batchItemFailures"]]
    assert len(failed) == 2 and runner.counters.partial_failures == 2
    assert curated_lake(lake) == reference_bars(ticks)


def test_every_response_is_a_time_window_event_response_lambda_can_read(lake):
    """consumers.bars.events.WindowResponse, checked on the handler's real answers: a success, and a
    partial batch response naming the record to retry while the bars Firehose is away."""
    ticks = synthetic_day(16, symbols=1, trades=40, span=600, with_index=False)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, per_record=10))
    boto3.client("firehose").delete_delivery_stream(DeliveryStreamName=lake.bars_firehose)
    consumer = BarsConsumer(lake)
    consumer.sink.backoff_s = 0.01
    responses = []

    def handler(event, context):
        responses.append(consumer.handle(event, context))
        if responses[-1]["batchItemFailures"]:
            provision(lake, shards=1)  # the delivery stream is back for the retry
        return responses[-1]

    run(lake, consumer, handler=handler)
    typed = [msgspec.convert(r, WindowResponse) for r in responses]
    assert typed == responses
    assert any(r["batchItemFailures"] for r in typed) and not typed[-1]["batchItemFailures"]
    assert all(f["itemIdentifier"].isdigit() for r in typed for f in r["batchItemFailures"])


def test_crash_between_emitting_bars_and_saving_state_gives_the_same_curated_bars(lake):
    ticks = synthetic_day(16, symbols=2, trades=120, span=1800)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, per_record=10, mix_symbols=True))
    consumer = BarsConsumer(lake)
    crashed = []

    def handler(event, context):
        before = consumer.counters["bars_emitted"]
        resp = consumer.handle(event, context)
        if consumer.counters["bars_emitted"] > before and len(crashed) < 3:
            crashed.append(event["Records"][0]["kinesis"]["sequenceNumber"])
            raise RuntimeError("process died after Firehose took the bars, before Lambda got the state")
        return resp

    runner = run(lake, consumer, handler=handler)
    assert len(crashed) == 3 and runner.counters.failed_invocations == 3
    raw = lake_bars(boto3.client("s3"), lake.bucket)
    assert len(raw) > len(curated(raw))  # the crashed invocations' bars were sent twice
    assert strip(curated(raw)) == reference_bars(ticks)


class FailingStatePuts:
    """The real S3 client, except that the first ``n`` checkpoint writes fail (S3 unreachable)."""

    def __init__(self, s3, n):
        self._s3, self.n = s3, n

    def put_object(self, **kw):
        if kw["Key"].startswith(CHECKPOINTS) and self.n > 0:
            self.n -= 1
            raise boto3.client("s3").exceptions.ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "S3 unreachable"}}, "PutObject")
        return self._s3.put_object(**kw)

    def __getattr__(self, name):
        return getattr(self._s3, name)


def test_failed_window_checkpoint_is_retried_and_changes_no_bar(lake):
    ticks = synthetic_day(17, symbols=2, trades=120, span=1800)
    kinesis = boto3.client("kinesis")
    put(kinesis, lake.stream, kpl_records(ticks[:150], per_record=10, mix_symbols=True))
    consumer = BarsConsumer(lake, s3=FailingStatePuts(boto3.client("s3"), 2))
    runner = KinesisRunner(lake.stream, consumer.handle, batch_size=7, tumbling_window_s=60)
    runner.drain()  # the window's final invoke fails twice, then lands its checkpoint
    assert runner.counters.failed_invocations == 2
    put(kinesis, lake.stream, kpl_records(ticks[150:], per_record=10, mix_symbols=True))
    runner.drain()  # a new window starts from the checkpoint
    consumer.flush("shardId-000000000000")
    assert curated_lake(lake) == reference_bars(ticks)


def test_replay_of_the_shard_from_trim_horizon_gives_the_same_curated_bars(lake):
    ticks = synthetic_day(18, symbols=3, trades=100, span=1500)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, per_record=10, mix_symbols=True))
    run(lake, BarsConsumer(lake))
    first = curated_lake(lake)
    # the same state: a new event source mapping from TRIM_HORIZON adds nothing
    skip = BarsConsumer(lake)
    run(lake, skip, batch_size=50)
    assert skip.counters["records_skipped"] > 0 and skip.counters["bars_emitted"] == 0
    # no state at all (checkpoints deleted): everything again, same curated bars
    s3 = boto3.client("s3")
    for key in lake_objects(s3, lake.bucket, CHECKPOINTS):
        s3.delete_object(Bucket=lake.bucket, Key=key)
    again = BarsConsumer(lake)
    run(lake, again, batch_size=23)
    assert again.counters["bars_emitted"] > 0
    assert curated_lake(lake) == first == reference_bars(ticks)


def test_late_tick_lands_as_an_amendment(lake):
    ticks = synthetic_day(19, symbols=1, trades=80, span=1200, with_index=False, quote_dups=False)
    last_bucket = ticks[-1]["ltt"] // 300 * 300
    late = ticks.pop(max(i for i, t in enumerate(ticks) if t["ltt"] < last_bucket))  # the last bar's last
    kinesis = boto3.client("kinesis")
    put(kinesis, lake.stream, kpl_records(ticks, mix_symbols=True))
    consumer = BarsConsumer(lake)
    runner = KinesisRunner(lake.stream, consumer.handle, batch_size=5, tumbling_window_s=60)
    runner.drain()
    late = dict(late, ts=ticks[-1]["ts"])  # traded in the last bar but one, arrives at the end
    put(kinesis, lake.stream, kpl_records([late], mix_symbols=True))
    runner.drain()
    consumer.flush("shardId-000000000000")
    raw = lake_bars(boto3.client("s3"), lake.bucket)
    start = late["ltt"] // 300 * 300
    assert sorted(b["rev"] for b in raw if b["start"] == start)[:2] == [0, 1]
    assert consumer.counters["late_ticks"] >= 1
    got, want = strip(curated(raw)), reference_bars([*ticks, late])
    assert without_vwap(got) == without_vwap(want) and vwaps_in_range(got)  # VWAP: arrival order


def test_tick_beyond_the_amend_horizon_is_quarantined_as_late(lake):
    ticks = synthetic_day(20, symbols=1, trades=80, span=3000, with_index=False, quote_dups=False)
    kinesis = boto3.client("kinesis")
    put(kinesis, lake.stream, kpl_records(ticks, mix_symbols=True))
    old = dict(ticks[0], ltp=1.0, vol=1, ts=ticks[-1]["ts"])
    put(kinesis, lake.stream, kpl_records([old], mix_symbols=True))
    consumer = BarsConsumer(lake)
    run(lake, consumer)
    (doc,) = lake_objects(boto3.client("s3"), lake.bucket, QUARANTINE + "late/").values()
    assert "older than" in doc["reason"] and orjson.loads(doc["data"]) == old
    assert consumer.counters["too_late_ticks"] == 1


@pytest.fixture
def resharding_lake():
    """A lake on a moto server of this test's own, in this process, made to reshard like Kinesis.

    moto 5.x differs from Kinesis in two ways that matter here: its shard lookup ignores whether a
    shard is open (puts after a split land on the closed parent), and SplitShard moves the parent's
    records into the children. Kinesis keeps them in the parent (readable until retention ends) and
    routes new puts to the children. The session's moto server runs in a child process, so this
    test starts one in-process (127.0.0.1, stopped at teardown) where the stand-in can be fixed."""
    from collections import OrderedDict

    from moto.kinesis.models import Stream
    from moto.server import ThreadedMotoServer

    from local.moto_server import LOCAL_CREDENTIALS, free_port, patched_environ
    from tickpipe.config import Settings

    original_lookup, original_split = Stream.get_shard_for_key, Stream.split_shard

    def open_shard_for_key(self, partition_key, explicit_hash_key):
        key = int(explicit_hash_key) if explicit_hash_key else int.from_bytes(
            hashlib.md5(partition_key.encode()).digest(), "big")
        for shard in self.shards.values():
            if shard.is_open and shard.starting_hash <= key < shard.ending_hash:
                return shard
        return original_lookup(self, partition_key, explicit_hash_key)

    def split_keeping_history(self, shard_to_split, new_starting_hash_key):
        parent = self.shards[shard_to_split]
        kept = parent.records
        before = set(self.shards)
        original_split(self, shard_to_split, new_starting_hash_key)
        for sid in set(self.shards) - before:
            self.shards[sid].records = OrderedDict()
        parent.records = kept

    Stream.get_shard_for_key, Stream.split_shard = open_shard_for_key, split_keeping_history
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_REGION": "ap-south-1",
           "AWS_DEFAULT_REGION": "ap-south-1"}
    try:
        with patched_environ(env):
            settings = Settings.from_env()
            provision(settings, shards=1)
            yield settings
    finally:
        server.stop()
        Stream.get_shard_for_key, Stream.split_shard = original_lookup, original_split


def test_after_resharding_children_continue_their_parents_bars(resharding_lake):
    lake = resharding_lake
    ticks = synthetic_day(21, symbols=4, trades=100, span=1800)
    kinesis = boto3.client("kinesis")
    half = len(ticks) // 2
    put(kinesis, lake.stream, kpl_records(ticks[:half], per_record=10))
    (parent,) = kinesis.list_shards(StreamName=lake.stream)["Shards"]
    kinesis.split_shard(StreamName=lake.stream, ShardToSplit=parent["ShardId"],
                        NewStartingHashKey=str(2**127))
    put(kinesis, lake.stream, kpl_records(ticks[half:], per_record=10))
    consumer = BarsConsumer(lake)
    runner = KinesisRunner(lake.stream, consumer.handle, batch_size=9, tumbling_window_s=60)
    runner.drain()
    children = [s["ShardId"] for s in kinesis.list_shards(StreamName=lake.stream)["Shards"]
                if s.get("ParentShardId") == parent["ShardId"]]
    order = runner.invoked_shards
    assert len(children) == 2 and parent["ShardId"] in order and set(children) <= set(order)
    last_parent = max(i for i, s in enumerate(order) if s == parent["ShardId"])
    assert all(order.index(c) > last_parent for c in children)  # parent before children
    for shard in children:
        consumer.flush(shard)
    assert curated_lake(lake) == reference_bars(ticks)


def test_lambda_entry_point_logs_and_publishes_metrics(lake, monkeypatch, capsys):
    import consumers.bars.handler as bars_module

    monkeypatch.setattr(bars_module, "_CONSUMER", None)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    ticks = synthetic_day(22, symbols=1, trades=60, span=900, with_index=False)
    put(boto3.client("kinesis"), lake.stream, kpl_records(ticks, mix_symbols=True))
    runner = KinesisRunner(lake.stream, bars_module.handler, batch_size=100, tumbling_window_s=60)
    runner.drain()
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = [doc for doc in lines if "_aws" in doc]
    logs = [doc for doc in lines if doc.get("message") == "bars invocation"]
    emitted = [v for doc in emf for v in (doc["BarsEmitted"] if isinstance(doc["BarsEmitted"], list)
                                          else [doc["BarsEmitted"]])]
    assert sum(emitted) == bars_module._CONSUMER.counters["bars_emitted"] > 0
    assert {"TicksProcessed", "LateTicks", "Amendments", "QuarantinedRecords", "WatermarkLag"} <= set(emf[0])
    assert logs and logs[0]["service"] == "bars" and logs[0]["ticks"] == len(ticks)
