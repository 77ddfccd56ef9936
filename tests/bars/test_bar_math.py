"""market.bars: the bar math against an independent reference, and each rule on its own."""

from __future__ import annotations

import random

import orjson
import pytest
from bars_reference import OPEN, bucket_of, reference_bars, strip, synthetic_day, vwaps_in_range, without_vwap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.bars import BAR_FIELDS, BarBuilder, BarConfig, build_bars, curated
from market.errors import TickError
from market.tick import make

SYM = "NSE:SBIN-EQ"


def tick(ts: int, ltp: float, vol: int | None, *, sym: str = SYM, ltt: int | None = None, **kw):
    atp = kw.pop("atp", ltp if vol is not None else None)
    return make(sym, ts, ltp, ltt=ts if ltt is None else ltt, vol=vol, atp=atp, **kw)


def final(ticks, config=None):
    return strip(curated(build_bars(ticks, config)))


# ----- against the reference ----------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), symbols=st.integers(1, 3), trades=st.integers(1, 200))
def test_bars_equal_reference_for_random_streams(seed, symbols, trades):
    ticks = synthetic_day(seed, symbols=symbols, trades=trades, span=1800)
    assert final(ticks) == reference_bars(ticks)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), moves=st.integers(1, 30))
def test_late_ticks_within_the_amend_horizon_give_the_reference_bars(seed, moves):
    # no quote-only repeats here: a repeat moved far from its original is beyond the dedup ring
    ticks = synthetic_day(seed, symbols=2, trades=150, span=1800, with_index=False, quote_dups=False)
    rng = random.Random(seed)
    for _ in range(moves):  # deliver a tick up to 40 positions later than the socket would
        i = rng.randrange(len(ticks))
        j = min(len(ticks) - 1, i + rng.randint(1, 40))
        ticks.insert(j, ticks.pop(i))
    got, want = final(ticks), reference_bars(ticks)
    # the VWAP estimate follows arrival order (docs/bars.md): out of order it differs, within bounds
    assert without_vwap(got) == without_vwap(want)
    assert vwaps_in_range(got)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), dups=st.integers(1, 50))
def test_duplicates_change_nothing(seed, dups):
    ticks = synthetic_day(seed, symbols=2, trades=150, span=1800)
    rng = random.Random(seed)
    noisy = list(ticks)
    for _ in range(dups):  # a reconnect snapshot or a re-sent record: a recent tick again
        i = rng.randrange(len(noisy))
        noisy.insert(i + 1, dict(noisy[i], ts=noisy[i]["ts"] + rng.randint(0, 1), rx=1))
    assert build_bars(noisy) == build_bars(ticks)  # the same bars, revs and order


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 10**6), max_size=6))
def test_state_carried_through_json_gives_the_same_bars(seed, cuts):
    ticks = synthetic_day(seed, symbols=3, trades=120, span=2400)
    whole = build_bars(ticks)
    points = sorted({c % (len(ticks) + 1) for c in cuts})
    out, state, last = [], None, 0
    for p in [*points, len(ticks)]:
        b = BarBuilder() if state is None else BarBuilder.from_state(orjson.loads(orjson.dumps(state)))
        b.add_many(ticks[last:p])
        if p == len(ticks):
            b.close_all()
        out += b.take()
        state, last = b.to_state(), p
    assert out == whole


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(0, 10**6))
def test_symbols_split_between_two_children_carry_on_as_in_one_builder(seed, cut):
    # resharding: each child inherits the parent's symbols that hash to it, and goes on with them
    ticks = synthetic_day(seed, symbols=3, trades=120, span=2400)
    p = cut % (len(ticks) + 1)
    parent = BarBuilder()
    parent.add_many(ticks[:p])
    out = parent.take()
    syms = sorted({t["sym"] for t in ticks})
    halves = (set(syms[:1]), set(syms[1:]))
    for half in halves:
        child = BarBuilder()
        assert child.inherit(BarBuilder.from_state(parent.to_state()), half.__contains__) == len(half & set(parent.syms))
        assert child.wm == parent.wm and child.close_due == parent.close_due
        child.add_many(t for t in ticks[p:] if t["sym"] in half)
        child.close_all()
        out += child.take()
    assert strip(curated(out)) == final(ticks)


