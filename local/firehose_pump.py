"""Firehose on one machine: read the ticks stream the way Firehose does and land it in raw/ticks.

Two parts, because moto's Firehose does only half of what real Firehose does:

``FirehosePump`` is what Firehose does with a Kinesis stream as its source: it reads every shard
(from TRIM_HORIZON, then from its checkpoint), de-aggregates KPL records (Firehose does the same,
AWS docs "Use the KPL with Amazon Data Firehose"), and hands the user records to the delivery
stream with PutRecordBatch (≤ 500 records, ≤ 4 MiB a call). It adds no delimiter: tick records
already end with ``\\n``.

``FirehoseDelivery`` finishes what moto leaves undone. moto's PutRecordBatch writes each call
straight to S3 as one uncompressed object under ``<literal prefix>YYYY/MM/DD/HH/<name>`` — it does
not evaluate ``!{timestamp:…}`` expressions, does not buffer, does not compress (moto 5.x,
moto/firehose/models.py ``put_s3_records``). The delivery step reads those staged objects,
buffers them by the stream's own BufferingHints (size, interval), and writes each buffer as real
Firehose would: one object named ``<evaluated prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>``
(+ ``.gz`` when CompressionFormat is GZIP), the prefix evaluated at the arrival time of the
buffer's oldest record. Then it deletes the staged objects. It reads the configuration from
DescribeDeliveryStream, so it finishes the bars delivery stream (DirectPut) the same way.
"""

from __future__ import annotations

import gzip
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import boto3
import orjson

from local.errors import PrefixError
from tickpipe import names
from tickpipe.backoff import Backoff, Jitter
from tickpipe.config import Settings
from tickpipe.errors import AggregateError
from tickpipe.kinesis import list_shards
from tickpipe.kpl import user_records

log = logging.getLogger(__name__)

# PutRecordBatch limits (Firehose API reference).
BATCH_RECORDS: Final = 500
BATCH_BYTES: Final = 4 * 1024 * 1024
RECORD_BYTES: Final = 1000 * 1024
GET_RECORDS_LIMIT: Final = 10_000
CHECKPOINTS: Final = names.STATE + "firehose/"
PUT_ATTEMPTS: Final = 5
PUT_BACKOFF: Final = Backoff(0.05, jitter=Jitter.NONE)  # 50, 100, 200, 400 ms between PutRecordBatch tries


# ---------------------------------------------------------------- KPL de-aggregation (pure)


def deaggregate(data: bytes) -> list[bytes]:
    """The user records inside one Kinesis record: KPL-aggregated or plain (returned as is).

    A record is aggregated when it starts with the KPL magic and ends with a matching MD5 of a
    protobuf that parses; anything else is a plain record, as in the KPL's own de-aggregator (the bars
    handler instead quarantines a broken aggregate).
    """
    try:
        return user_records(data)
    except AggregateError:
        return [data]


# ---------------------------------------------------------------- prefix expressions (pure)

_EXPR = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")
_JAVA_TOKENS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def java_datetime(pattern: str, at: datetime) -> str:
    """Format ``at`` with the subset of Java DateTimeFormatter patterns Firehose prefixes use."""
    out: list[str] = []
    for literal, letters in _java_parts(pattern):
        if literal is not None:
            out.append(literal)
        elif letters in _JAVA_TOKENS:
            out.append(at.strftime(_JAVA_TOKENS[letters]))
        else:
            raise PrefixError(f"unsupported timestamp pattern {letters!r} in {pattern!r} (have {sorted(_JAVA_TOKENS)})")
    return "".join(out)


def _java_parts(pattern: str) -> Iterator[tuple[str | None, str]]:
    for m in re.finditer(r"'([^']*)'|([A-Za-z]+)|([^A-Za-z']+)", pattern):
        if m.group(1) is not None:
            yield m.group(1), ""
        elif m.group(2):
            yield None, m.group(2)
        else:
            yield m.group(3), ""


def evaluate_prefix(prefix: str, at: datetime, *, error_output_type: str | None = None) -> str:
    """Evaluate ``!{timestamp:…}`` and ``!{firehose:…}`` expressions the way Firehose does (UTC)."""

    def one(m: re.Match[str]) -> str:
        namespace, value = m.group(1), m.group(2)
        if namespace == "timestamp":
            return java_datetime(value, at)
        if namespace == "firehose" and value == "random-string":
            return uuid.uuid4().hex[:11]
        if namespace == "firehose" and value == "error-output-type":
            if error_output_type is None:
                raise PrefixError("!{firehose:error-output-type} is only valid in ErrorOutputPrefix")
            return error_output_type
        raise PrefixError(f"unsupported prefix expression {m.group(0)!r}")

    return _EXPR.sub(one, prefix)


