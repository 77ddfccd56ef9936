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

import math
import re
from typing import Any, Final

import orjson

from market.errors import TickError

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

# ---- Plausibility: what a real tick can hold. Every reader (bars handler, compaction) refuses, and
# quarantines with the reason, a record outside these bounds before using any of its values.

# Record size bound: anything larger is not a tick (a full tick is ~350 bytes) and is not parsed.
MAX_RECORD_BYTES: Final = 4096
# Symbols are EXCHANGE:NAME (docs/FYERS.md): NSE:SBIN-EQ, NSE:M&M-EQ, NSE:NIFTY25DECFUT, BSE:SENSEX-INDEX.
# ASCII only, so characters, code points and bytes agree in every reader (Python re, msgspec, RE2).
MAX_SYMBOL_CHARS: Final = 64
SYMBOL_SHAPE: Final = r"[A-Z][A-Z0-9]{1,9}:[A-Za-z0-9][A-Za-z0-9&_.\-]*"
MAX_TEXT_CHARS: Final = 64  # src and pid
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1
# Times (ts, ltt in epoch s) no earlier than EARLIEST_TS; and no later than the moment the record
# reached AWS plus CLOCK_SKEW_S (exchange, producer and AWS clocks differ by seconds): a reader that
# knows the arrival (a Kinesis record's, a raw object's) checks that with check_times, also for rx.
EARLIEST_TS: Final = 946_684_800  # 2000-01-01T00:00:00Z, older than any feed this pipeline reads
CLOCK_SKEW_S: Final = 300
TIME_FIELDS: Final = ("ts", "ltt")
# Every other integer is a count, a size or a time: 0..int64. seq is uint64 (a boot epoch in its high bits).
INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    **{name: (0, INT64_MAX) for name in INT_FIELDS - {"seq", "v"}},
    **{name: (EARLIEST_TS, INT64_MAX) for name in TIME_FIELDS},
    "seq": (0, UINT64_MAX),
}
# Prices are rupees: ltp > 0 (a trade happened at it), the others >= 0 (0 = none quoted: an empty
# book side, no trade yet); all finite and at most MAX_PRICE, above any price on NSE/BSE/MCX.
MAX_PRICE: Final = 1e9

SYMBOL_RE: Final = re.compile(SYMBOL_SHAPE)  # fullmatch it: "$" would let a trailing newline through


def encode(tick: dict[str, Any]) -> bytes:
    """One tick as a newline-terminated JSON line (the stream record and the raw/ticks line)."""
    return orjson.dumps(tick) + b"\n"


def encode_many(ticks: list[dict[str, Any]]) -> bytes:
    """Several ticks as JSON lines, for raw files and tests."""
    return b"".join(orjson.dumps(t) + b"\n" for t in ticks)


def decode(data: bytes | str, *, arrival: float | None = None) -> dict[str, Any]:
    """Parse and check one tick record: :func:`validate`, and :func:`check_times` against
    ``arrival`` (epoch s) when given. Raises :class:`TickError` with the reason."""
    if len(data) > MAX_RECORD_BYTES:
        raise TickError(f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}; not a tick")
    try:
        tick = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TickError(f"not JSON: {exc}") from None
    validate(tick)
    if arrival is not None:
        check_times(tick, arrival)
    return tick