# ----- one rule each ------------------------------------------------------------------------------

def test_bar_record_has_the_design_fields_in_order():
    (bar,) = build_bars([tick(OPEN, 100.0, 10)])
    assert tuple(bar) == BAR_FIELDS
    assert bar["rev"] == 0 and bar["v"] == 1


def test_volume_is_the_change_of_cumulative_volume_not_a_sum_of_ltq():
    ticks = [tick(OPEN + 1, 100.0, 5000, ltq=1), tick(OPEN + 299, 101.0, 5600, ltq=1),
             tick(OPEN + 301, 102.0, 5650, ltq=1), tick(OPEN + 500, 103.0, 6000, ltq=1)]
    first, second = build_bars(ticks)
    assert first["vol"] == 5600  # the day's first bucket: minus 0 (pre-open auction volume included)
    assert second["vol"] == 400 and second["vol_cum"] == 6000


def test_vwap_is_the_change_of_turnover_over_the_change_of_volume():
    ticks = [tick(OPEN, 100.0, 100, atp=100.0), tick(OPEN + 300, 110.0, 200, atp=105.0),
             tick(OPEN + 310, 90.0, 300, atp=100.0)]
    _, second = build_bars(ticks)
    assert second["vwap"] == round((300 * 100.0 - 100 * 100.0) / 200, 4)


def test_preopen_ticks_belong_to_the_first_bucket():
    ticks = [tick(OPEN - 420, 99.0, 800), tick(OPEN + 5, 100.0, 900)]
    (bar,) = build_bars(ticks)
    assert bar["start"] == OPEN and bar["o"] == 99.0 and bar["vol"] == 900 and bar["n"] == 2


def test_day_high_rise_raises_the_bar_high():
    ticks = [tick(OPEN, 100.0, 10, dh=100.0, dl=100.0), tick(OPEN + 320, 100.5, 20, dh=100.5, dl=100.0),
             tick(OPEN + 330, 100.2, 30, dh=101.25, dl=99.5)]
    _, second = build_bars(ticks)
    assert second["h"] == 101.25 and second["l"] == 99.5


def test_unchanged_day_high_does_not_touch_a_later_bar():
    ticks = [tick(OPEN, 100.0, 10, dh=105.0), tick(OPEN + 320, 100.5, 20, dh=105.0)]
    _, second = build_bars(ticks)
    assert second["h"] == 100.5


def test_bar_is_emitted_only_when_the_watermark_passes_end_plus_grace():
    b = BarBuilder(BarConfig(grace_s=2))
    b.add(tick(OPEN + 10, 100.0, 10))
    b.add(tick(OPEN + 301, 100.0, 11))  # 1 s past the bucket end: within grace
    assert b.take() == []
    b.add(tick(OPEN + 302, 100.0, 12))
    assert [bar["start"] for bar in b.take()] == [OPEN]


def test_repeated_trade_state_does_not_move_the_watermark():
    b = BarBuilder()
    t = tick(OPEN + 10, 100.0, 10)
    b.add(t)
    b.add(dict(t, ts=OPEN + 303, bid=99.9))  # same trade state, later feed time: a duplicate
    assert b.take() == [] and b.duplicates == 1
    b.add(tick(OPEN + 303, 100.5, 11))
    (bar,) = b.take()
    assert bar["n"] == 1


def test_idle_symbol_does_not_hold_other_symbols_back():
    b = BarBuilder()
    b.add(tick(OPEN + 1, 50.0, 1, sym="NSE:IDLE-EQ"))
    b.add(tick(OPEN + 2, 100.0, 10))
    b.add(tick(OPEN + 400, 101.0, 20))
    assert [(bar["sym"], bar["start"]) for bar in b.take()] == [(SYM, OPEN)]


