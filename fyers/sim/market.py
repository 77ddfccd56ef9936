"""The seeded market model: every trade of the simulated day, and the quote after each one.

Each instrument's day is generated once, from ``random.Random(f"{seed}|{symbol}|{day}")``, so the
ground truth (trades, candles) depends only on the seed and never on wall time or on who is
connected. The socket publisher walks these timelines as the clock advances; history candles
are aggregated from them. Prices are integers in units of 10**-precision (paise), on a 0.05 tick.

Equities and futures trade at random times (a U-shaped intensity over the day) with random sizes;
the first trade is at the open (09:15:00) and carries the pre-open call-auction volume. Indices
move once a second and have no volume.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist
from typing import NamedTuple

from fyers.sim.instruments import TICK_PAISE, Instrument
from market.session import Session, epoch, normal_session

# Price resolutions of the history endpoint, in minutes ("D" is one candle per day).
MINUTE_RESOLUTIONS = frozenset({1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 120, 180, 240})
FUTURE_LOT = 75
MASK64 = (1 << 64) - 1


class Trade(NamedTuple):
    ts: float  # exchange time, epoch s (fractional: several trades can share a second)
    price: float  # rupees
    qty: int


@dataclass
class Timeline:
    """One instrument's day: parallel lists indexed by trade (or index move) number."""

    instrument: Instrument
    session: Session
    times: list[float] = field(default_factory=list)
    prices: list[int] = field(default_factory=list)
    qtys: list[int] = field(default_factory=list)
    cum_vol: list[int] = field(default_factory=list)
    cum_value: list[int] = field(default_factory=list)  # Σ price × qty, for the average traded price
    highs: list[int] = field(default_factory=list)
    lows: list[int] = field(default_factory=list)
    oi: list[int] = field(default_factory=list)
    salt: int = 0  # per-instrument seed for quote details derived on demand

    def index_at(self, ts: float) -> int:
        """Number of trades at or before ``ts`` minus one: the last trade index, -1 before the first."""
        return bisect_right(self.times, ts) - 1

    def trades(self, until: float | None = None) -> list[Trade]:
        n = len(self.times) if until is None else self.index_at(until) + 1
        d = 10**self.instrument.precision
        return [Trade(self.times[i], self.prices[i] / d, self.qtys[i]) for i in range(n)]


@lru_cache(maxsize=256)
def generate(inst: Instrument, day: dt.date, seed: int, session: Session | None = None) -> Timeline:
    """Generate ``inst``'s whole day. Cheap: a few random draws per trade, no numpy.

    Cached: a timeline is never modified after generation, so simulators with the same seed share it.
    """
    session = session or normal_session(day)
    rng = random.Random(f"{seed}|{inst.symbol}|{day.isoformat()}")
    tl = Timeline(inst, session, salt=rng.getrandbits(64))
    if inst.kind == "index":
        _generate_index(tl, rng)
    else:
        _generate_trades(tl, rng)
    return tl


def _generate_trades(tl: Timeline, rng: random.Random) -> None:
    inst, s = tl.instrument, tl.session
    open_ts, close_ts = float(s.open_ts), float(s.close_ts)
    length = close_ts - open_ts
    future = inst.kind == "future"
    rate = rng.uniform(0.5, 1.0) if future else rng.uniform(0.15, 0.6)  # trades per second on average
    expected = rate * length
    day_vol = rng.uniform(0.008, 0.02)
    pc = inst.prev_close
    sigma_ticks = max(0.4, pc * day_vol / math.sqrt(expected) / TICK_PAISE)
    lot = FUTURE_LOT if future else 1
    mean_qty = max(1.0, 2_000_000 / pc) if not future else 3.0  # ~₹20,000 a trade; futures in lots
    lower, upper = _circuit(pc)

    gap = rng.gauss(0.0, 0.004)
    price = min(upper, max(lower, _tick(pc * (1 + gap))))
    preopen = lot * max(1, int(mean_qty * rng.uniform(60, 250)))
    oi = lot * int(rng.uniform(80_000, 160_000)) if future else 0

    times, prices, qtys = tl.times, tl.prices, tl.qtys
    cum_vol, cum_value, highs, lows, ois = tl.cum_vol, tl.cum_value, tl.highs, tl.lows, tl.oi
    t, vol, value, hi, lo = open_ts, preopen, price * preopen, price, price
    # The opening trade at 09:15:00 carries the pre-open call-auction volume.
    times.append(t)
    prices.append(price)
    qtys.append(preopen)
    cum_vol.append(vol)
    cum_value.append(value)
    highs.append(hi)
    lows.append(lo)
    ois.append(oi)
    # Hot loop (~10k trades a symbol): inverse-CDF table lookups and inlined exponentials instead of
    # random.gauss / expovariate calls keep a 20-symbol day well under a second.
    steps = _step_table(sigma_ticks)
    rand, bits, log = rng.random, rng.getrandbits, math.log
    t_app, p_app, q_app, v_app, val_app = times.append, prices.append, qtys.append, cum_vol.append, cum_value.append
    h_app, l_app, o_app = highs.append, lows.append, ois.append
    inv_rate, inv_len = 1.0 / rate, 1.0 / length
    while True:
        x = 2.0 * (t - open_ts) * inv_len - 1.0
        t -= log(1.0 - rand()) * inv_rate / (0.55 + 1.35 * x * x)  # U-shaped intensity over the day
        if t >= close_ts:
            break
        price += steps[bits(STEP_BITS)]
        if price < lower:
            price = lower
        elif price > upper:
            price = upper
        qty = lot * (1 + int(-log(1.0 - rand()) * mean_qty))
        vol += qty
        value += price * qty
        if price > hi:
            hi = price
        elif price < lo:
            lo = price
        if future:
            r = rand()
            oi = max(lot, oi + (qty if r < 0.55 else -qty if r < 0.9 else 0))
        t_app(t)
        p_app(price)
        q_app(qty)
        v_app(vol)
        val_app(value)
        h_app(hi)
        l_app(lo)
        o_app(oi)


