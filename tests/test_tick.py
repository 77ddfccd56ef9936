"""The tick record contract (DESIGN.md): JSON, no spaces, newline-terminated, validated on read."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market import tick

prices = st.integers(min_value=1, max_value=10**9).map(lambda p: round(p / 100, 2))


@given(
    sym=st.sampled_from(["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "MCX:CRUDEOIL25DECFUT"]),
    ts=st.integers(min_value=0, max_value=2**33),
    ltp=prices,
    vol=st.integers(min_value=0, max_value=2**40),
    seq=st.integers(min_value=0, max_value=2**62),
)
def test_encode_decode_round_trip(sym, ts, ltp, vol, seq):
    t = tick.make(sym, ts, ltp, vol=vol, seq=seq, src="ws", pid="p1", rx=ts * 1000)
    line = tick.encode(t)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert b" " not in line.replace(b"NSE:", b"").rstrip()
    assert tick.decode(line) == t


def test_prices_keep_their_decimal_form():
    t = tick.make("NSE:SBIN-EQ", 1, round(81235 / 100, 2))
    assert b'"ltp":812.35' in tick.encode(t)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "JSON object"),
        (b'{"sym":"NSE:SBIN-EQ","ts":1}', "'ltp'"),
        (b'{"sym":"SBIN","ts":1,"ltp":1.0}', "EXCHANGE:NAME"),
        (b'{"sym":"NSE:X","ts":"1","ltp":1.0}', "'ts' must be an integer"),
        (b'{"sym":"NSE:X","ts":1,"ltp":1.0,"v":2}', "schema version"),
        (b'{"sym":"NSE:X","ts":1,"ltp":1.0,"vol":-5}', "'vol' must not be negative"),
        (b"{" + b" " * 5000 + b"}", "exceeds"),
    ],
)
def test_bad_records_are_refused_with_the_reason(data, reason):
    with pytest.raises(tick.TickError, match=reason):
        tick.decode(data)


def test_duplicate_snapshots_share_a_state_key():
    a = tick.make("NSE:SBIN-EQ", 100, 812.35, ltt=99, vol=1000, rx=1, seq=1)
    b = tick.make("NSE:SBIN-EQ", 101, 812.35, ltt=99, vol=1000, rx=2, seq=7)
    assert tick.state_key(a) == tick.state_key(b)


def test_make_rejects_unknown_fields():
    with pytest.raises(tick.TickError, match="unknown"):
        tick.make("NSE:SBIN-EQ", 1, 1.0, price=3)


def test_index_ticks_without_traded_time_are_told_apart_by_feed_time():
    a = tick.make("NSE:NIFTY50-INDEX", 100, 24000.5)
    b = tick.make("NSE:NIFTY50-INDEX", 160, 24000.5)
    assert tick.state_key(a) != tick.state_key(b)
    assert tick.state_key(a) == tick.state_key(dict(a, rx=5))
