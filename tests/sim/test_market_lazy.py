"""The market model generates lazily, slice by slice, and a slice generated again is the same."""

from __future__ import annotations

import datetime as dt
import threading
from bisect import bisect_right

import pytest

from fyers.sim.instruments import instrument
from fyers.sim.market import CACHED_SLICES, SLICE_SECONDS, Market, Timeline, candles, quote_values
from market.session import normal_session

DAY = dt.date(2026, 11, 26)
SESSION = normal_session(DAY)


def fresh(symbol: str = "NSE:SBIN-EQ", seed: int = 5) -> Timeline:
    return Timeline(instrument(symbol), SESSION, seed)


def test_a_universe_of_5000_symbols_generates_only_its_first_slices():
    market = Market([f"NSE:LAZY{i:04d}-EQ" for i in range(5000)], DAY, 1)
    market.generate_all()
    tls = [market.timeline(s) for s in market.instruments]
    assert max(tl.known_slices for tl in tls) == 1
    assert all(tl.cached_slices == 1 for tl in tls)


def test_reading_the_whole_day_keeps_only_a_few_slices():
    tl = fresh()
    assert tl.count() == len(list(tl.times)) > 1000
    assert tl.known_slices == tl.nslices == 75
    assert tl.cached_slices <= CACHED_SLICES


def test_a_dropped_slice_is_generated_again_identically():
    tl = fresh()
    first = [(tl.times[i], tl.prices[i], tl.cum_vol[i]) for i in range(50)]
    tl.count()  # walks the day: slice 0 leaves the cache
    assert [(tl.times[i], tl.prices[i], tl.cum_vol[i]) for i in range(50)] == first
    assert fresh().trades() == tl.trades()


def test_the_day_does_not_depend_on_the_order_it_is_read_in():
    forward, backward = fresh("NSE:INFY-EQ"), fresh("NSE:INFY-EQ")
    late = SESSION.open_ts + 40 * SLICE_SECONDS + 17
    k = backward.index_at(late)  # straight to the afternoon
    assert k == forward.index_at(late)
    assert backward.trades() == forward.trades()


def test_index_at_is_the_last_trade_at_or_before_a_time_across_slices():
    tl = fresh()
    times = list(tl.times)
    for ts in [SESSION.open_ts - 1, SESSION.open_ts, SESSION.open_ts + SLICE_SECONDS - 0.001,
               SESSION.open_ts + SLICE_SECONDS, SESSION.open_ts + 7777.5, SESSION.close_ts - 0.5,
               SESSION.close_ts + 60]:
        assert tl.index_at(ts) == bisect_right(times, ts) - 1


def test_state_carries_across_slices():
    tl = fresh("NSE:NIFTY26NOVFUT")
    vols, prices = list(tl.cum_vol), list(tl.prices)
    qtys, highs, lows = list(tl.qtys), list(tl.highs), list(tl.lows)
    assert all(vols[i] == vols[i - 1] + qtys[i] for i in range(1, len(vols)))
    assert all(highs[i] == max(prices[: i + 1]) for i in range(0, len(prices), 211))
    assert all(lows[i] == min(prices[: i + 1]) for i in range(0, len(prices), 211))


def test_columns_index_like_lists():
    tl = fresh()
    times = list(tl.times)
    assert tl.times[-1] == times[-1] and tl.times[3:6] == times[3:6]
    assert tl.times == times
    with pytest.raises(IndexError):
        tl.times[len(times)]
    with pytest.raises(IndexError):
        tl.times[-len(times) - 1]


def test_threads_reading_one_timeline_see_the_same_day():
    tl, expected = fresh("NSE:TCS-EQ"), fresh("NSE:TCS-EQ")
    want = [quote_values(expected, i, 0) for i in range(0, expected.count(), 7)]
    got: dict[int, list] = {}

    def read(n: int) -> None:
        order = range(0, expected.count(), 7)
        got[n] = [quote_values(tl, i, 0) for i in (order if n % 2 else reversed(order))]

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(sorted(v) == sorted(want) for v in got.values())


def test_a_short_session_generates_its_own_slices():
    from market.session import Session

    short = Session(DAY, SESSION.open_ts, SESSION.open_ts + 1800)
    tl = Timeline(instrument("NSE:SBIN-EQ"), short, 3)
    assert tl.nslices == 6
    assert tl.times[-1] < short.close_ts
    assert len(candles(tl, 5)) == 6
