"""market/reconcile.py: bars against candles, pure (hypothesis property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from market.reconcile import CAUSES, compare_symbol, summarize

OPEN = 1_763_609_700  # a 09:15 IST bucket start (a multiple of 300)
SYM = "NSE:SBIN-EQ"

prices = st.integers(10_000, 20_000).map(lambda p: p / 20)  # on the 0.05 tick


@st.composite
def candle_days(draw):
    n = draw(st.integers(2, 30))
    out = {}
    for i in range(n):
        o, c, a, b = (draw(prices) for _ in range(4))
        out[OPEN + 300 * i] = {"o": o, "h": max(o, c, a, b), "l": min(o, c, a, b), "c": c,
                               "vol": draw(st.integers(1, 10_000))}
    return out


@given(candle_days())
def test_bars_equal_to_candles_all_match(candles):
    diffs = compare_symbol(SYM, {s: dict(c) for s, c in candles.items()}, candles)
    assert {d.status for d in diffs} == {"match"} and summarize("d", diffs).mismatch_rate == 0


@given(candle_days(), st.data())
def test_volume_moved_to_the_next_bucket_is_a_shift_in_both(candles, data):
    i = data.draw(st.integers(0, len(candles) - 2))
    start = OPEN + 300 * i
    moved = data.draw(st.integers(1, candles[start]["vol"]))
    bars = {s: dict(c) for s, c in candles.items()}
    bars[start]["vol"] -= moved
    bars[start + 300]["vol"] += moved
    diffs = {d.start: d for d in compare_symbol(SYM, bars, candles)}
    assert (diffs[start].cause, diffs[start + 300].cause) == ("volume_shifted", "volume_shifted")
    assert (diffs[start].d_vol, diffs[start + 300].d_vol) == (-moved, moved)
    assert sum(d.status == "differs" for d in diffs.values()) == 2
    s = summarize("d", list(diffs.values()))
    assert s.volume_bars == s.volume_candles


@given(candle_days(), st.data())
def test_a_missing_bar_is_in_a_gap_only_when_a_gap_record_covers_it(candles, data):
    i = data.draw(st.integers(0, len(candles) - 1))
    start = OPEN + 300 * i
    bars = {s: dict(c) for s, c in candles.items() if s != start}
    covered = data.draw(st.booleans())
    gaps = [(start + 10, start + 20)] if covered else [(start + 300, start + 600)]
    diff = next(d for d in compare_symbol(SYM, bars, candles, gaps) if d.start == start)
    assert diff.status == "missing_bar" and diff.cause == ("missing_in_gap" if covered else "missing_bar")


@given(candle_days(), candle_days(), st.lists(st.tuples(st.integers(0, 40), st.integers(1, 40)), max_size=3))
def test_any_day_gets_a_known_cause_for_every_difference(bars_src, candles, gap_spans):
    bars = {s + 300 * 3: b for s, b in bars_src.items()}  # overlapping, shifted: anything can differ
    gaps = [(OPEN + 300 * a, OPEN + 300 * (a + n)) for a, n in gap_spans]
    diffs = compare_symbol(SYM, bars, candles, gaps)
    assert {d.start for d in diffs} == set(bars) | set(candles)
    for d in diffs:
        assert (d.cause in CAUSES) == (d.status != "match")
    s = summarize("d", diffs)
    assert 0 <= s.mismatch_rate <= 1 and s.matched + s.differing == s.compared


@given(candle_days(), st.data())
def test_a_bar_cut_by_a_gap_record_is_blamed_on_the_gap_not_on_a_missed_trade(candles, data):
    """A gap record that starts or ends inside a bucket leaves a partial bar there (and the first bar
    after a gap carries the gap's volume): even with every trade seen, it differs from the candle."""
    i = data.draw(st.integers(0, len(candles) - 1))
    start = OPEN + 300 * i
    bars = {s: dict(c) for s, c in candles.items()}
    bars[start]["c"] = round(bars[start]["c"] + 0.05, 2)
    bars[start]["h"] = max(bars[start]["h"], bars[start]["c"])
    bars[start]["vol"] += data.draw(st.integers(0, 1000))
    offset = data.draw(st.integers(0, 299))
    gap = data.draw(st.sampled_from([(start + offset, start + 900),  # starts inside the bucket
                                     (start - 900, start + offset)]))  # ends inside it (or at its start)
    diff = next(d for d in compare_symbol(SYM, bars, candles, [gap]) if d.start == start)
    assert (diff.status, diff.cause) == ("differs", "partial_in_gap")
    far = next(d for d in compare_symbol(SYM, bars, candles, [(start + 600, start + 900)]) if d.start == start)
    assert far.cause in ("missed_trade_at_edge", "missed_trade")
