"""The curated tables: their Arrow/Parquet schemas, how rows are validated, deduplicated and ordered.

One ``TableSpec`` per table; compaction, the tests and the local query engine read them from here.
Ticks take every field of ``market.tick.FIELDS`` in that order; bars every field of the bar record
(DESIGN.md "Bar record", the same order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from consumers.lake.errors import RecordError
from market import tick as tickmod
from market.bars import BAR_FIELDS, BAR_INT_FIELDS, BAR_PRICE_FIELDS, BAR_REQUIRED
from market.errors import TickError
from market.session import BAR_SECONDS
from tickpipe import names

SYM_TYPE: Final = pa.dictionary(pa.int32(), pa.string())


def _type(name: str, ints: frozenset[str], prices: frozenset[str]) -> pa.DataType:
    if name in ints:
        # seq is uint64 (market.tick.INT_RANGES: a boot epoch in its high bits); the rest int64
        return pa.uint64() if tickmod.INT_RANGES.get(name, (0, 0))[1] > tickmod.INT64_MAX else pa.int64()
    if name in prices:
        return pa.float64()
    return pa.string()


def _schema(fields: tuple[str, ...], ints: frozenset[str], prices: frozenset[str]) -> tuple[pa.Schema, pa.Schema]:
    """(schema for parsing raw JSON with plain strings, schema of the curated files with sym dictionary-encoded)."""
    read = pa.schema([pa.field(f, _type(f, ints, prices)) for f in fields])
    curated = pa.schema([pa.field(f, SYM_TYPE if f == "sym" else _type(f, ints, prices)) for f in fields])
    return read, curated


def validate_bar(bar: Any, arrival: float) -> None:  # noqa: C901 - one flat check per field
    """Check one parsed bar record (arrived at ``arrival``, epoch s); raises :class:`RecordError`
    naming the field. Bars are made of ticks, so their values have the ticks' bounds (market.tick)."""
    if not isinstance(bar, dict):
        raise RecordError(f"expected a JSON object, got {type(bar).__name__}")
    for name in BAR_REQUIRED:
        if bar.get(name) is None:
            raise RecordError(f"missing required field {name!r}")
    for name, value in bar.items():
        if value is None:
            continue
        if name in BAR_INT_FIELDS:
            if type(value) is not int:
                raise RecordError(f"field {name!r} must be an integer, got {tickmod.shown(value)}")
            if not 0 <= value <= tickmod.INT64_MAX:
                raise RecordError(f"field {name!r} must be in 0..{tickmod.INT64_MAX}, got {tickmod.shown(value)}")
        if name in BAR_PRICE_FIELDS and (type(value) not in (int, float) or not 0 < value <= tickmod.MAX_PRICE):
            raise RecordError(f"field {name!r} must be a number > 0 and at most {tickmod.MAX_PRICE:g}, "
                              f"got {tickmod.shown(value)}")
    sym = bar["sym"]
    if not isinstance(sym, str) or len(sym) > tickmod.MAX_SYMBOL_CHARS or not tickmod.SYMBOL_RE.fullmatch(sym):
        raise RecordError(f"field 'sym' must look like 'EXCHANGE:NAME', got {tickmod.shown(sym)}")
    latest = tickmod.latest_time(arrival)
    for name in BAR_TIME_FIELDS:
        value = bar.get(name)
        if value is not None and value < tickmod.EARLIEST_TS:
            raise RecordError(f"field {name!r} must be in {tickmod.EARLIEST_TS}..{tickmod.INT64_MAX}, got {value}")
        if value is not None and value > latest:
            raise RecordError(tickmod.time_error(name, value, latest))
    if bar["start"] % BAR_SECONDS:
        raise RecordError(f"field 'start' must be a multiple of {BAR_SECONDS} s, got {bar['start']}")
    if not bar["l"] <= min(bar["o"], bar["c"]) <= max(bar["o"], bar["c"]) <= bar["h"]:
        raise RecordError(f"prices out of order: l={bar['l']} o={bar['o']} c={bar['c']} h={bar['h']}")
    if bar.get("v", 1) not in (1, None):
        raise RecordError(f"unsupported schema version {bar.get('v')!r}")


def validate_tick(tick: Any, arrival: float) -> None:
    """market.tick's checks, and its times against ``arrival`` (epoch s), as a RecordError."""
    try:
        tickmod.validate(tick)
        tickmod.check_times(tick, arrival)
    except TickError as exc:
        raise RecordError(str(exc)) from None



