"""Compaction against hostile input (issue #10): one bad value never stalls a run; every implausible
record is quarantined with its reason, every good one lands once, and later runs go on."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consumers.lake.compact as compact_mod
from consumers.lake.compact import CompactOptions, Compactor, parse
from consumers.lake.schema import BARS, TICKS
from consumers.lake.store import LakeStore
from market import tick as tickmod
from market.errors import TickError
from tests.lake.conftest import Factory
from tickpipe import names

ARRIVAL_AT = dt.datetime(2026, 11, 26, 4, 0, 5, tzinfo=dt.UTC)
ARRIVAL = ARRIVAL_AT.timestamp()
DAY = "2026-11-26"
YEAR_9999 = int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp())
YEAR_2100 = int(dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp())


def lines(records) -> bytes:
    """JSON lines as a hostile writer could send them (the standard library writes any integer)."""
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)


def oracle(line: bytes, arrival: float) -> dict | None:
    """The tick contract's verdict on one raw line: the record, or None if it is not a plausible tick."""
    try:
        record = tickmod.decode(line, arrival=arrival)
    except TickError:
        return None
    return {name: (record.get(name) if name != "v" else record.get("v") or 1) for name in tickmod.FIELDS}


def a_tick(factory, **changes):
    return {**factory.ticks(factory.symbols(1), 1)[0], **changes}


# ---- each boundary of the issue, through both parsers (pyarrow's, and line by line) -------------

BAD = [
    ("ts", 10**12, "'ts' is more than"), ("ts", 2**63 - 1, "'ts' is more than"), ("ts", 2**63, "'ts'"),
    ("ts", YEAR_9999, "'ts' is more than"), ("ts", YEAR_2100, "'ts' is more than"), ("ts", 0, "'ts' must be in"),
    ("ts", int(ARRIVAL) + 30 * 86_400, "'ts' is more than"), ("ltt", -1, "'ltt'"), ("vol", 2**63, "'vol'"),
    ("seq", 2**64, "must be an integer"),  # JSON readers turn it into a float
    ("ltp", 0, "'ltp' must be > 0"), ("ltp", -5.0, "'ltp' must be > 0"), ("ltp", 1e308, "'ltp'"),
    ("bid", -0.05, "'bid'"), ("sym", "NSE:" + "A" * 3000, "EXCHANGE:NAME"), ("sym", "SBIN", "EXCHANGE:NAME"),
    ("pid", "p" * 65, "'pid' must be at most 64"), ("rx", (int(ARRIVAL) + 301) * 1000, "'rx' is more than"),
]


READERS = ["native", "pyarrow", "line-by-line"]


def reader(monkeypatch, name: str) -> bool:
    """Use the named reader for the object: pyarrow's without the native one; a line no fast reader
    takes (added by the caller when this returns False) sends the whole object line by line."""
    if name != "native":
        monkeypatch.setattr(compact_mod, "NATIVE", False)
    return name != "line-by-line"


@pytest.mark.parametrize("which", READERS)
@pytest.mark.parametrize(("name", "value", "reason"), BAD)
def test_each_implausible_value_is_quarantined_with_its_reason(factory, monkeypatch, which, name, value, reason):
    fast = reader(monkeypatch, which)
    good = factory.ticks(factory.symbols(2), 3)
    bad = {**good[0], name: value}
    data = lines(good[:3] + [bad] + good[3:])
    if not fast:
        data += b"not json\n"  # a line pyarrow cannot read sends the whole object line by line
    table, rejected = parse(TICKS, data, ARRIVAL)
    assert table.num_rows == len(good)
    assert rejected[0].reason and re.search(reason, rejected[0].reason), rejected[0].reason
    if not fast:
        assert rejected[0].line == 4


