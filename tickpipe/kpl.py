"""KPL aggregated records: their frame, and the one reader of their user records for every layer.

A Kinesis record written by the Kinesis Producer Library's aggregation is
``MAGIC · AggregatedRecord (protobuf) · md5(protobuf)`` (awslabs/kinesis-aggregation, the format
aws-kinesis-agg, the KCL, Lambda consumers and Firehose read); any other record is a plain one,
its own single user record. The producer writes aggregates (producer/aggregator.py builds the
protobuf bytes itself, for speed, and frames them here); the bars handler, journal replay and the
local Firehose pump read them here, with aws-kinesis-agg's ``messages_pb2`` (protobuf in C).

Strict: a record that starts with the magic but is not a whole, matching aggregate raises
:class:`~tickpipe.errors.AggregateError`. A reader that must treat it as plain data instead (as
the KPL's own de-aggregator does: the local Firehose pump) catches that, where it says so.
"""

from __future__ import annotations

import hashlib
from operator import attrgetter
from typing import Final

from aws_kinesis_agg import DIGEST_SIZE, MAGIC
from aws_kinesis_agg import deaggregator as _deaggregator  # noqa: F401 - puts messages_pb2's imports on sys.path
from aws_kinesis_agg.messages_pb2 import AggregatedRecord
from google.protobuf.message import DecodeError

from tickpipe.errors import AggregateError

__all__ = ["DIGEST_SIZE", "MAGIC", "aggregate_body", "frame", "keyed_records", "user_records"]

MAGIC_SIZE: Final = len(MAGIC)
_DATA: Final = attrgetter("data")


def frame(body: bytes) -> bytes:
    """An aggregated record around a serialised ``AggregatedRecord``: magic, the body, its md5."""
    return MAGIC + body + hashlib.md5(body).digest()


def aggregate_body(data: bytes) -> memoryview | None:
    """The protobuf inside an aggregated record (no copy), or None for a plain record (no magic).

    Raises AggregateError when the record has the magic but is too short or its md5 does not match."""
    if data[:MAGIC_SIZE] != MAGIC:
        return None
    if len(data) <= MAGIC_SIZE + DIGEST_SIZE:
        raise AggregateError(f"KPL aggregate of {len(data)} bytes is too short for magic + md5")
    body = memoryview(data)[MAGIC_SIZE:-DIGEST_SIZE]  # no copy of the ~25 KiB body
    if hashlib.md5(body).digest() != data[-DIGEST_SIZE:]:
        raise AggregateError("KPL aggregate md5 does not match its protobuf (corrupt record)")
    return body


def _parse(body: memoryview) -> AggregatedRecord:
    agg = AggregatedRecord()
    try:
        agg.ParseFromString(body)
    except DecodeError as exc:
        raise AggregateError(f"KPL aggregate protobuf does not parse: {exc}") from None
    return agg


def user_records(data: bytes) -> list[bytes]:
    """The user records of one Kinesis record: an aggregate's records, or a plain record itself."""
    body = aggregate_body(data)
    if body is None:
        return [data]
    return list(map(_DATA, _parse(body).records))


def keyed_records(data: bytes) -> list[tuple[str, bytes]]:
    """(partition key, data) of each user record of an aggregated record, in order.

    For re-aggregating what the producer wrote (journal replay) and accounting for it by symbol.
    Raises AggregateError for a plain record too: it carries no partition key of its own."""
    body = aggregate_body(data)
    if body is None:
        raise AggregateError("not an aggregated record (no KPL magic)")
    agg = _parse(body)
    keys = agg.partition_key_table
    out: list[tuple[str, bytes]] = []
    for rec in agg.records:
        if rec.partition_key_index >= len(keys):
            raise AggregateError(f"partition key index {rec.partition_key_index} outside the table of {len(keys)}")
        out.append((keys[rec.partition_key_index], rec.data))
    return out
