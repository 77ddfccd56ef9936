"""Fyers REST bodies become typed values (fyers/bodies.py) or the client's documented error.

Any JSON a server can send after the envelope check (fyers/rest.py) goes through the same functions
the clients call: the token calls give :class:`Tokens` or a FyersError (InvalidTokenError for an
unusable JWT), symbol-token a mapping or a SymbolError, history candles or a FyersError, and never
any other exception.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fyers.auth import Tokens, tokens_from_body
from fyers.errors import FyersError, InvalidTokenError, SymbolError
from fyers.history import Candle, candles_from_body
from fyers.jwt import b64url_encode
from fyers.symbols import fytokens_from_body
from market.tick import EARLIEST_TS, MAX_PRICE

# What json.loads (requests' Response.json) can hand back, Infinity and NaN included.
leaves = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
          | st.integers(min_value=10**18, max_value=10**30))
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=20)


def jwt(payload: object) -> str:
    return f"e30.{b64url_encode(json.dumps(payload).encode())}.sig"


# An access token: any string, or a JWT whose payload is any JSON (usually an object with exp/hsm_key).
claims = st.fixed_dictionaries({}, optional={"exp": json_values | st.integers(0, 2**40), "hsm_key": json_values})
tokens = st.text(max_size=30) | json_values.map(jwt) | claims.map(jwt) | json_values
token_bodies = json_values | st.fixed_dictionaries({}, optional={"access_token": tokens, "refresh_token": tokens,
                                                                  "s": json_values, "code": json_values})
symbol_bodies = json_values | st.fixed_dictionaries({}, optional={
    "validSymbol": json_values | st.dictionaries(st.sampled_from(["NSE:SBIN-EQ", "NSE:TCS-EQ"]),
                                                 json_values | st.text(max_size=20))})
numbers = (st.integers() | st.floats() | st.sampled_from([math.inf, -math.inf, math.nan, 1.5, 10.0, "7", "x", "1e3",
                                                            "-1", 0, -0.0, EARLIEST_TS - 1, EARLIEST_TS, MAX_PRICE])
           | st.booleans() | st.none())
# Near-real candles, so the plausibility checks (not only the shape checks) see many of them.
prices = st.floats(0.05, 5000) | st.sampled_from([0.0, -1.0, MAX_PRICE, MAX_PRICE * 2, math.nan, math.inf, "101.5"])
near_rows = st.tuples(st.integers(EARLIEST_TS - 5, 2**33) | st.sampled_from([0, -60, "1764000000", "1.7e9"]),
                      prices, prices, prices, prices,
                      st.integers(-5, 10**9) | st.sampled_from([10.0, "1e3", "1000", -1.0])).map(list)
candle_rows = (st.lists(numbers, min_size=6, max_size=6) | st.lists(numbers, min_size=5, max_size=7) | json_values
               | near_rows)
history_bodies = json_values | st.fixed_dictionaries({}, optional={"candles": st.lists(candle_rows, max_size=5)
                                                                              | json_values})
T = 1_764_000_000  # a candle's start: 2025-11-24 16:00 UTC
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(body=token_bodies, refresh=st.booleans())
def test_a_token_body_gives_tokens_or_a_fyers_error(body, refresh):
    try:
        out = tokens_from_body(body, refresh=refresh)
    except FyersError:
        return
    assert isinstance(out, Tokens) and isinstance(out.access_token, str) and isinstance(out.expires_at, int)
    assert isinstance(out.refresh_token, str) if refresh else out.refresh_token is None


@SETTINGS
@given(body=symbol_bodies)
def test_a_symbol_token_body_gives_fytokens_or_a_symbol_error(body):
    try:
        out = fytokens_from_body(body)
    except SymbolError:
        return
    assert all(isinstance(k, str) and (v is None or isinstance(v, str | int)) for k, v in out.items())


@SETTINGS
@given(body=history_bodies)
def test_a_history_body_gives_candles_or_a_fyers_error(body):
    try:
        out = candles_from_body(body, "NSE:SBIN-EQ")
    except FyersError as exc:
        assert "history for NSE:SBIN-EQ: malformed" in exc.message
        return
    for candle in out:
        assert isinstance(candle, Candle) and isinstance(candle.start, int) and isinstance(candle.volume, int)
        prices = (candle.open, candle.high, candle.low, candle.close)
        assert all(isinstance(v, float) and math.isfinite(v) and 0 < v <= MAX_PRICE for v in prices)
        assert candle.low <= min(candle.open, candle.close) and max(candle.open, candle.close) <= candle.high
        assert candle.volume >= 0 and candle.start >= EARLIEST_TS
    for row in body["candles"] if out else ():  # whole numbers sent as text are in int() notation, not "1e3"
        assert all(not isinstance(row[i], str) or row[i].strip().lstrip("+-").isdigit() for i in (0, 5))


def test_a_good_token_body_gives_both_tokens_and_the_expiry():
    access = jwt({"exp": 1_764_000_000, "hsm_key": "k"})
    out = tokens_from_body({"s": "ok", "access_token": access, "refresh_token": "r"}, refresh=True)
    assert (out.access_token, out.refresh_token, out.expires_at) == (access, "r", 1_764_000_000)


@pytest.mark.parametrize(("body", "says"), [
    ({"s": "ok"}, "without access_token and refresh_token"),
    ({"access_token": 12, "refresh_token": "r"}, "answered a malformed body: Expected `str | null`, got `int`"),
    ([], "answered a malformed body"),
])
def test_a_token_body_without_usable_tokens_is_a_fyers_error_saying_what_is_wrong(body, says):
    with pytest.raises(FyersError, match=says) as info:
        tokens_from_body(body, refresh=True)
    assert type(info.value) is FyersError


def test_an_access_token_that_is_no_jwt_is_an_invalid_token_error():
    with pytest.raises(InvalidTokenError):
        tokens_from_body({"access_token": "not.a-jwt"}, refresh=False)


def test_history_names_the_malformed_candle():
    body = {"candles": [[T, 2, 3, 1, 2, 10], [T + 60, 2, 3, 1, "x", 10]]}
    with pytest.raises(FyersError, match=rf"malformed candle \[{T + 60}, 2, 3, 1, 'x', 10\]"):
        candles_from_body(body, "NSE:SBIN-EQ")


def test_history_takes_numeric_strings_and_whole_float_volumes_as_before():
    body = {"candles": [[str(T), "1.5", 2, 1, 1.5, 10.0], [T + 60, 1.5, 2, 1, 1.5, "10"]]}
    assert candles_from_body(body, "S") == [Candle(T, 1.5, 2.0, 1.0, 1.5, 10), Candle(T + 60, 1.5, 2.0, 1.0, 1.5, 10)]


@pytest.mark.parametrize("volume", [math.inf, math.nan, 10.5, -math.inf])
def test_a_volume_that_is_no_whole_number_is_a_malformed_candle(volume):
    with pytest.raises(FyersError, match="malformed candle"):
        candles_from_body({"candles": [[T, 1, 2, 1, 1.5, volume]]}, "S")


@pytest.mark.parametrize(("row", "why"), [
    ([T, math.nan, 2, 1, 1.5, 10], "a NaN price"),
    ([T, 1.5, math.inf, 1, 1.5, 10], "an infinite price"),
    ([T, 1.5, 1, 2, 1.5, 10], "high below low"),
    ([T, 2.5, 2, 1, 1.5, 10], "open above high"),
    ([T, 1.5, 2, 1, 0.5, 10], "close below low"),
    ([T, 0, 2, 0, 1, 10], "a zero price"),
    ([T, -1, 2, -2, 1, 10], "negative prices"),
    ([T, 1.5, MAX_PRICE * 2, 1, 1.5, 10], "a price above MAX_PRICE"),
    ([T, 1.5, 2, 1, 1.5, -1], "a negative volume"),
    ([0, 1.5, 2, 1, 1.5, 10], "a start of 0"),
    ([-60, 1.5, 2, 1, 1.5, 10], "a negative start"),
    ([EARLIEST_TS - 60, 1.5, 2, 1, 1.5, 10], "a start before EARLIEST_TS"),
    ([T, 1.5, 2, 1, 1.5, "1e3"], "a volume in float notation"),
])
def test_an_implausible_candle_is_a_malformed_candle(row, why):
    good = [T - 60, 1.5, 2, 1, 1.5, 10]
    with pytest.raises(FyersError, match=r"history for S: malformed candle \[") as info:
        candles_from_body({"candles": [good, row]}, "S")
    assert repr(row) in info.value.message, why


def test_symbol_token_reports_a_list_where_an_object_belongs():
    with pytest.raises(SymbolError, match=r"validSymbol=\['NSE:SBIN-EQ'\], expected an object"):
        fytokens_from_body({"validSymbol": ["NSE:SBIN-EQ"]})
