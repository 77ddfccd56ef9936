"""History for any past trading day, and quotes, as Fyers serves them (fyers/sim/history.py, quotes.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from fyers import errors
from fyers.sim import history as sim_history
from fyers.sim.instruments import instrument
from fyers.sim.limits import RateLimits
from fyers.sim.market import candles, generate
from market.session import NseCalendar, epoch

SBIN = "NSE:SBIN-EQ"
TCS = "NSE:TCS-EQ"
SIM_DAY = dt.date(2026, 11, 27)  # a Friday
HOLIDAY = dt.date(2026, 11, 24)  # Guru Nanak Jayanti: NSE closed (XBOM calendar)
SATURDAY = dt.date(2026, 11, 21)
PAST = dt.date(2026, 11, 12)  # a Thursday session


@pytest.fixture
def sim(fyers_sim):
    return fyers_sim(speed=1, day=SIM_DAY, start_time=dt.time(16, 0), symbols=[SBIN, TCS, "NSE:NIFTY50-INDEX"])


def day_range(day: dt.date, days: int = 1) -> dict[str, int]:
    return {"range_from": epoch(day, dt.time(0, 0)), "range_to": epoch(day + dt.timedelta(days=days), dt.time(0, 0)) - 1}


def history(sim, symbol=SBIN, resolution="5", **params) -> requests.Response:
    query = {"symbol": symbol, "resolution": resolution, "date_format": "0", "cont_flag": "1", **params}
    token = sim.issue_tokens()["access_token"]
    return requests.get(f"{sim.api_url}/data/history", params=query,
                        headers={"Authorization": f"{sim.config.app_id}:{token}"}, timeout=30)


def quotes(sim, symbols) -> requests.Response:
    token = sim.issue_tokens()["access_token"]
    return requests.get(f"{sim.api_url}/data/quotes", params={"symbols": ",".join(symbols)},
                        headers={"Authorization": f"{sim.config.app_id}:{token}"}, timeout=30)


def test_a_past_trading_day_has_a_whole_session_of_candles(sim):
    body = history(sim, **day_range(PAST)).json()
    assert body["s"] == "ok"
    starts = [c[0] for c in body["candles"]]
    assert starts[0] == epoch(PAST, dt.time(9, 15)) and starts[-1] <= epoch(PAST, dt.time(15, 25))
    assert len(starts) == 75  # a liquid equity trades in every 5 minutes


def test_past_candles_depend_only_on_seed_symbol_and_day(fyers_sim):
    one = fyers_sim(speed=1, day=SIM_DAY, symbols=[SBIN], seed=3)
    other_day = fyers_sim(speed=1, day=SIM_DAY - dt.timedelta(days=7), symbols=[SBIN, TCS], seed=3)
    other_seed = fyers_sim(speed=1, day=SIM_DAY, symbols=[SBIN], seed=4)
    got = history(one, **day_range(PAST)).json()["candles"]
    assert history(other_day, **day_range(PAST)).json()["candles"] == got  # whatever the simulated day
    assert history(other_seed, **day_range(PAST)).json()["candles"] != got
    assert history(other_day, symbol=TCS, **day_range(PAST)).json()["candles"] != got


@pytest.mark.parametrize("day", [HOLIDAY, SATURDAY], ids=["exchange holiday", "weekend"])
def test_closed_days_have_no_candles(sim, day):
    assert NseCalendar().session(day) is None
    body = history(sim, **day_range(day)).json()
    assert body["s"] == "no_data" and body["candles"] == []


def test_days_after_the_simulated_day_have_no_candles(sim):
    body = history(sim, **day_range(SIM_DAY + dt.timedelta(days=3))).json()
    assert body["s"] == "no_data" and body["candles"] == []


def test_a_range_of_days_returns_every_session_in_order(sim):
    body = history(sim, resolution="D", **day_range(dt.date(2026, 11, 16), days=12)).json()  # 16th..27th
    days = [dt.datetime.fromtimestamp(c[0], dt.UTC).date() + dt.timedelta(days=1) for c in body["candles"]]
    sessions = [s.day for s in NseCalendar().sessions(dt.date(2026, 11, 16), SIM_DAY)]
    assert days == sessions  # daily candles are stamped at IST midnight (18:30 UTC the day before)
    assert HOLIDAY not in days and len(days) == 9


@settings(max_examples=8, deadline=None)
@given(offset=st.integers(1, 60), resolution=st.sampled_from(["1", "5", "15", "60", "45", "240", "D"]))
def test_candles_folded_from_minutes_equal_candles_from_every_trade(offset, resolution):
    day = SIM_DAY - dt.timedelta(days=offset)
    session = NseCalendar().session(day)
    inst = instrument(SBIN)
    got = sim_history.day_candles(inst, day, 5, resolution)
    if session is None:
        assert got == []
    else:
        assert got == candles(generate(inst, day, 5, session), resolution)


def test_the_intraday_range_cap_is_100_days_and_the_daily_366(sim):
    start = epoch(SIM_DAY, dt.time(0, 0))
    over = history(sim, range_from=start - 100 * 86400 - 1, range_to=start)
    assert over.status_code == 400 and over.json()["code"] == -50 and "100 days" in over.json()["message"]
    assert history(sim, resolution="D", range_from=start - 366 * 86400, range_to=start).status_code == 200
    daily_over = history(sim, resolution="D", range_from=start - 366 * 86400 - 1, range_to=start)
    assert daily_over.status_code == 400 and "366 days" in daily_over.json()["message"]


def test_rate_limited_history_answers_429_with_fyers_code(sim):
    sim.rate_limits = RateLimits(windows=((3600.0, 2, "2 requests per hour"),))
    answers = [history(sim, **day_range(PAST)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json() == {"s": "error", "code": errors.RATE_LIMITED, "message": "request limit reached: 2 requests per hour"}


def test_real_rate_limits_cap_a_day_at_100000():
    limits = RateLimits(windows=((86400.0, 100_000, "100,000 requests per day"),))
    limits._times.extend(float(i) * 0.5 for i in range(100_000))  # a day's budget spent over 14 hours
    assert limits.check(now=50_000.5)[1] == errors.RATE_LIMITED
    assert limits.check(now=86_400.0 + 30_000) is None  # a day later the oldest requests have left the window


def test_quotes_show_each_symbols_latest_quote(sim):
    body = quotes(sim, [SBIN, "NSE:NIFTY50-INDEX"]).json()
    assert body["s"] == "ok" and [e["n"] for e in body["d"]] == [SBIN, "NSE:NIFTY50-INDEX"]
    sbin = body["d"][0]["v"]
    day = sim.candles(SBIN, "D")[0]
    assert (sbin["open_price"], sbin["high_price"], sbin["low_price"], sbin["lp"], sbin["volume"]) == tuple(day[1:])
    assert sbin["fyToken"] == "10100000003045" and sbin["symbol"] == SBIN and sbin["bid"] < sbin["ask"]
    assert sbin["ch"] == pytest.approx(sbin["lp"] - sbin["prev_close_price"])
    assert body["d"][1]["v"]["volume"] == 0 and body["d"][1]["v"]["lp"] > 0


def test_quotes_name_an_unknown_symbol_in_its_entry(sim):
    body = quotes(sim, [SBIN, "NSE:NOSUCH-EQ"]).json()
    assert body["s"] == "ok" and body["d"][0]["s"] == "ok"
    assert body["d"][1]["s"] == "error" and "NSE:NOSUCH-EQ" in body["d"][1]["v"]["errmsg"]


@pytest.mark.parametrize("count", [0, 51])
def test_quotes_take_1_to_50_symbols(sim, count):
    resp = quotes(sim, [f"NSE:S{i}-EQ" for i in range(count)])
    assert resp.status_code == 400 and resp.json()["code"] == -50
