"""curated/ticks keeps every distinct observation of a symbol's quote state (issue #13, DESIGN.md
"Tick identity"): per instrument kind and per message kind, what is a new tick and what is a copy."""

from __future__ import annotations

import datetime as dt
import io

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consumers.lake.compact import CompactOptions, Compactor, dedup_sort
from consumers.lake.schema import TICKS
from consumers.lake.store import LakeStore
from market import tick as tickmod
from market.bars import build_bars, curated
from tests.lake.conftest import OPEN
from tickpipe import names

ARRIVAL_DAY = "2026-11-26"


class Feed:
    """A producer's view of one instrument: observations with increasing (pid, seq) and rx."""

    seq = 0

    def __init__(self, sym: str, kind: str) -> None:
        self.sym, self.kind = sym, kind
        self.ts, self.price, self.vol, self.oi = OPEN, 100.0, 0, 5_000 if kind in ("future", "option") else None
        self.sent: list[dict] = []

    def _emit(self, **state) -> dict:
        Feed.seq += 1
        t = tickmod.make(self.sym, self.ts, self.price, src="ws", pid="p1", seq=Feed.seq, rx=self.ts * 1000 + 50,
                         **state)
        self.sent.append(t)
        return t

    def state(self, **changes) -> dict:
        if self.kind == "index":  # an index has a value and the day's range, no trades, no depth
            return dict(dh=max(self.price, 101.0), dl=min(self.price, 99.0), op=100.0, pc=99.5, **changes)
        return dict(ltt=self.ltt, ltq=5, vol=self.vol, atp=100.02, bid=self.price - 0.05, ask=self.price + 0.05,
                    bq=10, aq=12, tbq=900, tsq=800, oi=self.oi, dh=101.0, dl=99.0, op=100.0, pc=99.5) | changes

    def trade(self) -> dict:
        self.ts += 1
        self.price = round(self.price + 0.05, 2)
        self.vol += 5
        self.ltt = self.ts
        return self._emit(**self.state())

    def quote_only(self) -> dict:
        """The book moved (or, for an index, the same value at a new feed time): no trade."""
        self.ts += 1
        if self.kind == "index":
            return self._emit(**self.state())
        last = self.sent[-1]
        changes = {"bid": round(last["bid"] - 0.05, 2), "bq": last["bq"] + 7, "aq": last["aq"] + 3}
        if self.oi is not None:
            changes["oi"] = last["oi"] + 75  # open interest moves between trades too
        return self._emit(**{**self.state(), **changes})

    def reconnect_snapshot(self) -> dict:
        """After a reconnect the socket sends the latest state again: a new (pid, seq), a later rx."""
        last = self.sent[-1]
        Feed.seq += 1
        return {**last, "seq": Feed.seq, "rx": last["rx"] + 2_000}

    def resend(self) -> dict:
        """The producer sends a record again (a retry, a journal replay): the same (pid, seq)."""
        return dict(self.sent[-1])


INSTRUMENTS = {"equity": "NSE:SBIN-EQ", "index": "NSE:NIFTY50-INDEX", "future": "NSE:NIFTY26NOVFUT",
               "option": "NSE:NIFTY26NOV24000CE"}
MESSAGES = {"trade": True, "quote-only": True, "reconnect snapshot": False, "producer re-send": False}


def curated_rows(records: list[dict]) -> list[dict]:
    return dedup_sort(TICKS, pa.Table.from_pylist(records, schema=TICKS.read_schema)).to_pylist()


@pytest.mark.parametrize("kind", INSTRUMENTS)
@pytest.mark.parametrize("message", MESSAGES)
def test_a_message_is_a_new_tick_or_a_copy(kind, message):
    feed = Feed(INSTRUMENTS[kind], kind)
    base = [feed.trade(), feed.quote_only(), feed.trade()]
    extra = {"trade": feed.trade, "quote-only": feed.quote_only, "reconnect snapshot": feed.reconnect_snapshot,
             "producer re-send": feed.resend}[message]()
    rows = curated_rows(base + [extra] + base[:1])  # and a late copy of the first tick
    expected = base + [extra] if MESSAGES[message] else base
    assert rows == sorted(expected, key=lambda t: (t["ts"], t["rx"]))


def test_an_index_keeps_a_value_it_had_earlier_in_the_day():
    feed = Feed(INSTRUMENTS["index"], "index")
    first = feed.trade()
    feed.price = round(feed.price + 1.5, 2)
    feed.trade()
    feed.price = first["ltp"]  # back to the morning's value: a new observation, not a copy
    again = feed.quote_only()
    assert again["ltp"] == first["ltp"] and len(curated_rows(feed.sent)) == 3


def test_identity_is_every_market_field_and_not_the_receipt():
    assert set(tickmod.MARKET_FIELDS) | set(tickmod.RECEIPT_FIELDS) == set(tickmod.FIELDS)
    assert TICKS.dedup_keys == tickmod.MARKET_FIELDS
    assert not {"rx", "seq", "pid", "src"} & set(TICKS.dedup_keys)


def a_day() -> tuple[list[dict], list[dict]]:
    """Every instrument kind and message kind, interleaved as the stream carries them: (stream, distinct)."""
    feeds = [Feed(sym, kind) for kind, sym in INSTRUMENTS.items()]
    stream = []
    for step in range(400):
        for f in feeds:
            move = (f.trade, f.trade, f.quote_only)[step % 3]
            stream.append(move())
            if step % 17 == 0:
                stream.append(f.reconnect_snapshot())
            if step % 23 == 0:
                stream.append(f.resend())
    return stream, [t for f in feeds for t in f.sent]


def test_compaction_keeps_every_observation_once_and_the_bars_rebuilt_from_it_equal_the_streams(lake, s3, raw):
    stream, distinct = a_day()
    half = len(stream) // 2
    raw.put("ticks", b"".join(map(tickmod.encode, stream[:half])), at=_arrival())
    raw.put("ticks", b"".join(map(tickmod.encode, stream[half:])), at=_arrival())
    report = Compactor(lake, TICKS, store=LakeStore(lake.bucket), options=CompactOptions(range_rows=500)).run(
        [ARRIVAL_DAY])
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=lake.bucket, Prefix=names.CURATED_TICKS)["Contents"])
    rows = pa.concat_tables(pq.read_table(io.BytesIO(s3.get_object(Bucket=lake.bucket, Key=k)["Body"].read()))
                            for k in keys).to_pylist()
    assert report.rows_in == len(stream) and len(rows) == len(distinct)
    assert sorted(map(orjson.dumps, rows)) == sorted(map(orjson.dumps, distinct))
    for kind, sym in INSTRUMENTS.items():  # bars from the lake (docs/bars.md for old days) = the stream's
        from_stream = curated(build_bars([t for t in stream if t["sym"] == sym]))
        from_lake = curated(build_bars([r for r in rows if r["sym"] == sym]))
        assert {k: _bar(b) for k, b in from_lake.items()} == {k: _bar(b) for k, b in from_stream.items()}, kind


def _bar(b: dict) -> tuple:
    return tuple(b[k] for k in ("o", "h", "l", "c", "vol", "vwap", "n", "vol_cum", "first_ts", "last_ts", "oi"))


def _arrival() -> dt.datetime:
    return dt.datetime.fromtimestamp(OPEN + 3600, dt.UTC)
