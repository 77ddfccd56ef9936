"""Metrics reach CloudWatch, gaps reach the lake, health answers for ECS."""

from __future__ import annotations

import datetime as dt

import orjson
import requests

from producer.gaps import GapRecorder
from producer.health import HealthServer
from producer.metrics import Metrics, MetricsPublisher
from tickpipe import names


def test_metrics_are_published_to_cloudwatch_in_the_project_namespace(aws):
    cw = aws.client("cloudwatch")
    metrics = Metrics()
    metrics.add("Ticks", 1200)
    metrics.add("Throttles", 3)
    metrics.set("JournalDepth", 7)
    metrics.observe("PutLatency", 12.5, count=4)
    sent = MetricsPublisher(metrics, cw, "p-1", interval=60).publish()
    assert sent > 10
    listed = {m["MetricName"] for m in cw.list_metrics(Namespace=names.METRIC_NAMESPACE)["Metrics"]}
    assert {"Ticks", "TicksPerSecond", "Throttles", "JournalDepth", "PutLatency", "AuthFailing"} <= listed
    now = dt.datetime.now(dt.UTC)
    stats = cw.get_metric_statistics(Namespace=names.METRIC_NAMESPACE, MetricName="Ticks",
                                     Dimensions=[{"Name": "ProducerId", "Value": "p-1"}],
                                     StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1),
                                     Period=60, Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 1200


def test_counters_restart_each_interval_but_totals_do_not():
    metrics = Metrics()
    metrics.add("Ticks", 5)
    counters, _, _ = metrics.snapshot()
    assert counters["Ticks"] == 5
    assert metrics.snapshot()[0]["Ticks"] == 0 and metrics.totals["Ticks"] == 5


def test_a_gap_is_stored_under_the_state_prefix(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="lake-x", CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    gaps = GapRecorder(s3, "lake-x", "p-1", clock=lambda: 1_795_700_100.0)
    gaps.open("disconnect", ["NSE:B-EQ", "NSE:A-EQ"], at=1_795_700_000.0)
    gap = gaps.close("disconnect", at=1_795_700_042.5, wait=False)
    assert gap == {"symbols": ["NSE:A-EQ", "NSE:B-EQ"], "from": 1_795_700_000, "to": 1_795_700_043,
                   "reason": "disconnect", "pid": "p-1", "recorded": 1_795_700_100, "v": 1}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake-x")["Contents"]]
    assert keys == ["state/gaps/dt=2026-11-26/p-1-1795700000-disconnect-0.json"]
    assert orjson.loads(s3.get_object(Bucket="lake-x", Key=keys[0])["Body"].read()) == gap


def test_a_gap_that_cannot_be_stored_is_kept_and_stored_later(aws):
    s3 = aws.client("s3")
    gaps = GapRecorder(s3, "lake-y", "p-1", clock=lambda: 1_795_700_100.0)
    gaps.record(["NSE:A-EQ"], 1_795_700_000, 1_795_700_010, "journal_full")  # the bucket does not exist yet
    assert gaps.retry() == 1
    s3.create_bucket(Bucket="lake-y", CreateBucketConfiguration={"LocationConstraint": aws.region_name})
    assert gaps.retry() == 0
    assert s3.list_objects_v2(Bucket="lake-y")["KeyCount"] == 1


def test_health_answers_503_when_not_ready_and_200_when_ready():
    status = {"ready": False, "state": "connecting"}
    with HealthServer(lambda: status, port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        first = requests.get(server.url, timeout=5)
        status["ready"] = True
        second = requests.get(server.url, timeout=5)
        missing = requests.get(server.url.replace("/health", "/nope"), timeout=5)
    assert (first.status_code, first.json()["state"]) == (503, "connecting")
    assert second.status_code == 200 and missing.status_code == 404
