"""The market model: deterministic per seed, realistic on the tick, candles equal to every trade."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from fyers.sim.instruments import TICK_PAISE, default_symbols, instrument
from fyers.sim.market import Market, candles, generate, scrip_values
from market.session import normal_session

DAY = dt.date(2026, 11, 26)


def _fresh(symbol: str, seed: int):
    generate.cache_clear()  # prove determinism by generating again, not by reading the cache
    return generate(instrument(symbol), DAY, seed)


def test_same_seed_same_trades():
    a = _fresh("NSE:SBIN-EQ", 7)
    b = _fresh("NSE:SBIN-EQ", 7)
    assert a.trades() == b.trades()


def test_different_seed_different_trades():
    assert _fresh("NSE:SBIN-EQ", 7).trades() != _fresh("NSE:SBIN-EQ", 8).trades()


def test_symbols_have_independent_streams():
    """Adding a symbol to the universe does not change another symbol's day."""
    small = Market(["NSE:SBIN-EQ"], DAY, 3)
    big = Market(default_symbols(DAY), DAY, 3)
    generate.cache_clear()
    assert small.timeline("NSE:SBIN-EQ").trades() == big.timeline("NSE:SBIN-EQ").trades()


def test_prices_sit_on_the_tick_and_inside_the_band():
    tl = generate(instrument("NSE:RELIANCE-EQ"), DAY, 1)
    pc = tl.instrument.prev_close
    assert all(p % TICK_PAISE == 0 for p in tl.prices)
    assert all(0.8 * pc - TICK_PAISE <= p <= 1.2 * pc + TICK_PAISE for p in tl.prices)


def test_trades_lie_inside_the_session_in_time_order():
    tl = generate(instrument("NSE:INFY-EQ"), DAY, 1)
    session = normal_session(DAY)
    assert tl.times == sorted(tl.times)
    assert tl.times[0] == session.open_ts
    assert tl.times[-1] < session.close_ts


def test_opening_trade_carries_the_preopen_auction_volume():
    trades = generate(instrument("NSE:SBIN-EQ"), DAY, 1).trades()
    later = sorted(t.qty for t in trades[1:])
    assert trades[0].qty > 20 * later[len(later) // 2]


def test_cumulative_volume_high_low_and_average_price_follow_the_trades():
    tl = generate(instrument("NSE:TCS-EQ"), DAY, 1)
    vol = value = 0
    hi, lo = tl.prices[0], tl.prices[0]
    for i, (p, q) in enumerate(zip(tl.prices, tl.qtys, strict=True)):
        vol, value, hi, lo = vol + q, value + p * q, max(hi, p), min(lo, p)
        assert (tl.cum_vol[i], tl.highs[i], tl.lows[i]) == (vol, hi, lo)
    values = scrip_values(tl, len(tl.prices) - 1, int(tl.times[-1]))
    assert values[1] == vol
    assert values[11] == round(value / vol)
    assert values[14] == max(tl.prices) and values[13] == min(tl.prices)
    assert values[19] == tl.prices[0]


def test_quote_has_bid_below_ask_around_the_last_price():
    tl = generate(instrument("NSE:ITC-EQ"), DAY, 1)
    for i in range(0, len(tl.prices), 97):
        v = scrip_values(tl, i, int(tl.times[i]))
        assert v[6] < v[7] and v[6] <= v[0] <= v[7]
        assert v[4] > 0 and v[5] > 0 and v[9] > 0 and v[10] > 0


def test_index_moves_every_second_without_volume():
    tl = generate(instrument("NSE:NIFTY50-INDEX"), DAY, 1)
    assert len(tl.times) == normal_session(DAY).close_ts - normal_session(DAY).open_ts
    assert set(tl.qtys) == {0}


def test_future_has_lots_and_open_interest():
    sym = default_symbols(DAY)[-1]
    assert sym == "NSE:NIFTY26NOVFUT"
    tl = generate(instrument(sym), DAY, 1)
    assert all(q % 75 == 0 for q in tl.qtys)
    assert len(set(tl.oi)) > 10 and min(tl.oi) > 0


def _aggregate(trades, minutes: int, open_ts: int) -> list[list]:
    """Independent OHLCV aggregation of trades into session-aligned candles."""
    out: dict[int, list] = {}
    for t in trades:
        start = open_ts + (int(t.ts) - open_ts) // (minutes * 60) * minutes * 60
        c = out.get(start)
        if c is None:
            out[start] = [start, t.price, t.price, t.price, t.price, t.qty]
        else:
            c[2], c[3], c[4], c[5] = max(c[2], t.price), min(c[3], t.price), t.price, c[5] + t.qty
    return [out[k] for k in sorted(out)]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), minutes=st.sampled_from([1, 5, 15, 30, 60]),
       symbol=st.sampled_from(["NSE:HDFCBANK-EQ", "NSE:NIFTY50-INDEX", "NSE:NIFTY26NOVFUT", "BSE:ABC-EQ"]))
def test_candles_equal_an_independent_aggregation_of_trades(seed, minutes, symbol):
    tl = generate(instrument(symbol), DAY, seed)
    assert candles(tl, minutes) == _aggregate(tl.trades(), minutes, normal_session(DAY).open_ts)


def test_a_day_has_75_five_minute_candles_and_the_first_includes_the_preopen_volume():
    tl = generate(instrument("NSE:SBIN-EQ"), DAY, 1)
    five = candles(tl, 5)
    assert len(five) == 75
    assert five[0][0] == normal_session(DAY).open_ts
    assert five[0][5] >= tl.qtys[0]


def test_daily_candle_is_stamped_at_ist_midnight():
    tl = generate(instrument("NSE:SBIN-EQ"), DAY, 1)
    [day] = candles(tl, "D")
    assert dt.datetime.fromtimestamp(day[0], dt.timezone(dt.timedelta(hours=5, minutes=30))).time() == dt.time(0)
    assert day[5] == tl.cum_vol[-1]


def test_candles_until_a_time_leave_out_later_trades():
    tl = generate(instrument("NSE:SBIN-EQ"), DAY, 1)
    cut = normal_session(DAY).open_ts + 3600
    partial = candles(tl, 5, until=cut)
    assert partial[-1][0] <= cut
    assert sum(c[5] for c in partial) == tl.cum_vol[tl.index_at(cut)]