BAR_TIME_FIELDS: Final = ("start", "first_ts", "last_ts")


def _between(col: pa.ChunkedArray, lo: float, hi: float) -> pa.ChunkedArray:
    """lo <= col <= hi, null where col is null (NaN is never between)."""
    return pc.and_(pc.greater_equal(col, lo), pc.less_equal(col, hi))


def _sym_ok(sym: pa.ChunkedArray) -> pa.ChunkedArray:
    """market.tick's symbol shape, checked once per distinct symbol (a regex per row costs more than
    parsing the row)."""
    distinct = pc.unique(sym)
    bad = [s for s in distinct.to_pylist()
           if s is not None and (len(s) > tickmod.MAX_SYMBOL_CHARS or not tickmod.SYMBOL_RE.fullmatch(s))]
    return pc.invert(pc.is_in(sym, value_set=pa.array(bad, pa.string())))


def _tick_bounds(t: pa.Table, arrival: float) -> list[tuple[str, float, float, bool]]:
    """(column, low, high, low is exclusive) of every numeric bound market.tick sets for a record
    that reached AWS at ``arrival``."""
    latest = tickmod.latest_time(arrival)
    bounds: list[tuple[str, float, float, bool]] = []
    for name in tickmod.INT_FIELDS:
        lo, hi = tickmod.INT_RANGES.get(name, (tickmod.SCHEMA_VERSION, tickmod.SCHEMA_VERSION))
        if name in tickmod.TIME_FIELDS:
            hi = latest
        elif name == "rx":
            hi = tickmod.latest_rx(latest)
        if not pa.types.is_unsigned_integer(t.schema.field(name).type):  # uint64 holds seq's whole range
            bounds.append((name, lo, hi, False))
    bounds += [(name, 0, tickmod.MAX_PRICE, name == "ltp") for name in tickmod.PRICE_FIELDS]
    return bounds


def _tick_valid(t: pa.Table, arrival: float) -> pa.ChunkedArray:
    """market.tick.validate and check_times, vectorised (tests/lake check that both agree).

    Each column's min and max first: a column within its bounds needs no per-row check, which is
    every column of an ordinary object (a mask per column costs more than the min/max)."""
    ok = pc.and_(pc.is_valid(t["sym"]), pc.and_(pc.is_valid(t["ts"]), pc.is_valid(t["ltp"])))
    ok = pc.and_(ok, _sym_ok(t["sym"]))
    checks = []
    for name, lo, hi, open_low in _tick_bounds(t, arrival):
        col = t[name]
        if col.null_count == len(col):
            continue
        seen = pc.min_max(col)
        low, high = seen["min"].as_py(), seen["max"].as_py()
        inside = (low > lo if open_low else low >= lo) and high <= hi and low == low and high == high
        if inside and not (pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py()):
            continue
        above = pc.greater(col, lo) if open_low else pc.greater_equal(col, lo)
        checks.append(pc.and_(above, pc.less_equal(col, hi)))  # NaN compares false: refused
    for name in tickmod.STR_FIELDS - {"sym"}:
        if (pc.max(pc.utf8_length(t[name])).as_py() or 0) > tickmod.MAX_TEXT_CHARS:
            checks.append(pc.less_equal(pc.utf8_length(t[name]), tickmod.MAX_TEXT_CHARS))
    for check in checks:
        ok = pc.and_(ok, pc.fill_null(check, True))
    return pc.fill_null(ok, False)


def _bar_valid(t: pa.Table, arrival: float) -> pa.ChunkedArray:
    """validate_bar, vectorised."""
    latest = tickmod.latest_time(arrival)
    ok = pc.is_valid(t["sym"])
    for name in BAR_REQUIRED[1:]:
        ok = pc.and_(ok, pc.is_valid(t[name]))
    ok = pc.and_(ok, _sym_ok(t["sym"]))
    checks = [_between(t[name], tickmod.EARLIEST_TS, latest) for name in BAR_TIME_FIELDS]
    checks += [pc.greater_equal(t[name], 0) for name in BAR_INT_FIELDS]
    checks += [pc.and_(pc.greater(t[name], 0), pc.less_equal(t[name], tickmod.MAX_PRICE)) for name in BAR_PRICE_FIELDS]
    for check in checks:
        ok = pc.and_(ok, pc.fill_null(check, True))
    whole = pc.multiply(pc.divide(t["start"], BAR_SECONDS), BAR_SECONDS)  # integer division
    ok = pc.and_(ok, pc.equal(t["start"], whole))
    ok = pc.and_(ok, pc.less_equal(t["l"], pc.min_element_wise(t["o"], t["c"])))
    ok = pc.and_(ok, pc.greater_equal(t["h"], pc.max_element_wise(t["o"], t["c"])))
    ok = pc.and_(ok, pc.fill_null(pc.equal(t["v"], 1), True))
    return pc.fill_null(ok, False)


