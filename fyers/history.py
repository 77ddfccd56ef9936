"""Historical candles: ``GET /data/history`` for a symbol, resolution and range of any length.

Fyers caps one request's range (about 100 days for minute resolutions, 366 for daily), so a long
range is split into chunks that fit; the chunks share the process's :class:`fyers.ratelimit.RateLimiter`
through the :class:`fyers.rest.RestClient`, which also retries transient failures. An empty range
(a holiday, a symbol that did not trade) is an empty list, not an error.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import msgspec

from fyers.bodies import HistoryBody, convert
from fyers.errors import FyersError
from fyers.rest import RestClient
from market.session import DAY, epoch, trading_date
from market.tick import EARLIEST_TS, MAX_PRICE

PATH: Final = "/data/history"
MAX_DAYS_INTRADAY: Final = 100
MAX_DAYS_DAILY: Final = 366
MINUTE_RESOLUTIONS: Final = frozenset({"1", "2", "3", "5", "10", "15", "20", "30", "45", "60", "120", "180", "240"})
DAILY_RESOLUTIONS: Final = frozenset({"D", "1D"})
# A whole number sent as a string is taken as int() takes it ("10"), not in float notation ("1e3").
_INT_TEXT: Final = re.compile(r"\s*[+-]?\d+\s*")


class Candle(NamedTuple):
    start: int  # epoch s, the candle's start (as a bar's `start`)
    open: float
    high: float
    low: float
    close: float
    volume: int


def normalize_resolution(resolution: int | str) -> str:
    """``5`` → ``"5"``, ``"d"`` → ``"D"``; anything Fyers does not serve is a ValueError naming the choices."""
    res = str(resolution).strip().upper()
    if res in MINUTE_RESOLUTIONS or res in DAILY_RESOLUTIONS:
        return res
    raise ValueError(f"resolution {resolution!r} is not served by Fyers; use minutes "
                     f"({', '.join(sorted(MINUTE_RESOLUTIONS, key=int))}) or 'D'")


def max_chunk_days(resolution: int | str) -> int:
    return MAX_DAYS_DAILY if normalize_resolution(resolution) in DAILY_RESOLUTIONS else MAX_DAYS_INTRADAY


def chunk_range(start: int, end: int, resolution: int | str) -> list[tuple[int, int]]:
    """Split the inclusive range [start, end] (epoch s) into inclusive chunks Fyers accepts."""
    if end < start:
        raise ValueError(f"range end {end} is before its start {start}")
    days = max_chunk_days(resolution)
    chunks = []
    a = start
    while a <= end:
        # End chunks at an IST midnight so no candle (or trading day) straddles two requests.
        b = min(end, _ist_day_end(a + (days - 1) * DAY))
        chunks.append((a, b))
        a = b + 1
    return chunks


def _ist_day_end(ts: int) -> int:
    """The last second of the IST day holding ``ts``."""
    day = trading_date(ts)
    return epoch(day, dt.time(0, 0)) + DAY - 1


class HistoryClient:
    """Candles for one app. ``access_token`` is called per request so a refreshed token is used."""

    def __init__(self, rest: RestClient, app_id: str, access_token: Callable[[], str]) -> None:
        self.rest = rest
        self.app_id = app_id
        self._access_token = access_token
        self.requests = 0

    @property
    def access_token_source(self) -> Callable[[], str]:
        """What gives the token (it may have a ``reload()`` for after a refresh)."""
        return self._access_token

    def candles(self, symbol: str, resolution: int | str, start: int, end: int) -> list[Candle]:
        """Every candle of ``symbol`` starting in [start, end], oldest first, without duplicates."""
        res = normalize_resolution(resolution)
        seen: dict[int, Candle] = {}
        for a, b in chunk_range(start, end, res):
            for candle in self._chunk(symbol, res, a, b):
                if start <= candle.start <= end:
                    seen[candle.start] = candle
        return [seen[t] for t in sorted(seen)]

    def _chunk(self, symbol: str, resolution: str, start: int, end: int) -> list[Candle]:
        self.requests += 1
        body = self.rest.request(
            "GET", PATH,
            params={"symbol": symbol, "resolution": resolution, "date_format": 0, "range_from": start,
                    "range_to": end, "cont_flag": 1},
            headers={"Authorization": f"{self.app_id}:{self._access_token()}"},
            ok_statuses=("ok", "no_data"),
        )
        return candles_from_body(body, symbol)


def candles_from_body(body: Any, symbol: str) -> list[Candle]:
    """The candles of an ok (or no_data) answer of ``/data/history``. Raises :class:`FyersError`
    naming the first malformed candle (of the wrong shape, or one no market can print: see
    :func:`_plausible`), or saying ``candles`` is not a list of them."""
    try:
        rows = convert(body, HistoryBody).candles or []
    except msgspec.ValidationError as exc:
        raw = body.get("candles") if isinstance(body, dict) else None
        for row in raw if isinstance(raw, list) else ():
            try:
                convert({"candles": [row]}, HistoryBody)
            except msgspec.ValidationError:
                raise FyersError(0, f"history for {symbol}: malformed candle {row!r}") from None
        raise FyersError(0, f"history for {symbol}: malformed body ({exc})") from None
    candles = [Candle(*row) for row in rows]
    for raw_row, candle in zip(body["candles"] if rows else (), candles, strict=True):
        if not _plausible(raw_row, candle):
            raise FyersError(0, f"history for {symbol}: malformed candle {raw_row!r}")
    return candles


def _plausible(raw_row: Any, candle: Candle) -> bool:
    """Whether a candle can be a real one: every price finite, above 0 and at most MAX_PRICE, low <=
    open, close <= high, volume >= 0, a start no earlier than EARLIEST_TS (market.tick's bounds, which
    the lake checks again), and integer fields not sent in float notation."""
    prices = (candle.open, candle.high, candle.low, candle.close)
    return (all(math.isfinite(p) and 0 < p <= MAX_PRICE for p in prices)
            and candle.low <= min(candle.open, candle.close) and max(candle.open, candle.close) <= candle.high
            and candle.volume >= 0 and candle.start >= EARLIEST_TS
            and all(not isinstance(raw_row[i], str) or _INT_TEXT.fullmatch(raw_row[i]) for i in (0, 5)))
