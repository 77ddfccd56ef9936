"""The bar VWAP estimator (market.bars.bar_vwap): exact when every trade is a tick, never outside
the bar's [low, high], and within the atp rounding of the truth for quote snapshots.

The rule (docs/bars.md "VWAP"): T_B = Σ Δvol × ltp over the bucket's ticks, clamped into
T_A ± 0.005 × (vol_end + vol_start) where T_A = atp_end × vol_end − atp_start × vol_start;
VWAP = T / Δvol, then within [low, high].
"""

from __future__ import annotations

import datetime as dt
import random

from bars_reference import OPEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fyers.sim.instruments import instrument
from fyers.sim.market import bar_vwaps, generate, snapshot_ticks
from market.bars import BarBuilder, build_bars
from market.tick import make

SYM = "NSE:SBIN-EQ"


def trades_strategy(max_size: int = 120):
    """(seconds after the open, price in paise on a 0.05 tick, quantity) of each trade, in time order."""
    return st.lists(st.tuples(st.integers(0, 30), st.integers(1000, 400_000).map(lambda p: p - p % 5),
                              st.integers(1, 100_000)), min_size=1, max_size=max_size)


def ticks_of(trades, keep=lambda i: True, preopen: int = 0):
    """Ticks as the socket shows them: one per kept trade, with the cumulative volume, the day's
    atp rounded to the paisa, and the day high/low; returns (ticks, true vwap per bucket, true
    turnover in rupees at each cumulative volume)."""
    t, vol, value, hi, lo = OPEN, 0, 0, None, None
    ticks, truth_v, truth_q, turnover = [], {}, {}, {0: 0.0}
    for i, (gap, paise, qty) in enumerate(trades):
        t += gap
        qty += preopen if i == 0 else 0
        vol += qty
        value += paise * qty
        turnover[vol] = value / 100
        hi = paise if hi is None else max(hi, paise)
        lo = paise if lo is None else min(lo, paise)
        b = t - t % 300
        truth_v[b] = truth_v.get(b, 0) + paise * qty
        truth_q[b] = truth_q.get(b, 0) + qty
        if keep(i) or i == len(trades) - 1:  # the closing quote shows the last trade
            ticks.append(make(SYM, t, paise / 100, ltt=t, ltq=qty, vol=vol, atp=round(value / vol) / 100,
                              dh=hi / 100, dl=lo / 100))
    return ticks, {b: truth_v[b] / truth_q[b] / 100 for b in truth_v}, turnover


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades=trades_strategy(), preopen=st.integers(0, 1_000_000))
def test_every_trade_a_tick_gives_the_exact_vwap(trades, preopen):
    ticks, truth, _ = ticks_of(trades, preopen=preopen)
    for bar in build_bars(ticks):
        assert abs(bar["vwap"] - truth[bar["start"]]) <= 1e-9 * truth[bar["start"]], bar


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades=trades_strategy(), seed=st.integers(0, 10**6), moves=st.integers(0, 20))
def test_vwap_never_leaves_the_bar_range(trades, seed, moves):
    rng = random.Random(seed)
    ticks, _, _ = ticks_of(trades, keep=lambda i: rng.random() < 0.3)
    for _ in range(moves):  # late and out-of-order delivery
        i = rng.randrange(len(ticks))
        ticks.insert(min(len(ticks) - 1, i + rng.randint(1, 10)), ticks.pop(i))
    b = BarBuilder()
    b.add_many(ticks)
    b.close_all()
    for bar in b.take():
        if bar["vol"] > 0:
            assert bar["l"] <= bar["vwap"] <= bar["h"], bar


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades=trades_strategy(), seed=st.integers(0, 10**6))
def test_snapshot_vwap_is_within_the_atp_rounding_of_the_truth(trades, seed):
    # The truth: the trades the bar's volume covers (those between its first and last tick's cumulative
    # volume). Their turnover lies in T_A ± tol; so does the estimate after the clamp: the error is at
    # most 2 tol / Δvol. Then both go into [low, high], which brings no two numbers farther apart.
    rng = random.Random(seed)
    ticks, _, turnover = ticks_of(trades, keep=lambda i: rng.random() < 0.3)
    for bar in build_bars(ticks):
        start_vol = bar["vol_cum"] - bar["vol"]
        bound = 2 * 0.005 * (bar["vol_cum"] + start_vol) / bar["vol"]
        truth = (turnover[bar["vol_cum"]] - turnover[start_vol]) / bar["vol"]
        true = min(max(truth, bar["l"]), bar["h"])
        assert abs(bar["vwap"] - true) <= bound + 1e-9 * true, bar


