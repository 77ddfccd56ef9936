"""Symbols, history and the REST transport against the simulator: chunking, retries, rate limits, errors."""

from __future__ import annotations

import datetime as dt

import pytest
from fake_clock import FakeClock

from fyers import errors
from fyers.history import HistoryClient
from fyers.ratelimit import RateLimiter
from fyers.rest import RestClient
from fyers.sim.config import TEST_APP_ID
from fyers.symbols import SymbolClient
from market.session import epoch


class RecordingLimiter(RateLimiter):
    """The real limiter, noting when each request was let through."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.times: list[float] = []

    def acquire(self) -> None:
        super().acquire()
        # The limiter's own admission time, not a clock read after acquire() returned: a thread
        # descheduled in between would record a late time and make the spacing look too short.
        with self._lock:
            self.times.append(self._sent[-1])


AFTER_CLOSE = dt.time(15, 45)  # the whole simulated day is history
DAY = 86_400


def clients(sim, limiter=None, retries=4):
    token = sim.issue_tokens()["access_token"]
    rest = RestClient(sim.api_url, limiter or RateLimiter(), retries=retries, backoff=0.01, backoff_max=0.05)
    return rest, SymbolClient(rest, lambda: token), HistoryClient(rest, TEST_APP_ID, lambda: token)


def test_symbols_resolve_to_topics_and_unknown_ones_are_named(fyers_sim):
    sim = fyers_sim()
    _, symbols, _ = clients(sim)
    res = symbols.resolve(["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "NSE:NOSUCH-EQ"])
    assert res.topics == {"NSE:SBIN-EQ": "sf|nse_cm|3045", "NSE:NIFTY50-INDEX": "if|nse_cm|Nifty 50"}
    assert res.unknown == ["NSE:NOSUCH-EQ"]


def test_symbols_are_resolved_500_per_request(fyers_sim):
    sim = fyers_sim()
    wanted = sim.symbols + [f"NSE:NOSUCH{i:04d}-EQ" for i in range(1001 - len(sim.symbols))]
    _, symbols, _ = clients(sim)
    before = sim.stats["rest_requests"]
    res = symbols.resolve(wanted)
    assert sim.stats["rest_requests"] - before == 3
    assert res.topics == {s: sim.topic(s) for s in sim.symbols}
    assert res.unknown == wanted[len(sim.symbols):]


def test_history_over_a_long_range_is_chunked_and_matches_every_trade(fyers_sim):
    sim = fyers_sim(start_time=AFTER_CLOSE)
    _, _, history = clients(sim)
    day = sim.market.day
    start = epoch(day - dt.timedelta(days=250), dt.time(0, 0))
    end = epoch(day, dt.time(23, 59, 59))
    got = history.candles("NSE:SBIN-EQ", 5, start, end)
    assert history.requests == 3  # 251 days at ≤ 100 days a request
    today = epoch(day, dt.time(0, 0))
    assert [list(c) for c in got if c.start >= today] == sim.candles("NSE:SBIN-EQ", 5)
    assert got[0].start < start + 7 * DAY  # earlier trading days have candles too (fyers/sim/history.py)


def test_daily_history_uses_366_day_chunks(fyers_sim):
    sim = fyers_sim(start_time=AFTER_CLOSE)
    _, _, history = clients(sim)
    day = sim.market.day
    got = history.candles("NSE:SBIN-EQ", "D", epoch(day - dt.timedelta(days=700), dt.time(0, 0)),
                          epoch(day, dt.time(23, 59, 59)))
    assert history.requests == 2
    assert [list(c) for c in got][-1:] == sim.candles("NSE:SBIN-EQ", "D")
    assert len(got) > 400  # one candle per trading day of the range


def test_empty_range_is_an_empty_list(fyers_sim):
    sim = fyers_sim(start_time=AFTER_CLOSE)
    _, _, history = clients(sim)
    day = sim.market.day
    saturday = epoch(day - dt.timedelta(days=day.weekday() + 2), dt.time(0, 0))  # no session: no candles
    assert history.candles("NSE:SBIN-EQ", 1, saturday, saturday + DAY - 1) == []


def test_unknown_resolution_is_refused_before_any_request():
    with pytest.raises(ValueError, match="not served by Fyers"):
        HistoryClient(RestClient("http://127.0.0.1:9"), TEST_APP_ID, lambda: "t").candles("NSE:SBIN-EQ", 7, 0, 1)


def test_server_errors_are_retried(fyers_sim):
    sim = fyers_sim(start_time=AFTER_CLOSE)
    rest, _, history = clients(sim)
    sim.faults.http_5xx(2, status=503)
    day = sim.market.day
    assert history.candles("NSE:SBIN-EQ", 5, epoch(day, dt.time(0, 0)), epoch(day, dt.time(23, 59)))
    assert rest.retried == 2


def test_persistent_server_errors_raise_server_error(fyers_sim):
    sim = fyers_sim()
    _, symbols, _ = clients(sim, retries=2)
    sim.faults.http_5xx(5)
    with pytest.raises(errors.FyersServerError, match="HTTP 500"):
        symbols.resolve(["NSE:SBIN-EQ"])


def test_rate_limited_calls_are_retried(fyers_sim):
    sim = fyers_sim()
    rest, symbols, _ = clients(sim)
    sim.faults.rate_limit(2)
    assert symbols.topics(["NSE:SBIN-EQ"]) == {"NSE:SBIN-EQ": "sf|nse_cm|3045"}
    assert rest.retried == 2


def test_rate_limit_that_persists_raises_rate_limited(fyers_sim):
    sim = fyers_sim()
    _, symbols, _ = clients(sim, retries=1)
    sim.faults.rate_limit(5)
    with pytest.raises(errors.RateLimitedError):
        symbols.resolve(["NSE:SBIN-EQ"])


def test_unreachable_api_is_a_server_error_after_retries():
    rest = RestClient("http://127.0.0.1:9", retries=1, backoff=0.01, timeout=2)
    with pytest.raises(errors.FyersServerError, match="could not reach Fyers"):
        rest.request("GET", "/api/v3/marketStatus")


def test_expired_access_token_raises_token_expired(fyers_sim):
    sim = fyers_sim(start_time=AFTER_CLOSE)
    _, _, history = clients(sim)
    sim.faults.expire_tokens()
    with pytest.raises(errors.TokenExpiredError) as err:
        history.candles("NSE:SBIN-EQ", 5, 0, 1)
    assert err.value.code == errors.TOKEN_EXPIRED and err.value.status == 401


def test_one_limiter_holds_the_limit_across_clients(fyers_sim):
    sim = fyers_sim(start_time=AFTER_CLOSE)
    # A clock that moves only when the limiter sleeps: the test says how many requests a window
    # admits, whatever the machine's speed (a slow call would otherwise spread them out by itself).
    clock = FakeClock()
    limiter = RecordingLimiter([(4, 0.25)], clock=clock, sleep=clock.sleep)
    _, symbols, history = clients(sim, limiter)
    day = sim.market.day
    for _ in range(5):
        symbols.resolve(["NSE:SBIN-EQ"])
        history.candles("NSE:SBIN-EQ", 5, epoch(day, dt.time(0, 0)), epoch(day, dt.time(23, 59)))
    times = limiter.times
    assert len(times) == 10
    assert all(b - a >= 0.25 for a, b in zip(times, times[4:], strict=False))
    assert limiter.waited > 0