def object_suffix(stream: str, version: str, at: datetime, compression: str) -> str:
    """``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>``, Firehose's object name."""
    ext = {"GZIP": ".gz", "UNCOMPRESSED": ""}.get(compression)
    if ext is None:
        raise PrefixError(f"compression {compression!r} is not supported locally (GZIP or UNCOMPRESSED)")
    return f"{stream}-{version}-{at.strftime('%Y-%m-%d-%H-%M-%S')}-{uuid.uuid4()}{ext}"


# ---------------------------------------------------------------- delivery (moto's staging → Firehose layout)


@dataclass(frozen=True)
class DeliveryConfig:
    """The parts of a delivery stream's S3 destination that decide where and how objects land."""

    name: str
    version: str
    bucket: str
    prefix: str
    error_prefix: str
    compression: str
    buffer_bytes: int
    buffer_seconds: int

    @classmethod
    def describe(cls, firehose: Any, name: str) -> DeliveryConfig:
        desc = firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
        dest = desc["Destinations"][0]
        s3 = dest.get("ExtendedS3DestinationDescription") or dest["S3DestinationDescription"]
        hints = s3.get("BufferingHints") or {}
        return cls(
            name=name,
            version=str(desc.get("VersionId", "1")),
            bucket=s3["BucketARN"].split(":::")[-1],
            prefix=s3.get("Prefix", ""),
            error_prefix=s3.get("ErrorOutputPrefix", ""),
            compression=s3.get("CompressionFormat", "UNCOMPRESSED"),
            buffer_bytes=int(hints.get("SizeInMBs", 5)) * 1024 * 1024,
            buffer_seconds=int(hints.get("IntervalInSeconds", 300)),
        )

    @property
    def staging_prefix(self) -> str:
        """Where moto puts PutRecordBatch data: the literal prefix, then its own YYYY/MM/DD/HH/."""
        return self.prefix if self.prefix.endswith("/") or not self.prefix else self.prefix + "/"


@dataclass(frozen=True)
class Staged:
    key: str
    arrival: datetime
    size: int


_STAGED_NAME = re.compile(r"-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[0-9a-f-]{36}$")


class FirehoseDelivery:
    """Turns moto's per-call staging objects into buffered, compressed, prefix-evaluated objects."""

    def __init__(self, name: str, *, s3: Any = None, firehose: Any = None, clock: Callable[[], float] = time.time):
        self.s3 = s3 or boto3.client("s3")
        self.config = DeliveryConfig.describe(firehose or boto3.client("firehose"), name)
        self.clock = clock
        self.delivered: list[str] = []

    def staged(self) -> list[Staged]:
        """moto's objects for this delivery stream, oldest first."""
        cfg = self.config
        out: list[Staged] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=cfg.bucket, Prefix=cfg.staging_prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                name = key.rsplit("/", 1)[-1]
                m = _STAGED_NAME.search(name)
                if not name.startswith(cfg.name + "-") or not m:
                    continue
                arrival = datetime.strptime(m.group(1), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
                out.append(Staged(key, arrival, obj["Size"]))
        out.sort(key=lambda s: (s.arrival, s.key))
        return out

    def flush(self, *, force: bool = False) -> list[str]:
        """Deliver every full or expired buffer (all of them with ``force``); returns the new keys."""
        cfg = self.config
        now = self.clock()
        written: list[str] = []
        buffer: list[Staged] = []
        size = 0
        staged = self.staged()
        for i, item in enumerate(staged):
            buffer.append(item)
            size += item.size
            last = i == len(staged) - 1
            if size >= cfg.buffer_bytes or (last and (force or now - buffer[0].arrival.timestamp() >= cfg.buffer_seconds)):
                written.append(self._deliver(buffer))
                buffer, size = [], 0
        self.delivered.extend(written)
        return written

    def _deliver(self, buffer: list[Staged]) -> str:
        cfg = self.config
        data = b"".join(self.s3.get_object(Bucket=cfg.bucket, Key=s.key)["Body"].read() for s in buffer)
        at = buffer[0].arrival
        key = evaluate_prefix(cfg.prefix, at) + object_suffix(cfg.name, cfg.version, at, cfg.compression)
        body = gzip.compress(data, compresslevel=6) if cfg.compression == "GZIP" else data
        self.s3.put_object(Bucket=cfg.bucket, Key=key, Body=body)
        # Delete only after the delivered object exists: a crash in between re-delivers (at least once).
        keys = [{"Key": s.key} for s in buffer]
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=cfg.bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True})
        log.info("delivered %s (%d bytes in, %d staged objects)", key, len(data), len(buffer))
        return key