def test_a_bucket_without_atp_takes_the_tick_turnover():
    ticks = [make(SYM, OPEN, 100.0, ltt=OPEN, vol=10), make(SYM, OPEN + 5, 102.0, ltt=OPEN + 5, vol=30)]
    (bar,) = build_bars(ticks)
    assert bar["vwap"] == (10 * 100.0 + 20 * 102.0) / 30


def test_the_atp_interval_overrides_a_tick_turnover_it_rules_out():
    # one snapshot after many unseen trades: the ticks say 101.00, the exchange's atp says ~100.00
    ticks = [make(SYM, OPEN, 100.0, ltt=OPEN, vol=1000, atp=100.0, dh=101.0, dl=99.0),
             make(SYM, OPEN + 9, 101.0, ltt=OPEN + 9, vol=2000, atp=100.0, dh=101.0, dl=99.0)]
    (bar,) = build_bars(ticks)
    assert bar["vwap"] == (100.0 * 2000 + 0.005 * 2000) / 2000  # the top of what the atp allows


def test_snapshot_mode_error_against_the_simulators_true_vwap_is_at_most_1bp_at_p99():
    day = dt.date(2026, 11, 26)
    errors = []
    for symbol in ("NSE:SBIN-EQ", "NSE:TCS-EQ", "NSE:RELIANCE-EQ", "NSE:INFY-EQ", "NSE:HDFCBANK-EQ"):
        truth = bar_vwaps(generate(instrument(symbol), day, 7))
        for bar in build_bars(snapshot_ticks(generate(instrument(symbol), day, 7))):
            assert bar["l"] <= bar["vwap"] <= bar["h"]
            errors.append(abs(bar["vwap"] / truth[bar["start"]] - 1) * 1e4)
    errors.sort()
    assert len(errors) == 5 * 75
    assert errors[int(0.99 * len(errors))] <= 1.0, errors[-10:]


def test_a_version_1_checkpoint_is_read_with_atp_turnover_standing_in():
    # a checkpoint written before the tick turnover existed: bars of 19 fields, symbols of 9
    trades = [(0, 10_000, 50), (100, 10_050, 30), (250, 10_100, 20), (100, 10_000, 40)]
    ticks, _, _ = ticks_of(trades)
    b = BarBuilder()
    b.add_many(ticks[:3])
    (first,) = b.take()
    state = b.to_state()
    v1 = {**state, "v": 1, "syms": {sym: [*s[:8], [bar[:19] for bar in s[8]]] for sym, s in state["syms"].items()}}
    old = BarBuilder.from_state(v1)
    assert old.syms[SYM][-1] is None  # the producer of a symbol is not known yet
    old.add_many(ticks[3:])
    old.close_all()
    (second,) = old.take()
    assert (second["start"], second["vol"]) == (first["start"] + 300, 60)
    assert second["l"] <= second["vwap"] <= second["h"]


def test_every_trade_of_the_simulator_gives_its_true_vwap():
    day = dt.date(2026, 11, 26)
    tl = generate(instrument("NSE:SBIN-EQ"), day, 7)
    truth = bar_vwaps(tl)
    bars = build_bars(snapshot_ticks(tl, None))
    assert len(bars) == 75
    assert all(abs(bar["vwap"] - truth[bar["start"]]) <= 1e-9 * truth[bar["start"]] for bar in bars)
