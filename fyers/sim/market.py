"""The seeded market model: every trade of the simulated day, and the quote after each one.

An instrument's day is cut into 5-minute slices, each generated from its own
``random.Random(f"{seed}|{symbol}|{day}|{slice}")`` starting from the state (price, volume, day
high/low, open interest) at the end of the previous slice. So the ground truth (trades, candles)
depends only on the seed and never on wall time or on who is connected, and a slice is generated
only when something asks for a time inside it: a 5,000-symbol universe starts in under a second,
and memory holds each instrument's slice boundaries plus the few slices in use (LRU), not its day.
A slice that was dropped is generated again, identically, when it is needed. The socket publisher
walks the timelines as the clock advances; history candles are aggregated from them. Prices are
integers in units of 10**-precision (paise), on a 0.05 tick.

Equities and futures trade at random times (a U-shaped intensity over the day) with random sizes;
the first trade is at the open (09:15:00) and carries the pre-open call-auction volume. Indices
move once a second and have no volume.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from statistics import NormalDist
from typing import Any, NamedTuple

from fyers.sim.instruments import TICK_PAISE, Instrument
from market.session import Session, epoch, normal_session
from market.tick import make

# Price resolutions of the history endpoint, in minutes ("D" is one candle per day).
MINUTE_RESOLUTIONS = frozenset({1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 120, 180, 240})
FUTURE_LOT = 75
MASK64 = (1 << 64) - 1
SLICE_SECONDS = 300  # generation unit: one 5-minute bucket (the session open is on a 300 s boundary)
CACHED_SLICES = 3  # per instrument: the publisher's slice, the one before it, and one for a history read

# Per-slice arrays, one per trade (or index move): time, price, qty, cum vol, cum value, high, low, oi.
_COLUMNS = ("times", "prices", "qtys", "cum_vol", "cum_value", "highs", "lows", "oi")
_TYPECODES = ("d", "q", "q", "q", "q", "q", "q", "q")


class Trade(NamedTuple):
    ts: float  # exchange time, epoch s (fractional: several trades can share a second)
    price: float  # rupees
    qty: int


class _Slice:
    """One slice's trades as compact arrays (64 bytes a trade)."""

    __slots__ = _COLUMNS
    # the columns, set in __init__ from _COLUMNS (declared for type checkers)
    times: array[float]
    prices: array[int]
    qtys: array[int]
    cum_vol: array[int]
    cum_value: array[int]
    highs: array[int]
    lows: array[int]
    oi: array[int]

    def __init__(self) -> None:
        for name, code in zip(_COLUMNS, _TYPECODES, strict=True):
            setattr(self, name, array(code))


