"""The tick record: one JSON object per tick, UTF-8, no spaces, ended by a newline.

This module is the single place that knows the record's fields and their types. Producer, bars
consumer, compaction and the simulator's checks all encode and decode through it.

A tick is a plain ``dict`` (fast to build on the hot path, and what ``orjson`` reads and writes).
Prices are decimals at the instrument's precision, carried as floats whose shortest ``repr`` is that
decimal (``round(raw / divisor, precision)``), never scaled integers.

Every record on the stream and every line in raw/ticks ends with ``\\n``: Firehose concatenates the
records it de-aggregates without a delimiter, so the newline is what makes raw/ticks JSON lines.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

SCHEMA_VERSION: Final = 1

# Field order on the wire. Keep in step with DESIGN.md ("Tick record") and the curated schema.
FIELDS: Final[tuple[str, ...]] = (
    "sym", "ts", "ltt", "ltp", "ltq", "vol", "atp", "bid", "ask", "bq", "aq", "tbq", "tsq",
    "oi", "dh", "dl", "op", "pc", "src", "pid", "seq", "rx", "v",
)
INT_FIELDS: Final = frozenset({"ts", "ltt", "ltq", "vol", "bq", "aq", "tbq", "tsq", "oi", "seq", "rx", "v"})
PRICE_FIELDS: Final = frozenset({"ltp", "atp", "bid", "ask", "dh", "dl", "op", "pc"})
STR_FIELDS: Final = frozenset({"sym", "src", "pid"})
# Fields a consumer cannot do without; the rest may be null (an index has no volume or depth).
REQUIRED: Final = ("sym", "ts", "ltp")
SOURCES: Final = frozenset({"ws", "backfill", "sim"})

# Record size bound: anything larger is not a tick and is quarantined rather than parsed.
MAX_RECORD_BYTES: Final = 4096


class TickError(ValueError):
    """A record that is not a valid tick. The message says which field and why."""


def encode(tick: dict[str, Any]) -> bytes:
    """One tick as a newline-terminated JSON line (the stream record and the raw/ticks line)."""
    return orjson.dumps(tick) + b"\n"


def encode_many(ticks: list[dict[str, Any]]) -> bytes:
    """Several ticks as JSON lines, for raw files and tests."""
    return b"".join(orjson.dumps(t) + b"\n" for t in ticks)


def decode(data: bytes | str) -> dict[str, Any]:
    """Parse and validate one tick record. Raises :class:`TickError` with the reason."""
    if len(data) > MAX_RECORD_BYTES:
        raise TickError(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}; not a tick")
    try:
        tick = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TickError(f"not JSON: {exc}") from None
    validate(tick)
    return tick


def validate(tick: Any) -> None:
    """Check a parsed record against the schema. Raises :class:`TickError` naming the field."""
    if not isinstance(tick, dict):
        raise TickError(f"expected a JSON object, got {type(tick).__name__}")
    for name in REQUIRED:
        if tick.get(name) is None:
            raise TickError(f"missing required field {name!r}")
    v = tick.get("v", SCHEMA_VERSION)
    if v != SCHEMA_VERSION:
        raise TickError(f"unsupported schema version {v!r} (this reader knows {SCHEMA_VERSION})")
    sym = tick["sym"]
    if not isinstance(sym, str) or ":" not in sym:
        raise TickError(f"field 'sym' must look like 'EXCHANGE:NAME', got {sym!r}")
    for name, value in tick.items():
        if value is None:
            continue
        if name in INT_FIELDS:
            if type(value) is not int:
                raise TickError(f"field {name!r} must be an integer, got {value!r}")
        elif name in PRICE_FIELDS:
            if type(value) not in (int, float) or value != value:  # NaN check
                raise TickError(f"field {name!r} must be a number, got {value!r}")
        elif name in STR_FIELDS and not isinstance(value, str):
            raise TickError(f"field {name!r} must be a string, got {value!r}")
    if tick["ts"] < 0:
        raise TickError(f"field 'ts' must be epoch seconds, got {tick['ts']!r}")
    vol = tick.get("vol")
    if vol is not None and vol < 0:
        raise TickError(f"field 'vol' must not be negative, got {vol!r}")


def state_key(tick: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """The quote state that identifies a duplicate: a resent snapshot has the same state.

    Duplicates are recognised by state, not arrival (DESIGN.md): after a reconnect the socket
    resends snapshots, and Lambda retries and journal replays resend records.

    Indices have no last traded time and no volume: their quote time is the feed time ``ts``, or
    two index ticks that merely share a price would collapse into one.
    """
    ltt = tick.get("ltt")
    return (tick["sym"], tick["ts"] if ltt is None else ltt, tick.get("vol"), tick["ltp"])


def make(sym: str, ts: int, ltp: float, **fields: Any) -> dict[str, Any]:
    """Build a tick in wire order with every field present (absent ones null). For tests and the sim."""
    tick: dict[str, Any] = dict.fromkeys(FIELDS)
    tick.update(sym=sym, ts=ts, ltp=ltp, v=SCHEMA_VERSION)
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TickError(f"unknown tick fields: {sorted(unknown)}")
    tick.update(fields)
    return tick