def validate(tick: Any) -> None:  # noqa: C901 - one flat check per field of the contract
    """Check a parsed record against the schema and every bound that needs no clock: types, integer
    ranges, prices, the symbol's shape. Raises :class:`TickError` naming the field."""
    if not isinstance(tick, dict):
        raise TickError(f"expected a JSON object, got {type(tick).__name__}")
    for name in REQUIRED:
        if tick.get(name) is None:
            raise TickError(f"missing required field {name!r}")
    v = tick.get("v")  # absent or null: version 1 (the curated table fills it in)
    if v is not None and (type(v) is not int or v != SCHEMA_VERSION):
        raise TickError(f"unsupported schema version {v!r} (this reader knows {SCHEMA_VERSION})")
    sym = tick["sym"]
    if not isinstance(sym, str) or len(sym) > MAX_SYMBOL_CHARS or not SYMBOL_RE.fullmatch(sym):
        raise TickError(f"field 'sym' must look like 'EXCHANGE:NAME' (A-Z, 0-9, & _ . -; at most "
                        f"{MAX_SYMBOL_CHARS} chars), got {shown(sym)}")
    for name, value in tick.items():
        if value is None:
            continue
        if name in INT_FIELDS:
            if type(value) is not int:
                raise TickError(f"field {name!r} must be an integer, got {shown(value)}")
            lo, hi = INT_RANGES.get(name, (SCHEMA_VERSION, SCHEMA_VERSION))
            if not lo <= value <= hi:
                raise TickError(f"field {name!r} must be in {lo}..{hi}, got {shown(value)}")
        elif name in PRICE_FIELDS:
            if type(value) not in (int, float) or type(value) is float and not math.isfinite(value):
                raise TickError(f"field {name!r} must be a finite number, got {shown(value)}")
            if not (0 < value if name == "ltp" else 0 <= value) or value > MAX_PRICE:
                low = "> 0" if name == "ltp" else ">= 0"
                raise TickError(f"field {name!r} must be {low} and at most {MAX_PRICE:g}, got {shown(value)}")
        elif name in STR_FIELDS and name != "sym":
            if not isinstance(value, str):
                raise TickError(f"field {name!r} must be a string, got {shown(value)}")
            if len(value) > MAX_TEXT_CHARS:
                raise TickError(f"field {name!r} must be at most {MAX_TEXT_CHARS} chars, got {len(value)}")


def latest_time(arrival: float) -> int:
    """The latest plausible ``ts``/``ltt`` (epoch s) of a record that reached AWS at ``arrival``."""
    return int(arrival) + CLOCK_SKEW_S


def check_times(tick: dict[str, Any], arrival: float) -> None:
    """Check the times of a validated tick against the moment it reached AWS (epoch s): ``ts`` and
    ``ltt`` at most arrival + CLOCK_SKEW_S, ``rx`` (ms) likewise. Raises :class:`TickError`."""
    latest = latest_time(arrival)
    for name in TIME_FIELDS:
        value = tick.get(name)
        if value is not None and value > latest:
            raise TickError(time_error(name, value, latest))
    rx = tick.get("rx")
    if rx is not None and rx > latest_rx(latest):
        raise TickError(time_error("rx", rx, latest_rx(latest)))


def latest_rx(latest: int) -> int:
    """The latest plausible ``rx`` (epoch ms) for the latest plausible time ``latest`` (epoch s)."""
    return latest * 1000 + 999


def time_error(name: str, value: int, latest: int) -> str:
    return (f"field {name!r} is more than {CLOCK_SKEW_S} s after the record reached AWS: "
            f"{shown(value)} > {latest}")


def shown(value: Any) -> str:
    """A value for an error message, cut short (a 10 MB string or a 4,000-digit integer is not)."""
    if type(value) is int and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, str | list | dict) and len(value) > 60:
        return f"{repr(value)[:60]}… ({len(value)} {'chars' if isinstance(value, str) else 'items'})"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}…"


# A tick's identity (DESIGN.md "Tick identity"): a tick is one observation of a symbol's quote
# state, and two records are the same observation when every market field is equal. So a reconnect
# snapshot repeating the full state, and a producer's re-send of the same (pid, seq), are one tick;
# a quote-only update (bid/ask/sizes moved, no trade) and an index tick (no ltt, no vol) at a new
# feed time are new ones. The receipt fields (src, pid, seq, rx, v) say which copy arrived, not what
# was observed. The bar math has its own, narrower key for trades: state_key.
RECEIPT_FIELDS: Final = ("src", "pid", "seq", "rx", "v")
MARKET_FIELDS: Final[tuple[str, ...]] = tuple(f for f in FIELDS if f not in RECEIPT_FIELDS)


def observation_key(tick: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two tick records the same observation: every market field."""
    return tuple(tick.get(f) for f in MARKET_FIELDS)


def state_key(tick: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """The trade state the bar math dedups by: a resent snapshot has the same state.

    For bars only (the tick table keeps every distinct observation: observation_key). After a
    reconnect the socket resends snapshots, and Lambda retries and journal replays resend records.

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
