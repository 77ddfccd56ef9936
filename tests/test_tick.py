"""The tick record contract (DESIGN.md): JSON, no spaces, newline-terminated, validated on read,
and plausible (issue #10): every bound a reader applies before it uses a value."""

import datetime as dt

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import tick
from market.errors import TickError

prices = st.integers(min_value=1, max_value=10**9).map(lambda p: round(p / 100, 2))
ARRIVAL = int(dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC).timestamp())  # 09:30 IST
TS = ARRIVAL - 2


def good(**fields):
    base = dict(ltt=TS - 1, ltq=5, vol=1000, atp=811.0, bid=812.45, ask=812.55, bq=10, aq=12, tbq=5000,
                tsq=6000, oi=0, dh=819.0, dl=805.0, op=808.0, pc=806.0, src="ws", pid="p1", seq=7, rx=TS * 1000 + 5)
    base.update(fields)
    sym = base.pop("sym", "NSE:SBIN-EQ")
    ts = base.pop("ts", TS)
    ltp = base.pop("ltp", 812.5)
    return tick.make(sym, ts, ltp, **base)


@given(
    sym=st.sampled_from(["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "MCX:CRUDEOIL25DECFUT", "NSE:M&M-EQ"]),
    ts=st.integers(min_value=tick.EARLIEST_TS, max_value=2**33),
    ltp=prices,
    vol=st.integers(min_value=0, max_value=2**63 - 1),
    seq=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_encode_decode_round_trip(sym, ts, ltp, vol, seq):
    t = tick.make(sym, ts, ltp, vol=vol, seq=seq, src="ws", pid="p1", rx=ts * 1000)
    line = tick.encode(t)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert b" " not in line.replace(b"NSE:", b"").rstrip()
    assert tick.decode(line) == t
    assert tick.decode(line, arrival=ts) == t


def test_prices_keep_their_decimal_form():
    t = tick.make("NSE:SBIN-EQ", TS, round(81235 / 100, 2))
    assert b'"ltp":812.35' in tick.encode(t)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "JSON object"),
        (b'{"sym":"NSE:SBIN-EQ","ts":1764130501}', "'ltp'"),
        (b'{"sym":"SBIN","ts":1764130501,"ltp":1.0}', "EXCHANGE:NAME"),
        (b'{"sym":"NSE:X","ts":"1","ltp":1.0}', "'ts' must be an integer"),
        (b'{"sym":"NSE:X","ts":1764130501,"ltp":1.0,"v":2}', "schema version"),
        (b'{"sym":"NSE:X","ts":1764130501,"ltp":1.0,"vol":-5}', "'vol' must be in 0..9223372036854775807"),
        (b"{" + b" " * 5000 + b"}", "exceeds"),
    ],
)
def test_bad_records_are_refused_with_the_reason(data, reason):
    with pytest.raises(TickError, match=reason):
        tick.decode(data)


# ---- plausibility: each bound, just inside and just outside -------------------------------------

IN_BOUNDS = [
    ("ltp", 0.01), ("ltp", tick.MAX_PRICE), ("bid", 0.0), ("atp", 0), ("pc", tick.MAX_PRICE),
    ("vol", 0), ("vol", 2**63 - 1), ("oi", 2**63 - 1), ("rx", 0), ("seq", 0), ("seq", 2**64 - 1),
    ("ts", tick.EARLIEST_TS), ("ltt", tick.EARLIEST_TS), ("ts", ARRIVAL + tick.CLOCK_SKEW_S),
    ("ltt", ARRIVAL + tick.CLOCK_SKEW_S), ("rx", (ARRIVAL + tick.CLOCK_SKEW_S) * 1000 + 999),
    ("sym", "NSE:" + "A" * (tick.MAX_SYMBOL_CHARS - 4)), ("sym", "NSE:BAJAJ-AUTO-EQ"), ("sym", "BSE:SENSEX-INDEX"),
    ("pid", "p" * tick.MAX_TEXT_CHARS), ("v", None), ("ltt", None), ("vol", None),
]