STEP_BITS = 12


def _step_table(sigma_ticks: float) -> list[int]:
    """Price steps (paise) for a normal(0, sigma) move in whole ticks, indexed by 12 random bits."""
    return [TICK_PAISE * round(z * sigma_ticks) for z in _STANDARD_NORMAL]


_STANDARD_NORMAL = [NormalDist().inv_cdf((i + 0.5) / (1 << STEP_BITS)) for i in range(1 << STEP_BITS)]


def _generate_index(tl: Timeline, rng: random.Random) -> None:
    s = tl.session
    pc = tl.instrument.prev_close
    sigma_ticks = max(0.5, pc * rng.uniform(0.005, 0.012) / math.sqrt(s.close_ts - s.open_ts) / TICK_PAISE)
    price = _tick(pc * (1 + rng.gauss(0.0, 0.003)))
    hi = lo = price
    steps = _step_table(sigma_ticks)
    bits = rng.getrandbits
    prices, highs, lows = tl.prices, tl.highs, tl.lows
    for _ in range(s.open_ts, s.close_ts):  # the exchange disseminates index values every second
        prices.append(price)
        highs.append(hi)
        lows.append(lo)
        price = max(TICK_PAISE, price + steps[bits(STEP_BITS)])
        if price > hi:
            hi = price
        elif price < lo:
            lo = price
    n = s.close_ts - s.open_ts
    tl.times.extend(float(t) for t in range(s.open_ts, s.close_ts))
    tl.qtys.extend([0] * n)
    tl.cum_vol.extend([0] * n)
    tl.cum_value.extend([0] * n)
    tl.oi.extend([0] * n)


def _tick(paise: float) -> int:
    return max(TICK_PAISE, TICK_PAISE * round(paise / TICK_PAISE))


def _circuit(prev_close: int) -> tuple[int, int]:
    """Price band: ±20% of the previous close, on the tick."""
    return _tick(prev_close * 0.8), _tick(prev_close * 1.2)


def _mix(a: int, b: int) -> int:
    """A cheap deterministic 64-bit hash (splitmix64 finaliser) for per-trade quote details."""
    z = (a + 0x9E3779B97F4A7C15 * (b + 1)) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def previous_close_ts(day: dt.date) -> int:
    """When the previous weekday's session closed (the last traded time shown before the open)."""
    prev = day - dt.timedelta(days=1)
    while prev.weekday() >= 5:
        prev -= dt.timedelta(days=1)
    return epoch(prev, dt.time(15, 30))


@lru_cache(maxsize=1024)
def _static(inst: Instrument) -> tuple[int, int, int, int]:
    """Per-instrument constants of the quote: circuit band and 52-week range (lower, upper, yhigh, ylow)."""
    pc = inst.prev_close
    lower, upper = _circuit(pc)
    return lower, upper, _tick(pc * 1.31), _tick(pc * 0.74)


