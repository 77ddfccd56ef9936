"""Pure pieces of the client: topics, history chunks, the rate limiter, error mapping."""

from __future__ import annotations

import pytest
from fake_clock import FakeClock
from hypothesis import given
from hypothesis import strategies as st

from fyers import errors
from fyers.errors import SymbolError
from fyers.history import MAX_DAYS_DAILY, MAX_DAYS_INTRADAY, chunk_range
from fyers.ratelimit import RateLimiter
from fyers.symbols import topic_for
from market.session import DAY


def test_scrip_depth_and_index_topics():
    assert topic_for("NSE:SBIN-EQ", "10100000003045") == "sf|nse_cm|3045"
    assert topic_for("NSE:SBIN-EQ", "10100000003045", depth=True) == "dp|nse_cm|3045"
    assert topic_for("NSE:NIFTY25DECFUT", "101100000052212") == "sf|nse_fo|52212"
    assert topic_for("BSE:SENSEX-INDEX", "12100000001") == "if|bse_cm|SENSEX"


def test_unknown_segment_and_unnamed_index_are_symbol_errors():
    with pytest.raises(SymbolError, match="no known segment"):
        topic_for("XYZ:FOO-EQ", "99990000001")
    with pytest.raises(SymbolError, match="INDEX_NAMES"):
        topic_for("NSE:NOSUCH-INDEX", "10100000009999")


@given(st.integers(1_600_000_000, 1_800_000_000), st.integers(0, 2_000 * DAY), st.sampled_from([1, 5, "D"]))
def test_history_chunks_cover_the_range_within_the_cap(start, length, resolution):
    end = start + length
    chunks = chunk_range(start, end, resolution)
    cap = (MAX_DAYS_DAILY if resolution == "D" else MAX_DAYS_INTRADAY) * DAY
    assert chunks[0][0] == start and chunks[-1][1] == end
    assert all(b + 1 == c for (_, b), (c, _) in zip(chunks, chunks[1:], strict=False))
    assert all(0 <= b - a < cap for a, b in chunks)
    # Every chunk but the last ends at an IST midnight (no candle is split between requests).
    assert all((b + 1 + 19_800) % DAY == 0 for _, b in chunks[:-1])


def test_rate_limiter_keeps_every_window():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(450):
        limiter.acquire()
        clock.now += 0.001
    times = []
    limiter2 = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(450):
        limiter2.acquire()
        times.append(clock.now)
        clock.now += 0.001
    assert all(b - a >= 1.0 for a, b in zip(times, times[10:], strict=False))  # 10/s
    assert all(b - a >= 60.0 for a, b in zip(times, times[200:], strict=False))  # 200/min
    assert times[-1] >= 120.0  # 450 requests need at least two full minutes


def test_rate_limiter_rejects_nonsense_limits():
    with pytest.raises(ValueError, match="positive"):
        RateLimiter([(0, 1.0)])


@pytest.mark.parametrize("code, status, cls", [
    (errors.TOKEN_EXPIRED, 401, errors.TokenExpiredError),
    (errors.INVALID_TOKEN, 401, errors.InvalidTokenError),
    (errors.WRONG_PIN, 400, errors.WrongPinError),
    (errors.REFRESH_EXPIRED, 400, errors.RefreshTokenExpiredError),
    (errors.RATE_LIMITED, 429, errors.RateLimitedError),
    (-500, 503, errors.FyersServerError),
    (-50, 400, errors.FyersError),
])
def test_fyers_codes_map_to_specific_errors(code, status, cls):
    exc = errors.error_for(code, "message", status)
    assert type(exc) is cls and exc.code == code and "message" in str(exc)


def test_rest_clients_share_one_limiter_by_default():
    from fyers.rest import RestClient

    assert RestClient("http://127.0.0.1:1").limiter is RestClient("http://127.0.0.1:2").limiter


def test_retry_after_from_a_429_is_honoured():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from fyers.rest import RestClient

    answers = [(429, {"Retry-After": "3"}, b'{"s":"error","code":-429,"message":"slow down"}'),
               (200, {}, b'{"s":"ok","code":200}')]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body = answers.pop(0)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        waits: list[float] = []
        rest = RestClient(f"http://127.0.0.1:{server.server_address[1]}", RateLimiter(), backoff=0.01,
                          backoff_max=5, sleep=waits.append)
        assert rest.request("GET", "/x") == {"s": "ok", "code": 200}
        assert waits == [3.0]
    finally:
        server.shutdown()
        server.server_close()