def test_session_close_emits_the_last_bucket_of_idle_symbols():
    close = OPEN + 75 * 300
    b = BarBuilder()
    b.add(tick(close - 100, 50.0, 1, sym="NSE:IDLE-EQ"))
    b.add(tick(close - 10, 100.0, 10))
    assert b.take() == []
    b.add(tick(close + 2, 100.0, 10, ltt=close - 10, bid=1.0))  # a post-close quote of the same state
    assert sorted(bar["sym"] for bar in b.take()) == ["NSE:IDLE-EQ", SYM]


def test_late_tick_amends_the_bar_with_the_next_rev():
    b = BarBuilder()
    b.add(tick(OPEN + 10, 100.0, 10))
    b.add(tick(OPEN + 20, 100.0, 30))
    b.add(tick(OPEN + 310, 100.0, 40))
    (first,) = b.take()
    b.add(tick(OPEN + 320, 120.0, 20, ltt=OPEN + 15))  # traded at +15, arrived after the close
    (amended,) = b.take()
    assert (first["rev"], amended["rev"]) == (0, 1)
    assert amended["start"] == OPEN and amended["h"] == 120.0 and amended["n"] == first["n"] + 1
    assert b.late == 1


def test_late_tick_raising_cumulative_volume_amends_the_next_bar_too():
    b = BarBuilder()
    for t in (tick(OPEN + 10, 100.0, 10), tick(OPEN + 310, 100.0, 50), tick(OPEN + 610, 100.0, 60)):
        b.add(t)
    b.take()
    b.add(tick(OPEN + 611, 101.0, 30, ltt=OPEN + 299))
    amended = {bar["start"]: bar for bar in b.take()}
    assert amended[OPEN]["vol"] == 30 and amended[OPEN]["rev"] == 1
    assert amended[OPEN + 300]["vol"] == 20 and amended[OPEN + 300]["rev"] == 1


def test_tick_older_than_the_amend_horizon_is_handed_back_not_lost():
    b = BarBuilder(BarConfig(amend_bars=1))
    for i in range(4):
        b.add(tick(OPEN + 300 * i + 5, 100.0, 10 * (i + 1)))
    b.take()
    old = tick(OPEN + 1000, 99.0, 5, ltt=OPEN + 1)
    b.add(old)
    (too_late,) = b.take_too_late()
    assert too_late[0] == old and "older than" in too_late[1]
    assert b.take() == []


def test_bad_tick_raises_tickerror_and_changes_nothing():
    b = BarBuilder()
    b.add(tick(OPEN, 100.0, 10))
    before = orjson.dumps(b.to_state())
    for bad in (dict(tick(OPEN + 1, 100.0, 11), vol="11"), dict(tick(OPEN + 1, 100.0, 11), ts=None),
                {"sym": "nocolon", "ts": OPEN, "ltp": 1.0}, [1, 2]):
        with pytest.raises(TickError):
            b.add(bad)
    assert orjson.dumps(b.to_state()) == before


def test_index_bars_have_no_volume():
    (bar,) = build_bars([tick(OPEN, 24000.0, None, sym="NSE:NIFTY50-INDEX"),
                         tick(OPEN + 1, 24001.5, None, sym="NSE:NIFTY50-INDEX")])
    assert (bar["vol"], bar["vwap"], bar["vol_cum"], bar["n"], bar["c"]) == (0, None, None, 2, 24001.5)


def test_new_day_starts_cumulative_volume_from_zero():
    nxt = OPEN + 86_400
    first, second = build_bars([tick(OPEN, 100.0, 5000), tick(nxt, 100.0, 70)])
    assert second["start"] == nxt and second["vol"] == 70


