"""Kinesis records of the ticks stream → tick dicts, for the bars handler. Pure: bytes in, values out.

A stream record is either KPL-aggregated (``MAGIC · AggregatedRecord protobuf · md5``, as written by
the producer and read by aws-kinesis-agg) or a plain record holding one tick line. Both are
accepted: :func:`tickpipe.kpl.user_records` reads them (aws-kinesis-agg's ``messages_pb2`` directly;
the library's generator builds a dict per user record and re-encodes data as base64, several times
slower), with the same magic and md5 checks as its deaggregator.

Speed: with the native accelerator (native/bars_fold.c), an aggregate of valid ticks in the
producer's plain shape is read, decoded and checked against every bound of market.tick in one C
call (:func:`fast_ticks`), which hands anything else to the general path. The general path decodes
the user records of one aggregated record by one msgspec call on ``[rec,rec,…]`` (each record is a
JSON object ending in a newline, which JSON allows as whitespace) into structs, their types and
bounds (market.tick's plausibility) checked by msgspec. Only when that fails, or yields a different
count, is each record decoded alone to find the bad one. The structs are not tracked by the garbage
collector (scalars only). Record data is base64-decoded by pybase64 (SIMD) when it is strict base64,
by the standard library otherwise (same bytes, same errors).
"""

from __future__ import annotations

import base64
import binascii
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Annotated, Any, Final

import msgspec

from market.errors import TickError
from market.tick import (
    FIELDS,
    INT64_MAX,
    INT_FIELDS,
    INT_RANGES,
    MAX_PRICE,
    MAX_RECORD_BYTES,
    MAX_SYMBOL_CHARS,
    MAX_TEXT_CHARS,
    REQUIRED,
    SCHEMA_VERSION,
    STR_FIELDS,
    TIME_FIELDS,
    UINT64_MAX,
    check_times,
    decode,
    latest_rx,
    latest_time,
    shown,
    validate,
)
from tickpipe.errors import AggregateError
from tickpipe.kpl import DIGEST_SIZE, MAGIC_SIZE, aggregate_body

_b64_strict: Callable[..., bytes] | None
try:  # SIMD base64, ~4x the standard library's; a dependency, optional so that a bare install still works
    from pybase64 import b64decode as _b64_strict
except ImportError:  # pragma: no cover - pybase64 is a dependency
    _b64_strict = None

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


# Every field of the tick record, typed and bounded from market.tick (one place for the schema and its
# plausibility): msgspec decodes a record straight into them, checking types and every bound that
# needs no clock, in C, about twice as fast as building the whole dict. So the bars handler refuses
# exactly the records compaction refuses, and folds the others. The bars read BAR_INPUT_FIELDS.
BAR_INPUT_FIELDS: Final = ("sym", "ts", "ltt", "ltp", "vol", "atp", "dh", "dl", "oi")


def _bounds(name: str) -> tuple[str, Any, Any]:
    """A field's kind and bounds from market.tick, for msgspec's types and the native decoder's rules:
    ("sym", _, most chars) (its shape is checked apart), ("str", _, most chars), ("int", low, high),
    ("price>", low, high) for low < x <= high, ("price", low, high) for low <= x <= high."""
    if name == "sym":
        return "sym", 1, MAX_SYMBOL_CHARS
    if name in STR_FIELDS:
        return "str", 0, MAX_TEXT_CHARS
    if name in INT_FIELDS:
        return ("int", *INT_RANGES.get(name, (SCHEMA_VERSION, SCHEMA_VERSION)))  # v: this version only
    return ("price>" if name == "ltp" else "price"), 0.0, MAX_PRICE  # a trade happened at ltp


def _field_type(name: str) -> Any:
    kind, lo, hi = _bounds(name)
    if kind in ("sym", "str"):  # the symbol's shape is checked once per distinct symbol (_check): a regex costs 1 µs
        return Annotated[str, msgspec.Meta(max_length=hi)]
    if kind == "int":
        # msgspec bounds must fit int64: seq's uint64 top is checked after decoding (_check)
        return Annotated[int, msgspec.Meta(ge=lo, le=hi) if hi <= INT64_MAX else msgspec.Meta(ge=lo)]
    return Annotated[float, msgspec.Meta(gt=lo, le=hi) if kind == "price>" else msgspec.Meta(ge=lo, le=hi)]