OUT_OF_BOUNDS = [
    ("ltp", 0, "'ltp' must be > 0"), ("ltp", 0.0, "'ltp' must be > 0"), ("ltp", -812.5, "'ltp' must be > 0"),
    ("ltp", 1e308, "at most 1e\\+09"), ("ltp", float("inf"), "finite"), ("ltp", float("nan"), "finite"),
    ("ltp", 10**400, "at most"), ("bid", -0.05, "'bid' must be >= 0"), ("dh", 1e308, "'dh'"),
    ("ltp", True, "finite number"), ("ltp", "812.5", "finite number"),
    ("vol", 2**63, "'vol' must be in 0..9223372036854775807"), ("vol", -1, "'vol'"), ("ltq", -5, "'ltq'"),
    ("oi", 2**63, "'oi'"), ("rx", -1, "'rx'"), ("seq", 2**64, "'seq' must be in 0..18446744073709551615"),
    ("seq", -1, "'seq'"), ("vol", 1.0, "must be an integer"), ("vol", True, "must be an integer"),
    ("ts", 0, "'ts' must be in 946684800"), ("ts", tick.EARLIEST_TS - 1, "'ts'"), ("ltt", -1, "'ltt'"),
    ("ts", 2**63, "'ts'"), ("ts", 10**400, "an integer of"),
    ("ts", ARRIVAL + tick.CLOCK_SKEW_S + 1, "'ts' is more than 300 s after"),
    ("ts", 10**12, "'ts' is more than"), ("ts", 2**63 - 1, "'ts' is more than"),
    ("ts", int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp()), "'ts' is more than"),
    ("ts", int(dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()), "'ts' is more than"),
    ("ts", ARRIVAL + 30 * 86_400, "'ts' is more than"), ("ltt", ARRIVAL + 86_400, "'ltt' is more than"),
    ("rx", (ARRIVAL + tick.CLOCK_SKEW_S + 1) * 1000, "'rx' is more than"),
    ("sym", "NSE:" + "A" * 3000, "3004 chars"), ("sym", "NSE:" + "A" * (tick.MAX_SYMBOL_CHARS - 3), "EXCHANGE:NAME"),
    ("sym", "nse:sbin-eq", "EXCHANGE:NAME"), ("sym", "NSE:SBIN-EQ\n", "EXCHANGE:NAME"), ("sym", "NSE:", "EXCHANGE:NAME"),
    ("sym", "NSE:SB IN", "EXCHANGE:NAME"), ("sym", "NSE:Ü-EQ", "EXCHANGE:NAME"), ("sym", 5, "EXCHANGE:NAME"),
    ("pid", "p" * (tick.MAX_TEXT_CHARS + 1), "'pid' must be at most 64"), ("src", 1, "'src' must be a string"),
    ("v", 2, "schema version"), ("v", True, "schema version"), ("v", 1.0, "schema version"),
]


@pytest.mark.parametrize(("name", "value"), IN_BOUNDS)
def test_a_value_at_its_bound_is_plausible(name, value):
    t = good(**{name: value})
    tick.validate(t)
    tick.check_times(t, ARRIVAL)
    if not isinstance(value, float) or value == value:
        assert tick.decode(tick.encode(t), arrival=ARRIVAL) == t


@pytest.mark.parametrize(("name", "value", "reason"), OUT_OF_BOUNDS)
def test_a_value_past_its_bound_is_refused_with_the_reason(name, value, reason):
    t = good(**{name: value})
    with pytest.raises(TickError, match=reason):
        tick.validate(t)
        tick.check_times(t, ARRIVAL)


def test_a_ten_megabyte_line_is_refused_unparsed():
    line = orjson.dumps(good(pid="x" * 10_000_000)) + b"\n"
    with pytest.raises(TickError, match=f"record of {len(line)} bytes exceeds 4096"):
        tick.decode(line)


def test_the_largest_record_is_within_the_size_bound():
    t = good(sym="NSE:" + "A" * 60, pid="p" * 64, src="s" * 64, seq=2**64 - 1, **{f: 2**63 - 1 for f in
             ("ltq", "vol", "bq", "aq", "tbq", "tsq", "oi")}, **{f: 123456789.123456 for f in tick.PRICE_FIELDS})
    tick.validate(t)
    assert len(tick.encode(t)) <= tick.MAX_RECORD_BYTES


def test_messages_never_carry_a_whole_huge_value():
    with pytest.raises(TickError) as exc:
        tick.validate(good(sym="NSE:" + "A" * 1_000_000))
    assert len(str(exc.value)) < 300


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(tick.FIELDS + ("junk",)), json_values, max_size=6), st.integers(0, 2**40))
def test_any_record_is_a_tick_or_a_tick_error(changes, arrival):
    """Whatever a record holds, the contract answers with a TickError or nothing: no other exception."""
    record = {**good(), **changes}
    try:
        tick.validate(record)
        tick.check_times(record, arrival)
    except TickError as exc:
        assert str(exc)


def test_make_rejects_unknown_fields():
    with pytest.raises(TickError, match="unknown"):
        tick.make("NSE:SBIN-EQ", 1, 1.0, price=3)


def test_duplicate_snapshots_share_a_state_key():
    a = tick.make("NSE:SBIN-EQ", 100, 812.35, ltt=99, vol=1000, rx=1, seq=1)
    b = tick.make("NSE:SBIN-EQ", 101, 812.35, ltt=99, vol=1000, rx=2, seq=7)
    assert tick.state_key(a) == tick.state_key(b)


def test_index_ticks_without_traded_time_are_told_apart_by_feed_time():
    a = tick.make("NSE:NIFTY50-INDEX", 100, 24000.5)
    b = tick.make("NSE:NIFTY50-INDEX", 160, 24000.5)
    assert tick.state_key(a) != tick.state_key(b)
    assert tick.state_key(a) == tick.state_key(dict(a, rx=5))
