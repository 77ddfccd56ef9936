"""Kinesis records of the ticks stream → tick dicts, for the bars handler. Pure: bytes in, values out.

A stream record is either KPL-aggregated (``MAGIC · AggregatedRecord protobuf · md5``, as written by
the producer and read by aws-kinesis-agg) or a plain record holding one tick line. Both are
accepted. The protobuf is parsed with aws-kinesis-agg's ``messages_pb2`` directly (the library's
generator builds a dict per user record and re-encodes data as base64, several times slower),
with the same magic and md5 checks as its deaggregator.

Speed: the user records of one aggregated record are parsed by one ``orjson.loads`` of
``[rec,rec,…]`` (each record is a JSON object ending in a newline, which JSON allows as whitespace).
Only when that fails, or yields a different count, is each record parsed alone to find the bad one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

import orjson
from aws_kinesis_agg import DIGEST_SIZE, MAGIC
from aws_kinesis_agg import deaggregator as _deaggregator  # noqa: F401 - puts messages_pb2's imports on sys.path
from aws_kinesis_agg.messages_pb2 import AggregatedRecord
from google.protobuf.message import DecodeError

from market.tick import MAX_RECORD_BYTES, TickError

_MAGIC_LEN: Final = len(MAGIC)


@dataclass(frozen=True)
class Poison:
    """One user record (or a whole stream record) that is not a tick, with the reason."""

    sub: int  # user-record index inside the stream record; -1 for the whole stream record
    data: bytes
    reason: str


class AggregateError(ValueError):
    """A stream record that starts with the KPL magic but is not a valid aggregate."""


def user_records(data: bytes) -> list[bytes]:
    """The user records of one stream record: the aggregate's records, or the record itself."""
    if data[:_MAGIC_LEN] != MAGIC:
        return [data]
    if len(data) <= _MAGIC_LEN + DIGEST_SIZE:
        raise AggregateError(f"KPL aggregate of {len(data)} bytes is too short for magic + md5")
    body = data[_MAGIC_LEN:-DIGEST_SIZE]
    if hashlib.md5(body).digest() != data[-DIGEST_SIZE:]:
        raise AggregateError("KPL aggregate md5 does not match its protobuf (corrupt record)")
    agg = AggregatedRecord()
    try:
        agg.ParseFromString(body)
    except DecodeError as exc:
        raise AggregateError(f"KPL aggregate protobuf does not parse: {exc}") from None
    return [r.data for r in agg.records]


# Stands in the values list for a user record that did not parse (listed in the poison).
NOT_PARSED: Final = object()


def parse_ticks(records: list[bytes]) -> tuple[list[Any], list[Poison]]:
    """Parse user records as JSON. Returns (one value per record, poison); a poison record's value
    is NOT_PARSED. Values are not yet validated: the bar builder checks the fields it reads."""
    if len(records) == 1:
        return _parse_each(records)
    try:
        values = orjson.loads(b"[" + b",".join(records) + b"]")
    except orjson.JSONDecodeError:
        return _parse_each(records)
    if len(values) != len(records) or max(map(len, records)) > MAX_RECORD_BYTES:
        return _parse_each(records)
    return values, []


def _parse_each(records: list[bytes]) -> tuple[list[Any], list[Poison]]:
    values: list[Any] = []
    poison: list[Poison] = []
    for i, rec in enumerate(records):
        if len(rec) > MAX_RECORD_BYTES:
            values.append(NOT_PARSED)
            poison.append(Poison(i, rec, str(TickError(f"record of {len(rec)} bytes exceeds {MAX_RECORD_BYTES}; "
                                                       "not a tick"))))
            continue
        try:
            values.append(orjson.loads(rec))
        except orjson.JSONDecodeError as exc:
            values.append(NOT_PARSED)
            poison.append(Poison(i, rec, f"not JSON: {exc}"))
    return values, poison