TickFields = msgspec.defstruct(
    "TickFields",
    [(n, _field_type(n)) if n in REQUIRED else (n, _field_type(n) | None, None) for n in FIELDS if n != "v"]
    + [("v", _field_type("v") | None, SCHEMA_VERSION)],
    kw_only=True,
    gc=False,  # scalars only, so no cycles: 400k structs a batch need not be tracked by the GC
)
# TickFields is a class made at import (defstruct), which mypy cannot take as a type
_MANY = msgspec.json.Decoder(list[TickFields])  # type: ignore[valid-type]
_ONE = msgspec.json.Decoder(TickFields)

# What msgspec raises for bytes that are no tick: invalid UTF-8 inside a string is a UnicodeDecodeError.
_NOT_DECODED: Final = (msgspec.DecodeError, UnicodeDecodeError)

# Stands in the values list for a user record that did not parse (listed in the poison).
NOT_PARSED: Final = object()


def parse_ticks(records: list[bytes], arrival: float | None = None) -> tuple[list[Any], list[Poison]]:
    """Decode user records into TickFields. Returns (one value per record, poison); a poison
    record's value is NOT_PARSED and its reason is market.tick's own message.

    ``arrival`` (epoch s) is when the stream record reached Kinesis: a tick's times may not be
    later (market.tick.check_times). The handler always passes it; None skips the time checks."""
    if len(records) > 1 and max(map(len, records)) <= MAX_RECORD_BYTES:
        try:
            values = _MANY.decode(b"[%b]" % b",".join(records))
        except _NOT_DECODED:  # also a validation error: find the bad record(s) one by one
            pass
        else:
            if len(values) == len(records):
                return _check(records, values, [], arrival)
    return _check(records, *_parse_each(records, arrival), arrival)


def fast_ticks(data: bytes, arrival: float | None = None) -> list[Any] | None:
    """Every user record of a KPL aggregate decoded and checked in one call of the native decoder
    (native/bars_fold.c ``kpl_ticks``, given market.tick's rules: :func:`native_rules`), when the
    aggregate is intact and every record is a valid tick in the producer's plain shape. Its values
    have the attributes of :data:`BAR_INPUT_FIELDS` and ``pid``, equal to :func:`parse_ticks`'.
    None for anything else, and when the accelerator is not built: then :func:`tickpipe.kpl.user_records` and
    :func:`parse_ticks` decode it and say what is wrong (tests/bars/test_decode_native.py)."""
    if _kpl_ticks is None:
        return None
    try:
        if aggregate_body(data) is None:
            return None
    except AggregateError:
        return None
    if arrival is None:
        latest = latest_ms = INT64_MAX
    else:  # clamped into int64: the same checks, as every time is an int64 (INT_RANGES)
        latest = latest_time(arrival)
        latest_ms = max(-1, min(latest_rx(latest), INT64_MAX))
        latest = max(-1, min(latest, INT64_MAX))
    return _kpl_ticks(data, MAGIC_SIZE, len(data) - DIGEST_SIZE, latest, latest_ms, _SYMBOLS_OK)


def _parse_each(records: list[bytes], arrival: float | None) -> tuple[list[Any], list[Poison]]:
    values: list[Any] = []
    poison: list[Poison] = []
    for i, rec in enumerate(records):
        try:
            if len(rec) > MAX_RECORD_BYTES:
                raise msgspec.DecodeError(f"record of {len(rec)} bytes")
            values.append(_ONE.decode(rec))
        except _NOT_DECODED as exc:
            values.append(NOT_PARSED)
            poison.append(Poison(i, rec, _reason(rec, exc, arrival)))
    return values, poison


_SYM, _TS, _LTT, _RX, _SEQ, _V = map(attrgetter, ("sym", "ts", "ltt", "rx", "seq", "v"))
_SYMBOLS_OK: set[str] = set()  # symbols whose shape was checked (a shard carries a few thousand)
_SYMBOLS_MAX: Final = 100_000


