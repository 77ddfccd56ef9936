"""The bars Lambda's event and response, as Lambda sends and reads them (types only, no code).

Event: a Kinesis batch of one shard with a tumbling window (the event source mapping sets
``TumblingWindowInSeconds``): the records, the shard, the window's ``state`` as the previous
invocation returned it, and ``isFinalInvokeForWindow`` at the window's end. Lambda's "stateful
Kinesis processing" page: https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html

Response: a ``TimeWindowEventResponse``, ``{"state": {...}, "batchItemFailures": [...]}``. With
tumbling windows the response must carry ``state`` (Lambda counts one without it as a failed
invocation; same page). ``batchItemFailures`` is the partial batch response of
``ReportBatchItemFailures``: ``[{"itemIdentifier": "<SequenceNumber>"}]``, where Lambda checkpoints
before the lowest sequence number listed and retries from it; an empty list is a complete success
("Configuring partial batch response with Kinesis Data Streams and Lambda":
https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class KinesisData(TypedDict):
    """A record's ``kinesis`` object. ``data`` is base64 of what the producer put."""

    partitionKey: str
    sequenceNumber: str
    data: str
    # epoch s; Lambda always sends it, a hand-made or replayed event may not
    approximateArrivalTimestamp: NotRequired[float]
    kinesisSchemaVersion: NotRequired[str]


class KinesisEventRecord(TypedDict):
    kinesis: KinesisData
    eventID: str  # "shardId-000000000006:<sequence number>"
    eventSource: NotRequired[str]
    eventSourceARN: NotRequired[str]
    awsRegion: NotRequired[str]


class BarsState(TypedDict, total=False):
    """The window's state as the handler returns it (and Lambda hands back): empty after a window's
    final invoke (the checkpoint in the lake holds it); else the last folded sequence number, a token
    naming the warm builder, and the bar state inline (``b``) or the checkpoint's key (``ref``)."""

    v: int
    seq: str
    tok: str
    b: dict[str, Any]
    ref: str


class Window(TypedDict):
    start: str  # ISO 8601
    end: str


class KinesisWindowEvent(TypedDict, total=False):
    Records: list[KinesisEventRecord]
    shardId: str
    eventSourceARN: str
    window: Window
    state: BarsState
    isFinalInvokeForWindow: bool
    isWindowTerminatedEarly: bool


class BatchItemFailure(TypedDict):
    itemIdentifier: str  # the sequence number of the first record to retry


class WindowResponse(TypedDict):
    """``TimeWindowEventResponse``: the new state and the records to retry (none: all done)."""

    state: BarsState
    batchItemFailures: list[BatchItemFailure]
