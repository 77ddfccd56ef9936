"""Producer metrics: counters and gauges in memory, published to CloudWatch every 60 s.

Components update a :class:`Metrics` registry (cheap, thread-safe); a :class:`MetricsPublisher`
thread sends one ``PutMetricData`` batch per interval in namespace ``names.METRIC_NAMESPACE`` with
the dimension ``ProducerId``. Counters are sent as the interval's total (and a ``…PerSecond`` rate
where alarms want one); distributions (put latency, feed lag) as statistic sets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tickpipe import names

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.literals import StandardUnitType
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDatumTypeDef

log = logging.getLogger(__name__)

# name -> CloudWatch unit. One place, so the alarms (infra/) and the docs can list them.
COUNTERS: dict[str, StandardUnitType] = {
    "Ticks": "Count",             # ticks read from the socket
    "TicksSent": "Count",         # ticks in records Kinesis accepted
    "Records": "Count",           # aggregated records accepted
    "Bytes": "Bytes",             # payload bytes accepted
    "PutCalls": "Count",
    "Retries": "Count",           # records put again after a failure
    "Throttles": "Count",         # ProvisionedThroughputExceeded records
    "PutErrors": "Count",         # whole calls that failed (unreachable, 5xx)
    "Reconnects": "Count",
    "Gaps": "Count",
    "TicksDropped": "Count",      # journal full: ticks that could not be kept (a gap is recorded)
    "AuthFailures": "Count",
    "MalformedFrames": "Count",
}
GAUGES: dict[str, StandardUnitType] = {
    "JournalDepth": "Count",      # journal entries waiting for replay
    "Pending": "Count",           # records in memory waiting to be put
    "AuthFailing": "None",        # 1 while the socket cannot authenticate (alarm on it)
    "Connected": "None",
    "LastTickAge": "Seconds",
}
DISTRIBUTIONS: dict[str, StandardUnitType] = {
    "PutLatency": "Milliseconds",
    "FeedLag": "Milliseconds",    # rx - ts: receive time minus exchange feed time
    "RecordFill": "Percent",      # record size / PUT payload units it is billed for
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        self.gauges: dict[str, float] = dict.fromkeys(GAUGES, 0)
        self._dists: dict[str, list[float]] = {}  # name -> [count, sum, min, max]
        self.totals: dict[str, float] = dict.fromkeys(COUNTERS, 0)  # since start, for health and stats

    def add(self, name: str, value: float = 1) -> None:
        with self._lock:
            self._counters[name] += value
            self.totals[name] += value

    def set(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def observe(self, name: str, value: float, count: int = 1) -> None:
        """Record ``count`` observations of ``value`` (e.g. the same latency for a whole batch)."""
        with self._lock:
            d = self._dists.get(name)
            if d is None:
                self._dists[name] = [count, value * count, value, value]
            else:
                d[0] += count
                d[1] += value * count
                if value < d[2]:
                    d[2] = value
                if value > d[3]:
                    d[3] = value

    def snapshot(self) -> tuple[dict[str, float], dict[str, float], dict[str, list[float]]]:
        """Counters since the last snapshot (then reset), gauges, distributions (then reset)."""
        with self._lock:
            counters, self._counters = self._counters, dict.fromkeys(COUNTERS, 0)
            dists, self._dists = self._dists, {}
        return counters, dict(self.gauges), dists


def metric_data(counters: dict[str, float], gauges: dict[str, float], dists: dict[str, list[float]],
                interval: float, dimensions: list[DimensionTypeDef]) -> list[MetricDatumTypeDef]:
    """The ``MetricData`` items for one interval."""
    out: list[MetricDatumTypeDef] = []
    for name, value in counters.items():
        out.append({"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": COUNTERS[name]})
    for name in ("Ticks", "Records", "Bytes"):
        unit: StandardUnitType = "Bytes/Second" if name == "Bytes" else "Count/Second"
        out.append({"MetricName": f"{name}PerSecond", "Dimensions": dimensions,
                    "Value": counters.get(name, 0) / max(interval, 1e-9), "Unit": unit})
    for name, value in gauges.items():
        out.append({"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": GAUGES[name]})
    for name, (count, total, lo, hi) in dists.items():
        out.append({"MetricName": name, "Dimensions": dimensions, "Unit": DISTRIBUTIONS[name],
                    "StatisticValues": {"SampleCount": float(count), "Sum": float(total),
                                        "Minimum": float(lo), "Maximum": float(hi)}})
    return out


class MetricsPublisher:
    """Background thread: ``PutMetricData`` every ``interval`` seconds, and once more at stop."""

    def __init__(self, metrics: Metrics, cloudwatch: CloudWatchClient, producer_id: str, *, interval: float = 60.0,
                 namespace: str = names.METRIC_NAMESPACE, refresh: Callable[[], None] | None = None) -> None:
        self.metrics = metrics
        self.cloudwatch = cloudwatch
        self.dimensions: list[DimensionTypeDef] = [{"Name": "ProducerId", "Value": producer_id}]
        self.interval = interval
        self.namespace = namespace
        self.refresh = refresh  # updates gauges just before publishing
        self.published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = time.monotonic()

    def publish(self) -> int:
        if self.refresh:
            self.refresh()
        now = time.monotonic()
        data = metric_data(*self.metrics.snapshot(), interval=now - self._last, dimensions=self.dimensions)
        self._last = now
        sent = 0
        for i in range(0, len(data), 1000):  # PutMetricData takes up to 1,000 items
            try:
                self.cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=data[i:i + 1000])
                sent += len(data[i:i + 1000])
            except Exception as exc:  # noqa: BLE001 - metrics must never stop the producer
                log.warning("PutMetricData failed (%s); %d metrics of this interval lost", exc, len(data[i:]))
                break
        self.published += sent
        return sent

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.publish()
            except Exception:
                log.exception("publishing metrics failed")

    def start(self) -> MetricsPublisher:
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
            self.publish()
