"""Live 5-minute bars against the exchange's 5-minute candles: which differ, by how much, and why.

Pure: takes one symbol's bars, candles and gap intervals for a day and returns one :class:`BarDiff`
per bucket that has a bar or a candle. Causes, in the order they are tried:

- ``missing_in_gap``: a candle and no bar, and the bucket overlaps a gap record of the symbol
  (the producer knew it had no data: a disconnect, an outage, a restart). Backfill fills it.
- ``missing_bar``: a candle and no bar, with no gap record: data lost without a trace (a bug).
- ``bar_without_candle``: a bar with volume and no candle: nothing traded on the exchange then.
- ``partial_in_gap``: a bar that differs from its candle in a bucket a gap record of the symbol starts
  in, ends in or ends at: the bar holds only the ticks seen outside the gap, and the first bar after
  a gap also carries the gap's volume (bar volume is the change of cumulative volume). No trade was
  missed by the socket there; the producer knew it had no data.
- ``missed_trade_at_edge``: open or close differ. In snapshot mode the socket shows quotes, not
  every trade: the first trade of a bucket or its last can go unseen (or be seen one bucket late).
- ``missed_trade``: only high or low differ: a trade inside the bucket was never seen.
- ``volume_shifted``: only the volume differs, and the running difference (bars minus candles,
  over the day's buckets) returns to zero later: the volume was counted in a neighbouring bucket
  (bar volume is the change of cumulative volume between the last ticks seen).
- ``unexplained``: anything else.

``d_*`` are bar minus candle. Prices compare at half a paisa (both are on a 0.05 tick).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from market.session import BAR_SECONDS

PRICE_TOLERANCE: Final = 0.005
MATCH: Final = "match"
DIFFERS: Final = "differs"
MISSING_BAR: Final = "missing_bar"
NO_CANDLE: Final = "no_candle"
CAUSES: Final = ("missing_in_gap", "missing_bar", "bar_without_candle", "partial_in_gap", "missed_trade_at_edge",
                 "missed_trade", "volume_shifted", "unexplained")


@dataclass(frozen=True)
class BarDiff:
    sym: str
    start: int
    status: str  # match, differs, missing_bar (candle only), no_candle (bar only)
    cause: str  # "" when status is match, else one of CAUSES
    fields: str  # the fields that differ, comma separated ("o,c,vol")
    bar_vol: int | None
    candle_vol: int | None
    d_o: float | None
    d_h: float | None
    d_l: float | None
    d_c: float | None
    d_vol: int | None

    def row(self) -> dict[str, Any]:
        return asdict(self)


def _covered(start: int, gaps: Sequence[tuple[int, int]]) -> bool:
    end = start + BAR_SECONDS
    return any(a < end and b > start for a, b in gaps)


def _cut(start: int, gaps: Sequence[tuple[int, int]]) -> bool:
    """A gap record overlaps the bucket or ends at its start (its first bar after the gap)."""
    end = start + BAR_SECONDS
    return any(a < end and b >= start for a, b in gaps)


def compare_symbol(sym: str, bars: Mapping[int, Mapping[str, Any]], candles: Mapping[int, Mapping[str, Any]],
                   gaps: Iterable[tuple[int, int]] = ()) -> list[BarDiff]:
    """Bars ``{start: {o,h,l,c,vol}}`` against candles ``{start: {o,h,l,c,vol}}`` of one symbol's day."""
    gaps = list(gaps)
    starts = sorted(set(bars) | set(candles))
    # Running difference of volume after each bucket; a shift is balanced once it returns to zero.
    running, after = 0, {}
    for s in starts:
        running += int(bars[s]["vol"] if s in bars else 0) - int(candles[s]["vol"] if s in candles else 0)
        after[s] = running
    zero_from = {}  # for each bucket: does the running difference reach zero at it or later?
    reaches = False
    for s in reversed(starts):
        reaches = reaches or after[s] == 0
        zero_from[s] = reaches
    out = []
    for s in starts:
        bar, candle = bars.get(s), candles.get(s)
        if candle is None:
            assert bar is not None
            vol = int(bar["vol"])
            out.append(BarDiff(sym, s, NO_CANDLE, "bar_without_candle" if vol > 0 else "", "vol" if vol else "",
                               vol, None, None, None, None, None, vol))
            continue
        if bar is None:
            cause = "missing_in_gap" if _covered(s, gaps) else "missing_bar"
            out.append(BarDiff(sym, s, MISSING_BAR, cause, "o,h,l,c,vol", None, int(candle["vol"]),
                               None, None, None, None, -int(candle["vol"])))
            continue
        d = {f: float(bar[f]) - float(candle[f]) for f in ("o", "h", "l", "c")}
        d_vol = int(bar["vol"]) - int(candle["vol"])
        differ = [f for f in ("o", "h", "l", "c") if abs(d[f]) > PRICE_TOLERANCE] + (["vol"] if d_vol else [])
        if not differ:
            cause, status = "", MATCH
        elif _cut(s, gaps):
            cause, status = "partial_in_gap", DIFFERS
        elif "o" in differ or "c" in differ:
            cause, status = "missed_trade_at_edge", DIFFERS
        elif "h" in differ or "l" in differ:
            cause, status = "missed_trade", DIFFERS
        elif zero_from[s]:
            cause, status = "volume_shifted", DIFFERS
        else:
            cause, status = "unexplained", DIFFERS
        out.append(BarDiff(sym, s, status, cause, ",".join(differ), int(bar["vol"]), int(candle["vol"]),
                           round(d["o"], 6), round(d["h"], 6), round(d["l"], 6), round(d["c"], 6), d_vol))
    return out


@dataclass(frozen=True)
class DaySummary:
    day: str  # the IST trading date (also the dt partition)
    symbols: int
    candles: int
    bars: int
    compared: int  # buckets with both a bar and a candle
    matched: int
    differing: int
    missing_bars: int  # a candle and no bar, outside any gap record
    gap_bars: int  # a candle and no bar, inside a gap record (to be filled from the candles)
    bars_without_candle: int
    mismatch_rate: float  # differing / compared
    volume_bars: int  # the day's volume from bars
    volume_candles: int  # ... and from candles
    causes: str  # "cause=count,..." over every diff

    def row(self) -> dict[str, Any]:
        return asdict(self)


def summarize(day: str, diffs: Sequence[BarDiff]) -> DaySummary:
    compared = [d for d in diffs if d.status in (MATCH, DIFFERS)]
    differing = sum(d.status == DIFFERS for d in diffs)
    counts: dict[str, int] = {}
    for d in diffs:
        if d.cause:
            counts[d.cause] = counts.get(d.cause, 0) + 1
    return DaySummary(
        day=day,
        symbols=len({d.sym for d in diffs}),
        candles=sum(d.candle_vol is not None for d in diffs),
        bars=sum(d.bar_vol is not None for d in diffs),
        compared=len(compared),
        matched=sum(d.status == MATCH for d in diffs),
        differing=differing,
        missing_bars=sum(d.cause == "missing_bar" for d in diffs),
        gap_bars=sum(d.cause == "missing_in_gap" for d in diffs),
        bars_without_candle=sum(d.cause == "bar_without_candle" for d in diffs),
        mismatch_rate=round(differing / len(compared), 6) if compared else 0.0,
        volume_bars=sum(d.bar_vol or 0 for d in diffs),
        volume_candles=sum(d.candle_vol or 0 for d in diffs),
        causes=",".join(f"{c}={counts[c]}" for c in CAUSES if c in counts),
    )
