"""An independent reference for 5-minute bars, written differently from market/bars.py on purpose:
whole-stream grouping and sorting instead of an incremental fold. Used by the bars tests only.

It computes the final bars (what the curated table should hold) of a tick stream in arrival order.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

from market.session import epoch
from market.tick import make

DAY = dt.date(2026, 11, 26)  # a Thursday, a normal NSE session
OPEN = epoch(DAY, dt.time(9, 15))
CLOSE = epoch(DAY, dt.time(15, 30))


def event_time(t: dict[str, Any]) -> int:
    return t["ltt"] if t.get("ltt") is not None else t["ts"]


def bucket_of(t: dict[str, Any]) -> int:
    et = event_time(t)
    d = dt.datetime.fromtimestamp(et, dt.timezone(dt.timedelta(hours=5, minutes=30))).date()
    open_ts = epoch(d, dt.time(9, 15))
    if t["sym"].split(":")[0] in ("NSE", "BSE") and open_ts - 900 <= et < open_ts:
        return open_ts
    return et // 300 * 300


class Near(float):
    """A VWAP that equals any number within 1e-9 relative: the reference sums turnover per bucket,
    the builder per day (then subtracts), so the last bits may differ."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (int, float)) and abs(other - self) <= 1e-9 * max(abs(other), abs(self))

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = float.__hash__


