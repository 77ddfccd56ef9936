"""local.kinesis_runner: Lambda's Kinesis event source mapping, against streams in the moto server."""

from __future__ import annotations

import base64

import pytest

from local.errors import RunnerError
from local.kinesis_runner import KinesisRunner

STREAM = "runner-test"


@pytest.fixture
def stream(aws):
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=STREAM)
    return kinesis


def put(kinesis, n, start=0):
    kinesis.put_records(StreamName=STREAM, Records=[
        {"PartitionKey": "k", "Data": b"record-%d" % i} for i in range(start, start + n)])


class Recorder:
    """A handler that keeps every event and answers from a script of responses (then success)."""

    def __init__(self, *script):
        self.events, self.script = [], list(script)

    def __call__(self, event, context):
        self.events.append(event)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(event)
        return {"state": {"seen": (event.get("state") or {}).get("seen", 0) + len(event["Records"])},
                "batchItemFailures": []}

    def datas(self):
        return [base64.b64decode(r["kinesis"]["data"]) for e in self.events for r in e["Records"]]


def test_events_are_shaped_like_lambdas(stream):
    put(stream, 3)
    rec = Recorder()
    KinesisRunner(STREAM, rec, kinesis=stream, batch_size=10, tumbling_window_s=30).drain()
    event = rec.events[0]
    assert set(event) == {"Records", "window", "state", "shardId", "eventSourceARN", "isFinalInvokeForWindow",
                          "isWindowTerminatedEarly"}
    r = event["Records"][0]
    assert set(r) == {"kinesis", "eventSource", "eventVersion", "eventID", "eventName", "invokeIdentityArn",
                      "awsRegion", "eventSourceARN"}
    assert set(r["kinesis"]) == {"kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data",
                                 "approximateArrivalTimestamp"}
    assert r["eventSource"] == "aws:kinesis" and r["eventName"] == "aws:kinesis:record"
    assert r["eventID"] == f"{event['shardId']}:{r['kinesis']['sequenceNumber']}"
    assert r["eventSourceARN"].startswith("arn:aws:kinesis:") and r["eventSourceARN"].endswith(f"stream/{STREAM}")
    assert set(event["window"]) == {"start", "end"} and event["isFinalInvokeForWindow"] is False
    final = rec.events[-1]
    assert final["isFinalInvokeForWindow"] is True and final["Records"] == [] and final["state"] == {"seen": 3}


def test_batch_size_bounds_each_invocation_and_order_is_kept(stream):
    put(stream, 23)
    rec = Recorder()
    KinesisRunner(STREAM, rec, kinesis=stream, batch_size=5).drain()
    assert [len(e["Records"]) for e in rec.events] == [5, 5, 5, 5, 3]
    assert rec.datas() == [b"record-%d" % i for i in range(23)]


def test_state_is_carried_from_each_response_to_the_next_invocation(stream):
    put(stream, 12)
    rec = Recorder()
    KinesisRunner(STREAM, rec, kinesis=stream, batch_size=4, tumbling_window_s=60).drain()
    assert [e["state"] for e in rec.events] == [{}, {"seen": 4}, {"seen": 8}, {"seen": 12}]


def test_partial_batch_response_retries_from_the_named_record_with_the_returned_state(stream):
    put(stream, 6)

    def fail_at_third(event):
        return {"state": {"upto": 2}, "batchItemFailures": [
            {"itemIdentifier": event["Records"][2]["kinesis"]["sequenceNumber"]}]}

    rec = Recorder(fail_at_third)
    runner = KinesisRunner(STREAM, rec, kinesis=stream, batch_size=6, tumbling_window_s=60)
    runner.drain()
    first, retry = rec.events[0], rec.events[1]
    assert retry["Records"] == first["Records"][2:] and retry["state"] == {"upto": 2}
    assert runner.counters.partial_failures == 1
    assert runner.checkpoints()[first["shardId"]] == first["Records"][-1]["kinesis"]["sequenceNumber"]


def test_batch_item_failure_naming_no_record_fails_the_whole_batch(stream):
    put(stream, 3)
    rec = Recorder(lambda e: {"state": {}, "batchItemFailures": [{"itemIdentifier": "nope"}]})
    runner = KinesisRunner(STREAM, rec, kinesis=stream, batch_size=3, tumbling_window_s=60)
    runner.drain()
    assert rec.events[1]["Records"] == rec.events[0]["Records"] and runner.counters.failed_invocations == 1


def test_function_error_is_retried_with_the_same_state_and_bisected(stream):
    put(stream, 8)
    rec = Recorder(RuntimeError("boom"), RuntimeError("boom again"))
    runner = KinesisRunner(STREAM, rec, kinesis=stream, batch_size=8, bisect_on_error=True, tumbling_window_s=60)
    runner.drain()
    assert [len(e["Records"]) for e in rec.events[:3]] == [8, 4, 2]
    assert rec.events[0]["state"] == rec.events[1]["state"] == rec.events[2]["state"] == {}
    assert rec.datas()[-8:] == [b"record-%d" % i for i in range(8)]  # 2 after the halvings, then 6
    assert runner.counters.bisects == 2 and runner.counters.records_committed == 8


def test_records_are_discarded_after_maximum_retry_attempts(stream):
    put(stream, 4)
    rec = Recorder(*[RuntimeError("always")] * 3)
    runner = KinesisRunner(STREAM, rec, kinesis=stream, batch_size=2, max_retry_attempts=2)
    runner.drain()
    assert runner.counters.discarded_records == 2 and runner.discarded[0]["reason"] == "retry attempts"
    assert rec.datas()[-2:] == [b"record-2", b"record-3"]  # the shard went on


def test_response_without_state_is_a_failure_when_windows_are_on(stream):
    put(stream, 2)
    rec = Recorder(lambda e: {"batchItemFailures": []})
    runner = KinesisRunner(STREAM, rec, kinesis=stream, batch_size=2, tumbling_window_s=60)
    runner.drain()
    assert runner.counters.failed_invocations == 1 and rec.events[1]["Records"] == rec.events[0]["Records"]


def test_checkpoints_let_a_new_runner_resume_after_the_last_committed_record(stream, tmp_path):
    put(stream, 5)
    path = tmp_path / "checkpoints.json"
    KinesisRunner(STREAM, Recorder(), kinesis=stream, batch_size=10, checkpoint_path=path).drain()
    put(stream, 3, start=5)
    rec = Recorder()
    KinesisRunner(STREAM, rec, kinesis=stream, batch_size=10, checkpoint_path=path).drain()
    assert rec.datas() == [b"record-5", b"record-6", b"record-7"]


def test_bad_settings_are_refused_with_the_reason(stream):
    with pytest.raises(RunnerError, match="batch_size"):
        KinesisRunner(STREAM, Recorder(), kinesis=stream, batch_size=0)
    with pytest.raises(RunnerError, match="900"):
        KinesisRunner(STREAM, Recorder(), kinesis=stream, tumbling_window_s=901)