def test_curated_keeps_the_highest_rev():
    a = {"sym": SYM, "start": OPEN, "rev": 0, "n": 3}
    b = {"sym": SYM, "start": OPEN, "rev": 2, "n": 5}
    assert curated([b, a])[(SYM, OPEN)] is b


def test_reference_helper_buckets_preopen_like_the_exchange():
    assert bucket_of(tick(OPEN - 60, 1.0, 1)) == OPEN


def test_a_larger_amend_horizon_takes_a_tick_hours_late():
    ticks = synthetic_day(5, symbols=1, trades=400, span=4 * 3600, with_index=False, quote_dups=False)
    late = ticks.pop(20)
    stream = [*ticks, dict(late, ts=ticks[-1]["ts"])]  # delivered at the end, hours after its bar closed
    config = BarConfig(amend_bars=80)
    b = BarBuilder(config)
    b.add_many(stream)
    b.close_all()
    assert b.take_too_late() == []
    assert final(stream, config) == reference_bars(stream)
    assert final(stream, BarConfig(amend_bars=2)) != reference_bars(stream)  # the default keeps 10 minutes


# ----- the fast path (BarBuilder.add_fields) against the general path ----------------------------

class GeneralPathOnly(BarBuilder):
    """A builder whose every tick takes the general path: forgetting the session day's bucket range
    after each look-up keeps add_fields off its fast path (which needs it), changing nothing else."""

    def _bucket(self, sym, et, b):
        got = super()._bucket(sym, et, b)
        self._lo = self._hi = 0
        return got


def test_fast_path_positions_are_the_named_ones():
    # add_fields' fast path writes these positions as numbers
    import market.bars as mb

    assert (mb.S_DAY, mb.S_LV, mb.S_LT, mb.S_DH, mb.S_DL, mb.S_WM, mb.S_DUE, mb.S_RING, mb.S_BARS) == tuple(range(9))
    assert (mb.B_START, mb.B_O, mb.B_H, mb.B_L, mb.B_C, mb.B_VCUM, mb.B_TCUM, mb.B_N, mb.B_FTS, mb.B_LTS, mb.B_OI,
            mb.B_CV, mb.B_CT, mb.B_OT, mb.B_OV, mb.B_EMIT, mb.OPEN) == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 16, 14,
                                                                         15, 18, 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), moves=st.integers(0, 30), dups=st.integers(0, 30), days=st.integers(1, 2))
def test_fast_path_gives_what_the_general_path_gives(seed, moves, dups, days):
    ticks = []
    for d in range(days):  # a second day: new-day resets, yesterday's bars closed
        ticks += synthetic_day(seed + d, symbols=3, trades=150, start=OPEN + d * 86_400, span=1800)
    rng = random.Random(seed)
    for _ in range(moves):  # late and out-of-order ticks
        i = rng.randrange(len(ticks))
        ticks.insert(min(len(ticks) - 1, i + rng.randint(1, 200)), ticks.pop(i))
    for _ in range(dups):  # reconnect snapshots
        i = rng.randrange(len(ticks))
        ticks.insert(i + 1, dict(ticks[i], rx=1))
    config = BarConfig(amend_bars=1)  # some ticks too late as well
    fast, general = BarBuilder(config), GeneralPathOnly(config)
    out_fast, out_general = [], []
    for i, t in enumerate(ticks):
        fast.add(t)
        general.add(t)
        if i % 97 == 0:  # batches, as the handler takes them
            out_fast += fast.take()
            out_general += general.take()
            assert fast.take_too_late() == general.take_too_late()
    assert out_fast == out_general
    assert fast.take() == general.take() and fast.too_late == general.too_late
    assert fast.to_state() == general.to_state()
    assert ((fast.ticks, fast.duplicates, fast.late, fast.amended, fast.emitted)
            == (general.ticks, general.duplicates, general.late, general.amended, general.emitted))
    fast.close_all()
    general.close_all()
    assert fast.take() == general.take()