@pytest.mark.parametrize("which", READERS)
def test_values_at_their_bounds_land(factory, monkeypatch, which):
    fast = reader(monkeypatch, which)
    edge = [a_tick(factory, seq=2**64 - 1), a_tick(factory, vol=2**63 - 1), a_tick(factory, ts=int(ARRIVAL) + 300),
            a_tick(factory, ltp=tickmod.MAX_PRICE), a_tick(factory, sym="NSE:" + "M&M_." * 12), a_tick(factory, v=None)]
    data = lines(edge) + (b"" if fast else b"[]\n")
    table, rejected = parse(TICKS, data, ARRIVAL)
    assert len(rejected) == (0 if fast else 1)
    assert table.to_pylist() == [{**t, "v": 1} for t in edge]


def test_a_ten_megabyte_line_is_quarantined_cut_short(factory):
    good = factory.ticks(factory.symbols(1), 3)
    huge = orjson.dumps({**good[0], "pid": "x" * 10_000_000})
    table, rejected = parse(TICKS, lines(good) + huge + b"\n", ARRIVAL)
    assert table.num_rows == 3
    [bad] = rejected
    assert bad.line == 4 and "exceeds 4096" in bad.reason and len(bad.record) <= 4096


def test_a_line_a_little_over_the_bound_is_refused_by_the_fast_path_too(factory):
    good = factory.ticks(factory.symbols(1), 3)
    long = orjson.dumps({**good[0], "junk": "x" * 4000})  # an ignored field, but not a tick's size
    table, rejected = parse(TICKS, lines(good) + long + b"\n", ARRIVAL)
    assert table.num_rows == 3 and "exceeds" in rejected[0].reason


def test_implausible_bars_are_quarantined(factory):
    bars = factory.bars(factory.symbols(1), 3)
    bad = [{**bars[0], "start": YEAR_9999 - YEAR_9999 % 300}, {**bars[1], "o": -1.0, "l": -1.0},
           {**bars[2], "vol": 2**63}]
    table, rejected = parse(BARS, lines(bars + bad), ARRIVAL)
    assert table.num_rows == 3 and len(rejected) == 3
    assert "'start' is more than" in rejected[0].reason and "'o'" in rejected[1].reason


# ---- arbitrary input: no exception, every bad line quarantined with a reason, every good one once --

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=3,
)
int_edges = st.sampled_from([-1, 0, tickmod.EARLIEST_TS - 1, tickmod.EARLIEST_TS, int(ARRIVAL) + 300, int(ARRIVAL) + 301,
                             10**12, 2**63 - 1, 2**63, 2**64 - 1, 2**64])
float_edges = st.sampled_from([0.0, -0.0, 5e-324, 0.05, -0.05, 1e9, 1e9 + 1, 1e308])


@st.composite
def raw_line(draw, factory_ticks):
    kind = draw(st.sampled_from(["good", "changed", "bytes", "json"]))
    base = draw(st.sampled_from(factory_ticks))
    if kind == "good":
        return orjson.dumps(base)
    if kind == "bytes":
        return draw(st.binary(max_size=60)).replace(b"\n", b" ")
    if kind == "json":
        try:
            return orjson.dumps(draw(json_value))
        except orjson.JSONEncodeError:  # a float NaN or infinity, or an integer past 64 bits
            return b"{}"
    changes = draw(st.dictionaries(st.sampled_from(tickmod.FIELDS), json_value | int_edges | float_edges, max_size=3))
    try:
        return orjson.dumps({**base, **changes})
    except orjson.JSONEncodeError:
        return orjson.dumps(base)[:-1] + b',"ts":' + str(draw(int_edges) * 10**10).encode() + b"}"


FIXED = Factory(seed=3).ticks([f"NSE:S{i}-EQ" for i in range(3)], 4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_line(FIXED), max_size=12), st.booleans(), st.booleans())
def test_any_raw_object_parses_into_good_rows_and_quarantined_lines(raw_lines, force_lines, native):
    compact_mod.NATIVE = native and NATIVE_BUILT
    try:
        check_any_raw_object(raw_lines, force_lines)
    finally:
        compact_mod.NATIVE = NATIVE_BUILT


NATIVE_BUILT = compact_mod.NATIVE


