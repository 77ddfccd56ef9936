"""Lambda "watermark-net": the end-of-session safety net of the bars' watermarks.

A producer sends a closing watermark to its shards when its session ends (producer/watermarks.py).
If it died before that, the open bars of its symbols would wait for the next session. Scheduled
after the close (infra/watermark.tf), this function writes one end-of-session watermark for every
producer (``pid`` ``*``, market.watermark.ANY) into every open shard of the ticks stream, as a plain
record whose ``ExplicitHashKey`` is the shard's starting hash key, so the normal bars path closes
whatever is still open. When it had work to do, the bars function counts the bars it closed
(metric ``SafetyNetBars``, alarmed on): a producer did not finish its session.

It does nothing while a session is in progress (override-aware, ``TICKPIPE_SESSION_OVERRIDES``):
a watermark at the clock's time would close bars of a producer that is merely behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any, Final, NotRequired, TypedDict

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from consumers.bars.errors import SafetyNetError
from market.session import IST, normal_session, parse_overrides
from market.watermark import ANY, KEY_PREFIX, Watermark
from tickpipe import names
from tickpipe.backoff import Backoff, Jitter
from tickpipe.config import Settings
from tickpipe.kinesis import is_open, list_shards

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import PutRecordsRequestEntryTypeDef, ShardTypeDef

SERVICE: Final = "watermark-net"
# its own tuple: importing bars io would put the handler's TICKPIPE_BUCKET read in this function's closure
AWS_ERRORS: Final = (BotoCoreError, ClientError)
SHARDS_WRITTEN: Final = "SafetyNetWatermarks"
METRICS: Final = (SHARDS_WRITTEN,)
PARTITION_KEY: Final = f"{KEY_PREFIX}{ANY}"
PUT_BATCH: Final = 500  # PutRecords takes at most 500 records
ATTEMPTS: Final = 4

log = logging.getLogger(__name__)


class SafetyNetResponse(TypedDict):
    """What the function did: shards written (0 while a session is in progress, with ``skipped``
    saying so) and the watermark's time."""

    written: int
    ts: NotRequired[int]
    skipped: NotRequired[str]


def session_in_progress(now: float, overrides: str = "") -> bool:
    """Whether ``now`` lies in today's (IST) session, from its open to its close: the weekday
    session, or the override for the day (``closed`` days have none)."""
    day = dt.datetime.fromtimestamp(now, IST).date()
    table = parse_overrides(overrides)
    session = table[day] if day in table else (normal_session(day) if day.weekday() < 5 else None)
    return session is not None and session.open_ts <= now < session.close_ts


def open_shards(kinesis: KinesisClient, stream: str) -> list[ShardTypeDef]:
    """The stream's open shards (ListShards, paginated): those without an ending sequence number."""
    return [s for s in list_shards(kinesis, stream) if is_open(s)]


def write_watermarks(kinesis: KinesisClient, stream: str, ts: int, *, backoff_s: float = 0.2) -> int:
    """One end-of-session watermark into every open shard. Returns the number of shards written;
    raises SafetyNetError when a shard's record is still refused after every attempt."""
    data = Watermark(ANY, ts, "closed").encode()
    try:
        shards = open_shards(kinesis, stream)
    except AWS_ERRORS as exc:
        raise SafetyNetError(f"listing the shards of {stream}: {exc}") from exc
    pending: list[PutRecordsRequestEntryTypeDef] = [
        {"Data": data, "PartitionKey": PARTITION_KEY, "ExplicitHashKey": s["HashKeyRange"]["StartingHashKey"]}
        for s in shards]
    written = 0
    backoff = Backoff(backoff_s, jitter=Jitter.NONE)  # one writer: nothing to spread out
    for start in range(0, len(pending), PUT_BATCH):
        batch, error = pending[start:start + PUT_BATCH], ""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(backoff.delay(attempt - 1))
            try:
                resp = kinesis.put_records(StreamName=stream, Records=batch)
            except AWS_ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            results = resp.get("Records", [])
            failed = [rec for rec, r in zip(batch, results, strict=True) if r.get("ErrorCode")]
            written += len(batch) - len(failed)
            if not failed:
                break
            error = next(r.get("ErrorMessage") or r["ErrorCode"] for r in results if r.get("ErrorCode"))
            batch = failed
        else:
            raise SafetyNetError(f"{len(batch)} of {len(shards)} shards of {stream} did not take the end-of-session "
                                 f"watermark after {ATTEMPTS} attempts ({error})")
    return written


def run(settings: Settings, kinesis: KinesisClient, now: float | None = None) -> SafetyNetResponse:
    """Write the watermarks unless a session is in progress. Returns what was done."""
    now = time.time() if now is None else now
    if session_in_progress(now, settings.session_overrides):
        log.warning("a session is in progress at %s: no end-of-session watermark written (check the schedule)",
                    dt.datetime.fromtimestamp(now, IST).isoformat(timespec="seconds"))
        return {"written": 0, "skipped": "session in progress"}
    ts = int(now)
    written = write_watermarks(kinesis, settings.stream, ts)
    log.info("end-of-session watermark %d written to %d shards of %s", ts, written, settings.stream)
    return {"written": written, "ts": ts}


def handler(event: dict[str, Any] | None, context: Any = None) -> SafetyNetResponse:
    """Lambda entry point (EventBridge Scheduler, infra/watermark.tf; the event is not read)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    settings = Settings.from_env()
    metrics = Metrics(namespace=names.METRIC_NAMESPACE, service=SERVICE)
    try:
        result = run(settings, boto3.client("kinesis", region_name=settings.region))
        metrics.add_metric(name=SHARDS_WRITTEN, unit=MetricUnit.Count, value=result["written"])
        return result
    finally:
        metrics.flush_metrics()
