"""Kinesis records of the ticks stream → tick dicts, for the bars handler. Pure: bytes in, values out.

A stream record is either KPL-aggregated (``MAGIC · AggregatedRecord protobuf · md5``, as written by
the producer and read by aws-kinesis-agg) or a plain record holding one tick line. Both are
accepted. The protobuf is parsed with aws-kinesis-agg's ``messages_pb2`` directly (the library's
generator builds a dict per user record and re-encodes data as base64, several times slower),
with the same magic and md5 checks as its deaggregator.

Speed: the user records of one aggregated record are decoded by one msgspec call on
``[rec,rec,…]`` (each record is a JSON object ending in a newline, which JSON allows as whitespace)
into structs holding only the fields the bars read, their types checked by msgspec. Only when that
fails, or yields a different count, is each record decoded alone to find the bad one. The structs
are not tracked by the garbage collector (scalars only). Record data is base64-decoded by pybase64
(SIMD) when it is strict base64, by the standard library otherwise (same bytes, same errors).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

import msgspec
from aws_kinesis_agg import DIGEST_SIZE, MAGIC
from aws_kinesis_agg import deaggregator as _deaggregator  # noqa: F401 - puts messages_pb2's imports on sys.path
from aws_kinesis_agg.messages_pb2 import AggregatedRecord
from google.protobuf.message import DecodeError

from market.tick import (
    INT_FIELDS,
    MAX_RECORD_BYTES,
    REQUIRED,
    SCHEMA_VERSION,
    STR_FIELDS,
    TickError,
    decode,
)

try:  # the native accelerator's KPL reader (native/bars_fold.c); without it, protobuf does the same
    from _tickpipe_bars import kpl_join as _kpl_join
except ImportError:
    _kpl_join = None

try:  # SIMD base64, ~4x the standard library's; a dependency, optional so that a bare install still works
    from pybase64 import b64decode as _b64_strict
except ImportError:  # pragma: no cover - pybase64 is a dependency
    _b64_strict = None

_MAGIC_LEN: Final = len(MAGIC)


def b64decode(data: str | bytes) -> bytes:
    """``base64.b64decode(data)``, the same bytes and the same errors for any input, faster: strict
    base64 (what Lambda sends) decodes with pybase64; anything else goes to the standard library."""
    if _b64_strict is not None:
        try:
            return _b64_strict(data, validate=True)
        except (binascii.Error, ValueError):
            pass
    return base64.b64decode(data)


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
    body = memoryview(data)[_MAGIC_LEN:-DIGEST_SIZE]  # no copy of the ~25 KiB body
    if hashlib.md5(body).digest() != data[-DIGEST_SIZE:]:
        raise AggregateError("KPL aggregate md5 does not match its protobuf (corrupt record)")
    agg = AggregatedRecord()
    try:
        agg.ParseFromString(body)
    except DecodeError as exc:
        raise AggregateError(f"KPL aggregate protobuf does not parse: {exc}") from None
    return list(map(_DATA, agg.records))


_DATA: Final = attrgetter("data")


# The tick fields the bars read, typed from market.tick's field sets (one place for the schema):
# msgspec decodes a record straight into them, checking types and skipping the other fields,
# about twice as fast as building the whole dict.
BAR_INPUT_FIELDS: Final = ("sym", "ts", "ltt", "ltp", "vol", "atp", "dh", "dl", "oi", "pid")


def _field_type(name: str) -> type:
    if name in STR_FIELDS:
        return str
    return int if name in INT_FIELDS else float


TickFields = msgspec.defstruct(
    "TickFields",
    [(n, _field_type(n)) if n in REQUIRED else (n, _field_type(n) | None, None) for n in BAR_INPUT_FIELDS]
    + [("v", int, SCHEMA_VERSION)],
    kw_only=True,
    gc=False,  # scalars only, so no cycles: 400k structs a batch need not be tracked by the GC
)
_MANY = msgspec.json.Decoder(list[TickFields])
_ONE = msgspec.json.Decoder(TickFields)

# Stands in the values list for a user record that did not parse (listed in the poison).
NOT_PARSED: Final = object()


def parse_ticks(records: list[bytes]) -> tuple[list[Any], list[Poison]]:
    """Decode user records into TickFields. Returns (one value per record, poison); a poison
    record's value is NOT_PARSED and its reason is market.tick's own message."""
    if len(records) > 1 and max(map(len, records)) <= MAX_RECORD_BYTES:
        try:
            values = _MANY.decode(b"[%b]" % b",".join(records))
        except msgspec.DecodeError:  # also a validation error: find the bad record(s) one by one
            pass
        else:
            if len(values) == len(records):
                return values, []
    return _parse_each(records)


def fast_ticks(data: bytes) -> list[Any] | None:
    """Every user record of a KPL aggregate decoded into TickFields by one msgspec call on the
    records' data joined in C (native/bars_fold.c ``kpl_join``: no bytes object per record), when
    the aggregate and every tick in it are valid. None otherwise, and when the accelerator is not
    built: then :func:`user_records` and :func:`parse_ticks` decode it and say what is wrong. The
    same values either way (tests/bars/test_decode.py)."""
    if _kpl_join is None or data[:_MAGIC_LEN] != MAGIC or len(data) <= _MAGIC_LEN + DIGEST_SIZE:
        return None
    if hashlib.md5(memoryview(data)[_MAGIC_LEN:-DIGEST_SIZE]).digest() != data[-DIGEST_SIZE:]:
        return None
    got = _kpl_join(data, _MAGIC_LEN, len(data) - DIGEST_SIZE)
    if got is None:
        return None
    joined, count, longest = got
    if longest > MAX_RECORD_BYTES:
        return None
    try:
        values = _MANY.decode(joined)
    except msgspec.DecodeError:
        return None
    return values if len(values) == count else None


def _parse_each(records: list[bytes]) -> tuple[list[Any], list[Poison]]:
    values: list[Any] = []
    poison: list[Poison] = []
    for i, rec in enumerate(records):
        try:
            if len(rec) > MAX_RECORD_BYTES:
                raise msgspec.DecodeError(f"record of {len(rec)} bytes")
            values.append(_ONE.decode(rec))
        except msgspec.DecodeError as exc:
            values.append(NOT_PARSED)
            poison.append(Poison(i, rec, _reason(rec, exc)))
    return values, poison


def _reason(rec: bytes, exc: Exception) -> str:
    """Why a record is not a tick, in market.tick's words when it has them."""
    try:
        decode(rec)
    except TickError as err:
        return str(err)
    return f"not a tick: {exc}"