def _check(records: list[bytes], values: list[Any], poison: list[Poison],
           arrival: float | None) -> tuple[list[Any], list[Poison]]:
    """The bounds msgspec does not hold: the symbol's shape, times against ``arrival``, seq's
    uint64 top; and a null ``v`` is version 1 (as compaction reads it). A few C-level passes clear
    an ordinary batch; only a batch with something to refuse is looked at tick by tick."""
    latest = latest_time(arrival) if arrival is not None else INT64_MAX
    latest_ms = latest_rx(latest) if arrival is not None else INT64_MAX
    parsed = values if not poison else [v for v in values if v is not NOT_PARSED]
    if not parsed:
        return values, poison
    if (set(map(_SYM, parsed)) <= _SYMBOLS_OK and max(map(_TS, parsed)) <= latest
            # filter(None, …) drops nulls (and zeros, which are below any lower bound msgspec checked)
            and max(filter(None, map(_LTT, parsed)), default=0) <= latest
            and max(filter(None, map(_RX, parsed)), default=0) <= latest_ms
            and max(filter(None, map(_SEQ, parsed)), default=0) <= UINT64_MAX
            and None not in map(_V, parsed)):
        return values, poison
    for i, v in enumerate(values):
        if v is NOT_PARSED:
            continue
        if v.v is None:
            v.v = SCHEMA_VERSION
        try:
            if v.sym not in _SYMBOLS_OK:
                validate({"sym": v.sym, "ts": v.ts, "ltp": v.ltp})
                if len(_SYMBOLS_OK) >= _SYMBOLS_MAX:
                    _SYMBOLS_OK.clear()
                _SYMBOLS_OK.add(v.sym)
            if v.seq is not None and v.seq > UINT64_MAX:
                raise TickError(f"field 'seq' must be in 0..{UINT64_MAX}, got {shown(v.seq)}")
            if arrival is not None:
                check_times({"ts": v.ts, "ltt": v.ltt, "rx": v.rx}, arrival)
        except TickError as exc:
            values[i] = NOT_PARSED
            poison.append(Poison(i, records[i], str(exc)))
    poison.sort(key=lambda p: p.sub)
    return values, poison


# The native decoder's rules, in its terms (native/bars_fold.c ``configure``).
_NATIVE_KIND: Final = {"sym": "y", "str": "s", "int": "i", "price>": "F", "price": "f"}
_CLOCK: Final = {**dict.fromkeys(TIME_FIELDS, 1), "rx": 2}  # 1: epoch s, 2: epoch ms (market.tick.check_times)


def native_rules() -> tuple[tuple[str, str, bool, Any, Any, int, Any], ...]:
    """Every field's rule for the native decoder, from market.tick (the one place of the bounds):
    (name, kind, required, low, high, clock, value when null or absent)."""
    rules = []
    for name in FIELDS:
        kind, lo, hi = _bounds(name)
        rules.append((name, _NATIVE_KIND[kind], name in REQUIRED, lo, hi, _CLOCK.get(name, 0),
                      SCHEMA_VERSION if name == "v" else None))  # a null v is version 1, as in _check
    return tuple(rules)


try:  # the native accelerator's decoder (native/bars_fold.c); without it, the general path does the same
    from _tickpipe_bars import configure as _configure
    from _tickpipe_bars import kpl_ticks as _kpl_ticks
except ImportError:  # not built (market.bars_fold says so when it is there but does not load)
    _kpl_ticks = None
else:
    try:
        _configure(native_rules(), MAX_RECORD_BYTES)
    except (ValueError, OverflowError) as exc:  # a rule it cannot hold (a negative bound): the general path
        warnings.warn(f"the native tick decoder cannot take market.tick's rules ({exc}); decoding in Python",
                      RuntimeWarning, stacklevel=1)
        _kpl_ticks = None


def _reason(rec: bytes, exc: Exception, arrival: float | None) -> str:
    """Why a record is not a tick, in market.tick's words when it has them."""
    try:
        decode(rec, arrival=arrival)
    except TickError as err:
        return str(err)
    return f"not a tick: {exc}"