def reference_bars(ticks: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """{(sym, start): bar without rev} for a stream (first occurrence of each state key counts).

    VWAP: the turnover traded between consecutive ticks (in arrival order, which for a stream in
    time order is the order of the cumulative volume) at the later tick's price, kept within
    what the rounded atp allows, then within [low, high]."""
    seen: set[tuple] = set()
    unique: list[tuple[int, dict[str, Any]]] = []
    for pos, t in enumerate(ticks):
        key = (t["sym"], t.get("ltt"), t.get("vol"), t["ltp"])
        if key not in seen:
            seen.add(key)
            unique.append((pos, t))
    # each tick's share of the turnover: the volume since the symbol's previous largest, at its price
    traded: dict[int, float] = {}
    top: dict[tuple[str, int], int] = {}
    for pos, t in unique:
        if t.get("vol") is None:
            continue
        k = (t["sym"], (bucket_of(t) + 19800) // 86400)
        if t["vol"] > top.get(k, 0):
            traded[pos] = (t["vol"] - top.get(k, 0)) * t["ltp"]
            top[k] = t["vol"]
    # the day high/low moves, in arrival order per symbol
    extra_hi: dict[int, float] = {}
    extra_lo: dict[int, float] = {}
    best_hi: dict[str, float] = {}
    best_lo: dict[str, float] = {}
    for pos, t in unique:
        s = t["sym"]
        if t.get("dh") is not None and (s not in best_hi or t["dh"] > best_hi[s]):
            best_hi[s] = t["dh"]
            extra_hi[pos] = t["dh"]
        if t.get("dl") is not None and (s not in best_lo or t["dl"] < best_lo[s]):
            best_lo[s] = t["dl"]
            extra_lo[pos] = t["dl"]
    groups: dict[tuple[str, int], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for pos, t in unique:
        groups[(t["sym"], bucket_of(t))].append((pos, t))
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for (sym, start), items in sorted(groups.items()):
        order = sorted(items, key=lambda pt: (event_time(pt[1]), -1 if pt[1].get("vol") is None else pt[1]["vol"],
                                              pt[0]))
        prices = [t["ltp"] for _, t in items]
        prices += [extra_hi[p] for p, _ in items if p in extra_hi]
        prices += [extra_lo[p] for p, _ in items if p in extra_lo]
        vols = [t["vol"] for _, t in items if t.get("vol") is not None]
        ois = [t["oi"] for _, t in order if t.get("oi") is not None]
        bar = {"sym": sym, "start": start, "o": order[0][1]["ltp"], "h": max(prices), "l": min(prices),
               "c": order[-1][1]["ltp"], "n": len(items), "first_ts": min(t["ts"] for _, t in items),
               "last_ts": max(t["ts"] for _, t in items), "oi": ois[-1] if ois else None}
        if vols:
            top = max((t for _, t in items if t.get("vol") is not None), key=lambda t: t["vol"])
            bar["vol_cum"] = top["vol"]
            bar["_turn"] = top["vol"] * top["atp"]
            bar["_ticks"] = sum(traded.get(p, 0.0) for p, _ in items)
        else:
            bar["vol_cum"] = None
        out[(sym, start)] = bar
    # volume and VWAP: against the previous bucket of the same symbol and day
    prev: dict[tuple[str, int], tuple[int, float]] = {}
    for (sym, start), bar in sorted(out.items()):
        day = (start + 19800) // 86400
        pv, pt = prev.get((sym, day), (0, 0.0))
        if bar["vol_cum"] is None:
            bar["vol"], bar["vwap"] = 0, None
        else:
            vol = bar["vol_cum"] - pv
            bar["vol"] = vol
            bar["vwap"] = None
            if vol > 0:
                tol = 0.005 * (bar["vol_cum"] + pv)
                turnover = min(max(bar["_ticks"], bar["_turn"] - pt - tol), bar["_turn"] - pt + tol)
                bar["vwap"] = Near(min(max(turnover / vol, bar["l"]), bar["h"]))
            prev[(sym, day)] = (bar["vol_cum"], bar["_turn"])
        bar.pop("_turn", None)
        bar.pop("_ticks", None)
    return out


def without_vwap(bars: dict[tuple[str, int], dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Bars without their VWAP: for streams out of order, where the estimate follows arrival order."""
    return {k: {f: v for f, v in b.items() if f != "vwap"} for k, b in bars.items()}


def vwaps_in_range(bars: dict[tuple[str, int], dict[str, Any]]) -> bool:
    return all(b["l"] <= b["vwap"] <= b["h"] for b in bars.values() if b["vol"] > 0)


def strip(bars: dict[tuple[str, int], dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Bar records without the fields the reference does not model (rev, v)."""
    return {k: {f: v for f, v in b.items() if f not in ("rev", "v")} for k, b in bars.items()}


def synthetic_day(seed: int, symbols: int = 3, trades: int = 300, start: int = OPEN, span: int = 3600,
                  with_index: bool = True, quote_dups: bool = True) -> list[dict[str, Any]]:
    """A plausible stream: per symbol, trades at increasing times with growing cumulative volume,
    atp as the running VWAP, day high/low, quote-only snapshots (same state) now and then;
    interleaved by time as a socket would deliver them."""
    rng = random.Random(seed)
    out: list[tuple[int, int, dict[str, Any]]] = []
    for k in range(symbols):
        sym = f"NSE:SYM{k}-EQ"
        price = 100.0 + 50 * k
        vol, value, hi, lo = 0, 0.0, None, None
        times = sorted(rng.randrange(start, start + span) for _ in range(trades))
        for i, ts in enumerate(times):
            price = round(max(1.0, price + rng.choice((-0.1, -0.05, 0.0, 0.05, 0.1))), 2)
            qty = rng.randint(1, 500)
            vol += qty
            value += qty * price
            hidden = round(price + rng.choice((0.0, 0.0, 0.0, 0.15)), 2)  # a trade between snapshots
            hi = hidden if hi is None else max(hi, hidden)
            lo = price if lo is None else min(lo, price)
            t = make(sym, ts, price, ltt=ts, ltq=qty, vol=vol, atp=round(value / vol, 2), dh=hi, dl=lo,
                     oi=1000 + i if k == 0 else None, src="sim", pid="p", seq=0)
            out.append((ts, len(out), t))
            if quote_dups and rng.random() < 0.1:  # a quote-only update: the same trade state a little later
                out.append((ts + rng.randint(0, 2), len(out), {**t, "ts": ts + 1, "bid": price}))
    if with_index:
        value = 24000.0
        for ts in range(start, start + span, 7):
            value = round(value + rng.choice((-1.5, 0.0, 2.25)), 2)
            out.append((ts, len(out), make("NSE:NIFTY50-INDEX", ts, value, ltt=ts, src="sim", pid="p", seq=0)))
    out.sort(key=lambda x: (x[0], x[1]))
    return [t for _, _, t in out]
