"""History candles for any day, not only the simulated one: what ``GET /data/history`` serves.

The simulated day's candles come from its timeline up to the clock's now (it cannot see the
future). Every earlier day that NSE traded (exchange_calendars' XBOM: weekends and exchange
holidays have no candles, as on Fyers) is generated from the same seeded model,
``random.Random(f"{seed}|{symbol}|{day}")``, so a past day's candles depend only on the seed, the
symbol and the day. Days after the simulated one have none.

A past day is generated once into 1-minute candles (cached) and larger resolutions are folded from
them: a candle of N minutes aligned to the session open is exactly the fold of its N one-minute
candles (first open, highest high, lowest low, last close, summed volume), and a test proves the
fold equals candles built from every trade. Keeping a day as 375 minute rows instead of ~10,000
trades lets a month of 20 symbols at every resolution stay in memory.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from fyers.sim.instruments import Instrument
from fyers.sim.market import candles, generate
from market.session import NseCalendar, epoch, trading_date

Row = tuple[int, float, float, float, float, int]  # [epoch, open, high, low, close, volume]

_CALENDAR = NseCalendar()


def _session(day: dt.date):
    return _CALENDAR.session(day)


@lru_cache(maxsize=8192)
def minute_candles(inst: Instrument, day: dt.date, seed: int) -> tuple[Row, ...]:
    """The whole of a past trading day in 1-minute candles (empty on a weekend or holiday)."""
    session = _session(day)
    if session is None:
        return ()
    tl = generate(inst, day, seed, session)
    return tuple(tuple(c) for c in candles(tl, 1))  # type: ignore[misc]


def fold(rows: tuple[Row, ...] | list[Row], resolution: str, day: dt.date, open_ts: int) -> list[list[float | int]]:
    """Fold 1-minute candles into ``resolution`` (minutes, or ``D``: one candle at IST midnight)."""
    daily = resolution.upper() in ("D", "1D")
    size = 0 if daily else int(resolution) * 60
    midnight = epoch(day, dt.time(0, 0))
    out: list[list[float | int]] = []
    for ts, o, h, lo, c, v in rows:
        b = midnight if daily else open_ts + (ts - open_ts) // size * size
        if out and out[-1][0] == b:
            cur = out[-1]
            cur[2] = max(cur[2], h)
            cur[3] = min(cur[3], lo)
            cur[4] = c
            cur[5] += v
        else:
            out.append([b, o, h, lo, c, v])
    return out


def day_candles(inst: Instrument, day: dt.date, seed: int, resolution: str) -> list[list[float | int]]:
    """A past day's candles at ``resolution``."""
    rows = minute_candles(inst, day, seed)
    if not rows:
        return []
    if resolution == "1":
        return [list(r) for r in rows]
    session = _session(day)
    assert session is not None  # rows exist only for a session
    return fold(rows, resolution, day, session.open_ts)


def history(inst: Instrument, *, sim_day: dt.date, sim_timeline_candles, seed: int, resolution: str,
            start: int, end: int) -> list[list[float | int]]:
    """Candles of ``inst`` whose start lies in [start, end], oldest first.

    ``sim_timeline_candles(resolution)`` gives the simulated day's candles up to the clock's now.
    """
    out: list[list[float | int]] = []
    day, last = trading_date(start), trading_date(end)
    while day <= last:
        if day == sim_day:
            rows = sim_timeline_candles(resolution)
        elif day < sim_day:
            rows = day_candles(inst, day, seed, resolution)
        else:
            break  # the future has no candles
        out += [r for r in rows if start <= r[0] <= end]
        day += dt.timedelta(days=1)
    return out