# ---------------------------------------------------------------- the pump (Kinesis source → PutRecordBatch)


def batches(records: Iterable[bytes]) -> Iterator[list[bytes]]:
    """PutRecordBatch-sized groups: ≤ 500 records and ≤ 4 MiB each."""
    batch: list[bytes] = []
    size = 0
    for r in records:
        if len(r) > RECORD_BYTES:
            raise ValueError(f"record of {len(r)} bytes exceeds Firehose's {RECORD_BYTES}-byte limit")
        if batch and (len(batch) == BATCH_RECORDS or size + len(r) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(r)
        size += len(r)
    if batch:
        yield batch


@dataclass
class PumpStats:
    kinesis_records: int = 0
    user_records: int = 0
    bytes: int = 0
    objects: int = 0


class FirehosePump:
    """Reads the stream like a Firehose delivery stream with a Kinesis source does."""

    def __init__(self, settings: Settings, *, session: boto3.session.Session | None = None, clock: Callable[[], float] = time.time):
        session = session or boto3.session.Session(region_name=settings.region)
        self.settings = settings
        self.kinesis = session.client("kinesis")
        self.firehose = session.client("firehose")
        self.s3 = session.client("s3")
        self.delivery = FirehoseDelivery(settings.raw_firehose, s3=self.s3, firehose=self.firehose, clock=clock)
        self.checkpoint_key = f"{CHECKPOINTS}{settings.raw_firehose}/checkpoints.json"
        self.checkpoints: dict[str, str] = self._load_checkpoints()
        self.stats = PumpStats()

    def _load_checkpoints(self) -> dict[str, str]:
        try:
            body = self.s3.get_object(Bucket=self.settings.bucket, Key=self.checkpoint_key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return {}
        return orjson.loads(body)

    def _save_checkpoints(self) -> None:
        self.s3.put_object(Bucket=self.settings.bucket, Key=self.checkpoint_key, Body=orjson.dumps(self.checkpoints))

    def _shards(self) -> list[str]:
        return [s["ShardId"] for s in list_shards(self.kinesis, self.settings.stream)]

    def _iterator(self, shard: str) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.settings.stream, "ShardId": shard}
        seq = self.checkpoints.get(shard)
        if seq:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seq)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self.kinesis.get_shard_iterator(**kwargs)["ShardIterator"]

    def poll(self) -> int:
        """Forward everything new on every shard, then deliver due buffers. Returns user records forwarded."""
        forwarded = 0
        for shard in self._shards():
            iterator: str | None = self._iterator(shard)
            while iterator:
                resp = self.kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
                records = resp["Records"]
                if records:
                    user = [u for r in records for u in deaggregate(r["Data"])]
                    self._put(user)
                    # Checkpoint only after Firehose has the records: at least once, like Firehose.
                    self.checkpoints[shard] = records[-1]["SequenceNumber"]
                    self._save_checkpoints()
                    self.stats.kinesis_records += len(records)
                    forwarded += len(user)
                iterator = resp.get("NextShardIterator")
                if not records or not resp.get("MillisBehindLatest"):
                    break
        self.stats.objects += len(self.delivery.flush())
        return forwarded

    def _put(self, user_records: list[bytes]) -> None:
        for batch in batches(user_records):
            pending = batch
            for attempt in range(PUT_ATTEMPTS):
                resp = self.firehose.put_record_batch(
                    DeliveryStreamName=self.settings.raw_firehose, Records=[{"Data": r} for r in pending]
                )
                if not resp.get("FailedPutCount"):
                    break
                pending = [r for r, res in zip(pending, resp["RequestResponses"], strict=True) if res.get("ErrorCode")]
                time.sleep(PUT_BACKOFF.delay(attempt))
            else:
                raise RuntimeError(f"PutRecordBatch to {self.settings.raw_firehose} kept failing for {len(pending)} records")
            self.stats.user_records += len(batch)
            self.stats.bytes += sum(map(len, batch))

    def drain(self) -> list[str]:
        """Forward what is left and deliver every buffer now (at shutdown, and in tests)."""
        self.poll()
        written = self.delivery.flush(force=True)
        self.stats.objects += len(written)
        return written

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        """Poll until ``stop`` is set, then drain."""
        while not stop.is_set():
            try:
                self.poll()
            except Exception:  # keep pumping: a transient error must not stop the lake
                log.exception("firehose pump poll failed; retrying")
            stop.wait(interval)
        self.drain()
