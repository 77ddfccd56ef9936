"""The curated candle tables (exchange candles from the Fyers history API) and their writer.

Three tables, one per resolution family, each partitioned by ``dt`` (the IST trading date):

- ``candles_1m``: 1-minute candles (``res`` = 1);
- ``candles_5m``: candles on the 5-minute grid, ``res`` = 5, 15 or 60 minutes (every one starts at
  09:15 + a multiple of its size, so all lie on 5-minute boundaries);
- ``candles_1d``: one candle per symbol and trading day (Fyers stamps it at IST midnight).

Intraday tables share one schema (``sym, start, res, o, h, l, c, vol, src, v``); the daily table has
``day`` (yyyy-MM-dd) instead of ``res``. ``src`` is ``history`` (from ``GET /data/history``). Each
day is one object, ``curated/<table>/dt=<day>/candles.parquet``, zstd, sorted by sym (then res,
start) and deduplicated on (sym, res, start): a merge reads the day's object, replaces the rows it
brings and writes the day back in one PUT, so a reader sees the old day or the new one, and writing
the same candles twice leaves the same rows (idempotent).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consumers.history.errors import CandleTableError
from consumers.lake.schema import SYM_TYPE
from fyers.history import Candle
from market.session import trading_date
from tickpipe.aws_errors import error_code

SRC_HISTORY: Final = "history"
SCHEMA_VERSION: Final = 1
OBJECT_NAME: Final = "candles.parquet"


@dataclass(frozen=True)
class CandleTable:
    name: str
    resolutions: tuple[str, ...]  # Fyers resolutions this table holds
    daily: bool
    schema: pa.Schema

    @property
    def prefix(self) -> str:
        return f"curated/{self.name}/"

    def key(self, day: str) -> str:
        return f"{self.prefix}dt={day}/{OBJECT_NAME}"

    @property
    def keys(self) -> tuple[str, ...]:
        return ("sym", "start") if self.daily else ("sym", "res", "start")


_PRICES = [pa.field(f, pa.float64()) for f in ("o", "h", "l", "c")]
INTRADAY_SCHEMA: Final = pa.schema([pa.field("sym", SYM_TYPE), pa.field("start", pa.int64()),
                                    pa.field("res", pa.int64()), *_PRICES, pa.field("vol", pa.int64()),
                                    pa.field("src", pa.string()), pa.field("v", pa.int64())])
DAILY_SCHEMA: Final = pa.schema([pa.field("sym", SYM_TYPE), pa.field("start", pa.int64()),
                                 pa.field("day", pa.string()), *_PRICES, pa.field("vol", pa.int64()),
                                 pa.field("src", pa.string()), pa.field("v", pa.int64())])

CANDLES_1M: Final = CandleTable("candles_1m", ("1",), False, INTRADAY_SCHEMA)
CANDLES_5M: Final = CandleTable("candles_5m", ("5", "15", "60"), False, INTRADAY_SCHEMA)
CANDLES_1D: Final = CandleTable("candles_1d", ("D",), True, DAILY_SCHEMA)
CANDLE_TABLES: Final = {t.name: t for t in (CANDLES_1M, CANDLES_5M, CANDLES_1D)}
RESOLUTIONS: Final = ("1", "5", "15", "60", "D")  # what `tickpipe backfill --resolution` accepts


def table_for(resolution: str) -> CandleTable:
    for table in CANDLE_TABLES.values():
        if resolution in table.resolutions:
            return table
    raise CandleTableError(f"no candle table holds resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)}")


def rows_by_day(table: CandleTable, sym: str, resolution: str, candles: Iterable[Candle]) -> dict[str, list[dict[str, Any]]]:
    """Candle rows of one symbol grouped by their dt partition (the IST date of the candle's start)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for c in candles:
        day = trading_date(c.start).isoformat()
        row: dict[str, Any] = {"sym": sym, "start": c.start, "o": c.open, "h": c.high, "l": c.low, "c": c.close,
                               "vol": c.volume, "src": SRC_HISTORY, "v": SCHEMA_VERSION}
        if table.daily:
            row["day"] = day
        else:
            row["res"] = int(resolution)
        out.setdefault(day, []).append(row)
    return out


def to_table(table: CandleTable, rows: list[dict[str, Any]]) -> pa.Table:
    plain = pa.schema([pa.field(f.name, pa.string()) if f.name == "sym" else f for f in table.schema])
    return pa.Table.from_pylist(rows, schema=plain).cast(table.schema)


def merge(table: CandleTable, old: pa.Table | None, new: pa.Table) -> pa.Table:
    """``old`` with ``new``'s rows replacing any of the same key; sorted by the key."""
    if old is not None and old.num_rows:
        old = old.select(table.schema.names).cast(table.schema)
        # Drop old rows whose key the new rows bring: newer candles win (a day re-fetched after it closed).
        new_keys = pa.Table.from_arrays([new[k].cast(pa.string()) if k == "sym" else new[k] for k in table.keys],
                                        names=list(table.keys))
        old_keys = pa.Table.from_arrays([old[k].cast(pa.string()) if k == "sym" else old[k] for k in table.keys],
                                        names=list(table.keys))
        marked = old_keys.append_column("_i", pa.array(range(old.num_rows), pa.int64()))
        hit = marked.join(new_keys, keys=list(table.keys), join_type="left semi")["_i"]
        keep = pc.invert(pc.is_in(pa.array(range(old.num_rows), pa.int64()), value_set=hit.combine_chunks()))
        combined = pa.concat_tables([old.filter(keep), new]).combine_chunks()
    else:
        combined = new.combine_chunks()
    # Sort on the plain symbol text (a dictionary's sort order is its codes').
    order = pa.Table.from_arrays([combined["sym"].cast(pa.string())] + [combined[k] for k in table.keys[1:]],
                                 names=list(table.keys))
    idx = pc.sort_indices(order, sort_keys=[(k, "ascending") for k in table.keys])
    return combined.take(idx)


def to_parquet(t: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(t, buf, compression="zstd", use_dictionary=["sym", "src", "day"], write_statistics=True)
    return buf.getvalue()


def from_parquet(body: bytes, source: str) -> pa.Table:
    try:
        return pq.read_table(io.BytesIO(body))
    except (pa.ArrowInvalid, OSError) as exc:
        raise CandleTableError(f"{source} is not a readable Parquet candle file ({exc})") from None


class CandleWriter:
    """Merges candle rows into the day objects of the lake (any :class:`consumers.lake.store.LakeStore`)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.objects_written = 0

    def read_day(self, table: CandleTable, day: str) -> pa.Table | None:
        key = table.key(day)
        try:
            body = self.store.get(key)
        except Exception as exc:
            if _missing(exc):
                return None
            raise
        try:
            return from_parquet(body, self.store.uri(key))
        except CandleTableError as exc:
            # The day's chunks have markers, so a plain re-run would skip them: --force fetches them again.
            raise CandleTableError(
                f"{exc}; delete it, then fetch that day again for every symbol it held: tickpipe backfill "
                f"--from {day} --to {day} --resolution {','.join(table.resolutions)} --force --symbols …") from None

    def write(self, table: CandleTable, rows_by_dt: dict[str, list[dict[str, Any]]]) -> list[str]:
        """Merge each day's rows into its object; returns the days written."""
        written = []
        for day in sorted(rows_by_dt):
            rows = rows_by_dt[day]
            if not rows:
                continue
            merged = merge(table, self.read_day(table, day), to_table(table, rows))
            self.store.put(table.key(day), to_parquet(merged))
            self.objects_written += 1
            written.append(day)
        return written


def _missing(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    return error_code(exc) in ("NoSuchKey", "404")


def day_range(first: dt.date, last: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