def scrip_values(tl: Timeline, i: int, feed_time: int) -> tuple[int, ...]:
    """The 21 scrip fields (FYERS.md order) of the quote after trade ``i`` (-1: before the first)."""
    inst = tl.instrument
    pc = inst.prev_close
    lower, upper, yhigh, ylow = _static(inst)
    if i < 0:
        prev_ts = previous_close_ts(tl.session.day)
        return (pc, 0, prev_ts, feed_time, 0, 0, 0, 0, 0, 0, 0, pc, tl.oi[0] if tl.oi else 0,
                pc, pc, yhigh, ylow, lower, upper, pc, pc)
    h = _mix(tl.salt, i)
    price, vol = tl.prices[i], tl.cum_vol[i]
    spread = TICK_PAISE * (1 + (h & 3) // 3)  # mostly one tick, sometimes two
    lot = FUTURE_LOT if inst.kind == "future" else 1
    if (h >> 2) & 1:  # buyer-initiated: traded at the ask
        bid, ask = price - spread, price
    else:
        bid, ask = price, price + spread
    depth = vol // 40 + 1000 * lot
    return (price, vol, int(tl.times[i]), feed_time, lot * (1 + (h >> 8) % 400), lot * (1 + (h >> 20) % 400),
            bid if bid > 0 else 0, ask, tl.qtys[i], depth + lot * ((h >> 32) % 5000),
            depth + lot * ((h >> 44) % 5000), round(tl.cum_value[i] / vol), tl.oi[i],
            tl.lows[i], tl.highs[i], yhigh, ylow, lower, upper, tl.prices[0], pc)


def index_values(tl: Timeline, i: int, feed_time: int) -> tuple[int, ...]:
    """The 6 index fields: ltp, prev_close_price, exch_feed_time, high_price, low_price, open_price."""
    pc = tl.instrument.prev_close
    if i < 0:
        return (pc, pc, feed_time, pc, pc, pc)
    return (tl.prices[i], pc, feed_time, tl.highs[i], tl.lows[i], tl.prices[0])


def quote_values(tl: Timeline, i: int, feed_time: int) -> tuple[int, ...]:
    if tl.instrument.kind == "index":
        return index_values(tl, i, feed_time)
    return scrip_values(tl, i, feed_time)


def candle_start(ts: int, minutes: int, session: Session) -> int:
    """Start of the ``minutes`` candle holding ``ts``; intraday candles align to the session open."""
    size = minutes * 60
    return session.open_ts + (ts - session.open_ts) // size * size


def candles(tl: Timeline, resolution: int | str = 5, start: float | None = None,
            end: float | None = None, until: float | None = None) -> list[list[float | int]]:
    """OHLCV candles ``[epoch, o, h, l, c, vol]`` built from every trade in [start, end].

    Only candles in which something traded exist. ``resolution`` is minutes or ``"D"`` (the day's
    candle, stamped at IST midnight). A candle is included when its start lies in [start, end], as
    Fyers selects candles by their timestamp; trades after ``until`` are not counted (the history
    endpoint passes the clock's now: it cannot see the future).
    """
    n = len(tl.times) if until is None else tl.index_at(until) + 1
    if n == 0:
        return []
    d = 10**tl.instrument.precision
    daily = str(resolution).upper() in ("D", "1D")
    out: list[list[float | int]] = []
    cur: list[float | int] | None = None
    times, prices, qtys = tl.times, tl.prices, tl.qtys
    day_start = epoch(tl.session.day, dt.time(0, 0))
    minutes = 0 if daily else int(resolution)
    size = minutes * 60
    base = tl.session.open_ts
    for k in range(n):
        if daily:
            b = day_start
        else:
            b = base + (int(times[k]) - base) // size * size
        p = prices[k]
        if cur is None or cur[0] != b:
            cur = [b, p, p, p, p, qtys[k]]
            out.append(cur)
        else:
            if p > cur[2]:
                cur[2] = p
            if p < cur[3]:
                cur[3] = p
            cur[4] = p
            cur[5] += qtys[k]
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [[c[0], c[1] / d, c[2] / d, c[3] / d, c[4] / d, c[5]] for c in out if lo <= c[0] <= hi]


class Market:
    """The simulated universe for one day: timelines generated lazily, once, per symbol."""

    def __init__(self, symbols: list[str], day: dt.date, seed: int, session: Session | None = None) -> None:
        from fyers.sim.instruments import instrument

        self.day = day
        self.seed = seed
        self.session = session or normal_session(day)
        self.instruments: dict[str, Instrument] = {s: instrument(s) for s in symbols}
        self.by_topic: dict[str, Instrument] = {i.topic: i for i in self.instruments.values()}
        self._timelines: dict[str, Timeline] = {}

    def timeline(self, symbol: str) -> Timeline:
        tl = self._timelines.get(symbol)
        if tl is None:
            # Racing threads may both generate; the result is identical, so either one wins.
            tl = self._timelines.setdefault(symbol, generate(self.instruments[symbol], self.day, self.seed,
                                                             self.session))
        return tl

    def generate_all(self) -> None:
        for symbol in self.instruments:
            self.timeline(symbol)