class Column(Sequence):
    """A read-only view of one field of a timeline over the whole day, indexed by trade number.

    Indexing generates (or regenerates) only the slice holding the trade; ``len`` and iterating to
    the end generate the rest of the day."""

    def __init__(self, tl: Timeline, name: str) -> None:
        self._tl = tl
        self._name = name

    def __len__(self) -> int:
        return self._tl.count()

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        sl, j = self._tl.locate(i)
        return getattr(sl, self._name)[j]

    def __iter__(self) -> Iterator[Any]:
        for sl in self._tl.slices():
            yield from getattr(sl, self._name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Column | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Timeline:
    """One instrument's day, generated slice by slice on demand.

    Trades are numbered over the whole day (0 is the opening trade); ``times``, ``prices``, ``qtys``,
    ``cum_vol``, ``cum_value`` (Σ price × qty, for the average traded price), ``highs``, ``lows`` and
    ``oi`` are read-only columns indexed by that number. Thread-safe: the socket publisher and the
    REST history share timelines."""

    # the read-only columns, set in __init__ from _COLUMNS (declared for type checkers)
    times: Column
    prices: Column
    qtys: Column
    cum_vol: Column
    cum_value: Column
    highs: Column
    lows: Column
    oi: Column

    def __init__(self, instrument: Instrument, session: Session, seed: int) -> None:
        self.instrument = instrument
        self.session = session
        self._prefix = f"{seed}|{instrument.symbol}|{session.day.isoformat()}"
        rng = random.Random(self._prefix)
        self.salt = rng.getrandbits(64)  # per-instrument seed for quote details derived on demand
        self._index = instrument.kind == "index"
        self._params = _index_params(instrument, session, rng) if self._index else _trade_params(instrument, session, rng)
        self.nslices = -(-(session.close_ts - session.open_ts) // SLICE_SECONDS)
        # _starts[k]: trades before slice k; _states[k]: the generator state entering slice k.
        self._starts = array("q", [0])
        self._states: list[tuple[int, ...]] = [self._params["state0"]]
        self._cache: OrderedDict[int, _Slice] = OrderedDict()
        self._lock = threading.RLock()
        self.open_price = self._params["state0"][0]  # the opening trade's price (the day's open)
        self.open_oi = self._params["state0"][5]
        for name in _COLUMNS:
            setattr(self, name, Column(self, name))

    # -- generation -------------------------------------------------------------------------------
    def _slice(self, k: int) -> _Slice:
        """Slice ``k`` (0-based), generating the slices before it once if their boundaries are unknown."""
        with self._lock:
            sl = self._cache.get(k)
            if sl is not None:
                self._cache.move_to_end(k)
                return sl
            while len(self._states) <= k:  # walk forward to learn the state entering slice k
                n = len(self._states) - 1
                self._keep(n, self._generate(n))
            sl = self._generate(k)
            self._keep(k, sl)
            return sl

    def _keep(self, k: int, sl: _Slice) -> None:
        self._cache[k] = sl
        self._cache.move_to_end(k)
        while len(self._cache) > CACHED_SLICES:
            self._cache.popitem(last=False)

    def _generate(self, k: int) -> _Slice:
        s0 = self.session.open_ts + k * SLICE_SECONDS
        s1 = min(self.session.close_ts, s0 + SLICE_SECONDS)
        rng = random.Random(f"{self._prefix}|{k}")
        sl = _Slice()
        gen = _index_slice if self._index else _trade_slice
        end = gen(sl, self._params, self._states[k], rng, s0, s1, first=k == 0)
        if len(self._states) == k + 1 and k + 1 <= self.nslices:
            self._states.append(end)
            self._starts.append(self._starts[k] + len(sl.times))
        return sl

    @property
    def known_slices(self) -> int:
        """Slices whose start is known (generated at least once); the day has ``nslices``."""
        return len(self._states) - 1

    @property
    def cached_slices(self) -> int:
        return len(self._cache)

    # -- access -----------------------------------------------------------------------------------
    def slice_of(self, ts: float) -> int:
        return min(self.nslices - 1, max(0, int(ts - self.session.open_ts) // SLICE_SECONDS))

    def count(self) -> int:
        """Trades in the whole day (generates every slice's boundary once)."""
        with self._lock:
            if len(self._states) <= self.nslices:
                self._slice(self.nslices - 1)
            return self._starts[self.nslices]

    def locate(self, i: int) -> tuple[_Slice, int]:
        """The slice holding trade ``i`` (negative counts from the day's end) and its index there."""
        with self._lock:
            if i < 0:
                i += self.count()
            if i < 0:
                raise IndexError("trade index out of range")
            while len(self._states) <= self.nslices and self._starts[-1] <= i:
                self._slice(len(self._states) - 1)
            if i >= self._starts[-1]:
                raise IndexError("trade index out of range")
            k = bisect_right(self._starts, i) - 1  # the last slice starting at or before i: an empty one never is
            return self._slice(k), i - self._starts[k]

    def index_at(self, ts: float) -> int:
        """Number of trades at or before ``ts`` minus one: the last trade index, -1 before the first."""
        if ts < self.session.open_ts:
            return -1
        with self._lock:
            k = self.slice_of(ts)
            sl = self._slice(k)
            return self._starts[k] + bisect_right(sl.times, ts) - 1

    def slices(self, until: float | None = None) -> Iterator[_Slice]:
        """Every slice from the open, in order, up to the one holding ``until`` (trades after it included)."""
        last = self.nslices - 1 if until is None else self.slice_of(until)
        if until is not None and until < self.session.open_ts:
            return
        for k in range(last + 1):
            yield self._slice(k)

    def trades(self, until: float | None = None) -> list[Trade]:
        d = 10**self.instrument.precision
        out: list[Trade] = []
        for sl in self.slices(until):
            for t, p, q in zip(sl.times, sl.prices, sl.qtys, strict=True):
                if until is not None and t > until:
                    return out
                out.append(Trade(t, p / d, q))
        return out


@lru_cache(maxsize=256)
def generate(inst: Instrument, day: dt.date, seed: int, session: Session | None = None) -> Timeline:
    """``inst``'s day as a lazy timeline: nothing beyond its parameters is generated until asked.

    Cached: a timeline's trades depend only on its arguments, so simulators with the same seed share it.
    """
    return Timeline(inst, session or normal_session(day), seed)


def _trade_params(inst: Instrument, s: Session, rng: random.Random) -> dict[str, Any]:
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
    # state: price, cum vol, cum value, high, low, oi (the opening trade is slice 0's first)
    return {"open_ts": open_ts, "inv_len": 1.0 / length, "inv_rate": 1.0 / rate, "future": future, "lot": lot,
            "mean_qty": mean_qty, "lower": lower, "upper": upper, "sigma": _quantise(sigma_ticks),
            "preopen": preopen, "state0": (price, 0, 0, price, price, oi)}


def _trade_slice(sl: _Slice, prm: dict[str, Any], state: tuple[int, ...], rng: random.Random, s0: int, s1: int,
                 *, first: bool) -> tuple[int, ...]:
    price, vol, value, hi, lo, oi = state
    lower, upper, lot, mean_qty, future = prm["lower"], prm["upper"], prm["lot"], prm["mean_qty"], prm["future"]
    times, prices, qtys = sl.times, sl.prices, sl.qtys
    t_app, p_app, q_app = times.append, prices.append, qtys.append
    v_app, val_app, h_app, l_app, o_app = (sl.cum_vol.append, sl.cum_value.append, sl.highs.append,
                                           sl.lows.append, sl.oi.append)
    t = float(s0)
    if first:  # the opening trade at 09:15:00 carries the pre-open call-auction volume
        qty = prm["preopen"]
        vol, value = qty, price * qty
        t_app(t), p_app(price), q_app(qty), v_app(vol), val_app(value), h_app(hi), l_app(lo), o_app(oi)
    # Hot loop: inverse-CDF table lookups and inlined exponentials instead of random.gauss /
    # expovariate calls keep a symbol's slice well under a millisecond.
    steps = _step_table(prm["sigma"])
    rand, bits, log = rng.random, rng.getrandbits, math.log
    open_ts, inv_len, inv_rate = prm["open_ts"], prm["inv_len"], prm["inv_rate"]
    while True:
        x = 2.0 * (t - open_ts) * inv_len - 1.0
        t -= log(1.0 - rand()) * inv_rate / (0.55 + 1.35 * x * x)  # U-shaped intensity over the day
        if t >= s1:
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
    return price, vol, value, hi, lo, oi


STEP_BITS = 12


def _quantise(sigma_ticks: float) -> float:
    """Sigma on a 5 % grid, so instruments share step tables (4,096 entries each)."""
    return round(math.exp(round(math.log(sigma_ticks) * 20) / 20), 6)


@cache
def _step_table(sigma_ticks: float) -> list[int]:
    """Price steps (paise) for a normal(0, sigma) move in whole ticks, indexed by 12 random bits."""
    return [TICK_PAISE * round(z * sigma_ticks) for z in _STANDARD_NORMAL]


_STANDARD_NORMAL = [NormalDist().inv_cdf((i + 0.5) / (1 << STEP_BITS)) for i in range(1 << STEP_BITS)]


def _index_params(inst: Instrument, s: Session, rng: random.Random) -> dict[str, Any]:
    pc = inst.prev_close
    sigma_ticks = max(0.5, pc * rng.uniform(0.005, 0.012) / math.sqrt(s.close_ts - s.open_ts) / TICK_PAISE)
    price = _tick(pc * (1 + rng.gauss(0.0, 0.003)))
    return {"sigma": _quantise(sigma_ticks), "state0": (price, 0, 0, price, price, 0)}


def _index_slice(sl: _Slice, prm: dict[str, Any], state: tuple[int, ...], rng: random.Random, s0: int, s1: int,
                 *, first: bool) -> tuple[int, ...]:
    """The exchange disseminates index values every second: one move a second, no volume."""
    price, _, _, hi, lo, _ = state
    steps = _step_table(prm["sigma"])
    bits = rng.getrandbits
    prices, highs, lows = sl.prices, sl.highs, sl.lows
    for _ in range(s0, s1):
        prices.append(price)
        highs.append(hi)
        lows.append(lo)
        price = max(TICK_PAISE, price + steps[bits(STEP_BITS)])
        if price > hi:
            hi = price
        elif price < lo:
            lo = price
    n = s1 - s0
    sl.times.extend(float(t) for t in range(s0, s1))
    zeros = array("q", bytes(8 * n))
    for column in (sl.qtys, sl.cum_vol, sl.cum_value, sl.oi):
        column.extend(zeros)
    return price, 0, 0, hi, lo, 0


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
        return (pc, 0, prev_ts, feed_time, 0, 0, 0, 0, 0, 0, 0, pc, tl.open_oi,
                pc, pc, yhigh, ylow, lower, upper, pc, pc)
    sl, j = tl.locate(i)
    h = _mix(tl.salt, i)
    price, vol = sl.prices[j], sl.cum_vol[j]
    spread = TICK_PAISE * (1 + (h & 3) // 3)  # mostly one tick, sometimes two
    lot = FUTURE_LOT if inst.kind == "future" else 1
    if (h >> 2) & 1:  # buyer-initiated: traded at the ask
        bid, ask = price - spread, price
    else:
        bid, ask = price, price + spread
    depth = vol // 40 + 1000 * lot
    return (price, vol, int(sl.times[j]), feed_time, lot * (1 + (h >> 8) % 400), lot * (1 + (h >> 20) % 400),
            bid if bid > 0 else 0, ask, sl.qtys[j], depth + lot * ((h >> 32) % 5000),
            depth + lot * ((h >> 44) % 5000), round(sl.cum_value[j] / vol), sl.oi[j],
            sl.lows[j], sl.highs[j], yhigh, ylow, lower, upper, tl.open_price, pc)


def index_values(tl: Timeline, i: int, feed_time: int) -> tuple[int, ...]:
    """The 6 index fields: ltp, prev_close_price, exch_feed_time, high_price, low_price, open_price."""
    pc = tl.instrument.prev_close
    if i < 0:
        return (pc, pc, feed_time, pc, pc, pc)
    sl, j = tl.locate(i)
    return (sl.prices[j], pc, feed_time, sl.highs[j], sl.lows[j], tl.open_price)


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
    d = 10**tl.instrument.precision
    daily = str(resolution).upper() in ("D", "1D")
    out: list[list[float | int]] = []
    cur: list[float | int] | None = None
    day_start = epoch(tl.session.day, dt.time(0, 0))
    minutes = 0 if daily else int(resolution)
    size = minutes * 60
    base = tl.session.open_ts
    horizon = math.inf if until is None else until
    for sl in tl.slices(until):
        for t, p, q in zip(sl.times, sl.prices, sl.qtys, strict=True):
            if t > horizon:
                break
            b = day_start if daily else base + (int(t) - base) // size * size
            if cur is None or cur[0] != b:
                cur = [b, p, p, p, p, q]
                out.append(cur)
            else:
                if p > cur[2]:
                    cur[2] = p
                if p < cur[3]:
                    cur[3] = p
                cur[4] = p
                cur[5] += q
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    return [[c[0], c[1] / d, c[2] / d, c[3] / d, c[4] / d, c[5]] for c in out if lo <= c[0] <= hi]


def bar_vwaps(tl: Timeline, seconds: int = 300) -> dict[int, float]:
    """The true VWAP (Σ price × qty / Σ qty over every trade) of each ``seconds`` bar that traded,
    keyed by the bar's start (aligned to the session open, as :func:`candles`). Ground truth for
    the bars' VWAP estimate, which sees only the quotes the socket publishes."""
    value: dict[int, int] = {}
    qty: dict[int, int] = {}
    base = tl.session.open_ts
    for t, p, q in zip(tl.times, tl.prices, tl.qtys, strict=True):
        if q:
            b = base + (int(t) - base) // seconds * seconds
            value[b] = value.get(b, 0) + p * q
            qty[b] = qty.get(b, 0) + q
    d = 10**tl.instrument.precision
    return {b: value[b] / qty[b] / d for b in value}


def snapshot_ticks(tl: Timeline, interval: float | None = 1.0) -> list[dict]:
    """The quotes a snapshot-mode socket shows of ``tl`` (fyers/sim/hsm.py's cadence, without a
    socket), as tick records: every ``interval`` exchange seconds from the open the quote after the
    last trade, when something traded since, then the closing quote; every trade when ``interval``
    is None (every-trade mode). For measuring what bars built from the quotes lose against
    :func:`bar_vwaps` and :func:`candles`."""
    d = 10**tl.instrument.precision
    out: list[dict] = []
    if interval is None:
        for k, t in enumerate(tl.times):
            v = scrip_values(tl, k, int(t))
            out.append(make(tl.instrument.symbol, int(t), v[0] / d, ltt=v[2], ltq=v[8], vol=v[1], atp=v[11] / d,
                            dl=v[13] / d, dh=v[14] / d, src="sim"))
        return out
    last, end = -1, len(tl.times) - 1
    close = tl.session.close_ts
    t = float(tl.session.open_ts)
    while t < close or last != end:
        k = tl.index_at(t) if t < close else end
        if k != last and k >= 0:
            v = scrip_values(tl, k, int(min(t, close)))
            out.append(make(tl.instrument.symbol, int(min(t, close)), v[0] / d, ltt=v[2], ltq=v[8], vol=v[1],
                            atp=v[11] / d, dl=v[13] / d, dh=v[14] / d, src="sim"))
            last = k
        t += interval
    return out


class Market:
    """The simulated universe for one day: a lazy timeline per symbol (see the module docstring)."""

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
        """Every symbol's timeline and its first slice, so that the first publishing pass is not delayed."""
        for symbol in self.instruments:
            self.timeline(symbol).index_at(self.session.open_ts)