def check_any_raw_object(raw_lines, force_lines):
    data = b"\n".join(raw_lines) + (b"\n{\n" if force_lines else b"\n")
    table, rejected = parse(TICKS, data, ARRIVAL)  # no exception escapes, whatever the bytes
    numbered = [(n, line) for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    expected = [r for _, line in numbered if (r := oracle(line, ARRIVAL)) is not None]
    assert table.to_pylist() == expected  # every good record, once, in order
    assert len(rejected) == len(numbered) - len(expected)  # every other line, quarantined ...
    assert all(b.reason for b in rejected)  # ... with its reason


# ---- a whole run: the bad object does not stall it, nor the runs after it ------------------------


def compactor(lake):
    return Compactor(lake, TICKS, store=LakeStore(lake.bucket), options=CompactOptions(),
                     today=ARRIVAL_AT.date())


def test_out_of_range_integers_do_not_stall_compaction(lake, s3, raw, factory):
    first, second = factory.ticks(factory.symbols(2), 5), factory.ticks(factory.symbols(2), 5, start=factory.OPEN + 60)
    poison = [{**first[0], "ts": 10**12}, {**first[1], "ts": 2**63 - 1}, {**first[2], "vol": 2**63},
              {**first[3], "ts": YEAR_9999}, {**first[4], "ltt": -1}]
    resent = {**first[0], "seq": 2**64 - 1, "rx": first[0]["rx"] + 1}  # a plausible seq at the top of uint64
    raw.put("ticks", lines(first), at=ARRIVAL_AT)
    bad_key = raw.put("ticks", lines(poison + [resent]), at=ARRIVAL_AT)
    raw.put("ticks", lines(second), at=ARRIVAL_AT)
    report = compactor(lake).run()
    assert report.days_written == [DAY] and report.rows_bad == len(poison)
    curated = pq.read_table(io.BytesIO(s3.get_object(
        Bucket=lake.bucket, Key=report_key(s3, lake))["Body"].read())).to_pylist()
    assert len(curated) == len(first) + len(second)  # the resend is a duplicate of first[0]
    q = s3.get_object(Bucket=lake.bucket, Key=f"{names.QUARANTINE}ticks/records/{bad_key}.jsonl")["Body"].read()
    reasons = [orjson.loads(x)["reason"] for x in q.splitlines()]
    assert len(reasons) == len(poison) and all(reasons)
    later = factory.ticks(factory.symbols(1), 3, start=factory.OPEN + 120)
    raw.put("ticks", lines(later), at=ARRIVAL_AT)
    again = compactor(lake).run()
    assert again.raw_objects_new == 1 and again.rows_in == len(later)  # not blocked, not re-read
    listed = s3.list_objects_v2(Bucket=lake.bucket, Prefix=names.CURATED_TICKS).get("Contents", [])
    assert {o["Key"].split("/")[2] for o in listed} == {f"dt={DAY}"}  # no dt=9999-12-31


def report_key(s3, lake) -> str:
    [obj] = s3.list_objects_v2(Bucket=lake.bucket, Prefix=f"{names.CURATED_TICKS}dt={DAY}/")["Contents"]
    return obj["Key"]


def test_an_object_that_breaks_the_parser_is_quarantined_and_the_rest_compacted(lake, s3, raw, factory, monkeypatch):
    good = factory.ticks(factory.symbols(2), 5)
    raw.put("ticks", lines(good[:6]), at=ARRIVAL_AT)
    bad_key = raw.put("ticks", lines(good[6:]), at=ARRIVAL_AT)
    real = compact_mod.split_days

    def split_days(spec, table):  # the fault: a value nobody foresaw overflows a date
        if table.num_rows == len(good) - 6:
            raise OverflowError("date value out of range")
        return real(spec, table)

    monkeypatch.setattr(compact_mod, "split_days", split_days)
    report = compactor(lake).run()
    assert report.objects_quarantined == 1 and report.rows_out == 6
    reason = orjson.loads(s3.get_object(Bucket=lake.bucket,
                                        Key=f"{names.QUARANTINE}ticks/objects/{bad_key}.reason.json")["Body"].read())
    assert "OverflowError: date value out of range" in reason["reason"]
    assert compactor(lake).run().raw_objects_new == 0  # recorded: later runs do not stumble on it