@dataclass(frozen=True)
class TableSpec:
    """Everything compaction needs to know about one table."""

    name: str  # "ticks" or "bars_5m"
    raw_prefix: str
    curated_prefix: str
    read_schema: pa.Schema  # raw JSON → Arrow, sym as plain string
    schema: pa.Schema  # curated Parquet
    time_column: str  # event time (epoch s): the curated dt partition is its UTC date
    dedup_keys: tuple[str, ...]  # rows equal on these are one record ...
    prefer: tuple[tuple[str, str], ...]  # ... and the first by this order (after the keys) is kept
    order: tuple[tuple[str, str], ...]  # output order within the partition
    # vectorised check of parsed rows, and of one record (the reason of a rejected row); both take
    # the time the raw object reached AWS (epoch s), which bounds the times a record may hold
    valid: Callable[[pa.Table, float], pa.ChunkedArray]
    validate: Callable[[Any, float], None]
    delta_columns: tuple[str, ...] = ()  # int64 columns written DELTA_BINARY_PACKED, not dictionary

    @property
    def sort_keys(self) -> list[tuple[str, str]]:
        """The output order, then the preference: rows with equal dedup keys come out preferred first."""
        named = {k for k, _ in self.order}
        return list(self.order) + [(k, o) for k, o in self.prefer if k not in named]

    @property
    def state_prefix(self) -> str:
        return f"{names.STATE}compact/{self.name}/"

    @property
    def quarantine_prefix(self) -> str:
        return f"{names.QUARANTINE}{self.name}/"

    def fill_defaults(self, t: pa.Table) -> pa.Table:
        """A missing schema version means version 1 (market.tick.validate reads it the same way)."""
        i = t.schema.get_field_index("v")
        return t.set_column(i, "v", pc.fill_null(t["v"], 1))


_TICK_READ, _TICK_CURATED = _schema(tickmod.FIELDS, tickmod.INT_FIELDS, tickmod.PRICE_FIELDS)
_BAR_READ, _BAR_CURATED = _schema(BAR_FIELDS, BAR_INT_FIELDS, BAR_PRICE_FIELDS)

TICKS: Final = TableSpec(
    name="ticks",
    raw_prefix=names.RAW_TICKS,
    curated_prefix=names.CURATED_TICKS,
    read_schema=_TICK_READ,
    schema=_TICK_CURATED,
    time_column="ts",
    # market.tick.observation_key: one row per distinct observation (every market field), the
    # earliest received copy; never the bar math's trade key, which would drop quote-only updates
    # and index ticks (issue #13).
    dedup_keys=tickmod.MARKET_FIELDS,
    prefer=(("rx", "ascending"), ("pid", "ascending"), ("seq", "ascending")),
    order=(("sym", "ascending"), ("ts", "ascending"), ("rx", "ascending"), ("pid", "ascending"),
           ("seq", "ascending")),
    valid=_tick_valid,
    validate=validate_tick,
    delta_columns=tuple(f for f in tickmod.FIELDS if f in tickmod.INT_FIELDS and f != "v"),
)

BARS: Final = TableSpec(
    name="bars_5m",
    raw_prefix=names.RAW_BARS,
    curated_prefix=names.CURATED_BARS,
    read_schema=_BAR_READ,
    schema=_BAR_CURATED,
    time_column="start",
    # An amended bar has a higher rev; the highest revision is the bar.
    dedup_keys=("sym", "start"),
    # market.bars.curated: the highest rev, then the most ticks.
    prefer=(("rev", "descending"), ("n", "descending"), ("last_ts", "descending"), ("vol_cum", "descending")),
    order=(("sym", "ascending"), ("start", "ascending")),
    valid=_bar_valid,
    validate=validate_bar,
    delta_columns=tuple(f for f in BAR_FIELDS if f in BAR_INT_FIELDS and f not in ("v", "rev")),
)

TABLES: Final = {spec.name: spec for spec in (TICKS, BARS)}
