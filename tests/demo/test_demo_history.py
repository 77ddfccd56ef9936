"""The demo's history side (local/demo_history.py): the reconciliation at the end, and a producer
outage (`--outage`) whose gap bars_5m_final fills from the exchange's candles."""

from __future__ import annotations

import datetime as dt

import pytest

from local.demo import DemoOptions, run_demo
from local.demo_history import Outage
from local.errors import OutageError
from market.session import normal_session

DAY = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def outage_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("outage")
    return run_demo(DemoOptions(symbols=3, day=DAY, speed=2500, shards=1, progress=False, out_dir=out,
                                outage=Outage.parse("11:00-11:40"), every_trade=True))


def test_an_outage_leaves_a_recorded_gap_that_the_final_bars_fill(outage_demo):
    assert outage_demo.ok, outage_demo.checks
    assert outage_demo.checks["the outage 11:00-11:40 left bars missing inside its gap record"]
    assert outage_demo.checks["bars_5m_final has all 75 bars of every symbol (the gap filled from candles)"]
    assert all(n < 75 for n in outage_demo.bars_per_symbol.values())  # the live bars do miss the outage
    assert "missing_in_gap=" in outage_demo.figures["reconcile: causes"]
    # every trade is published: the bars the gap cut short are the gap's doing, not missed trades
    assert "missed_trade" not in outage_demo.figures["reconcile: causes"]
    assert outage_demo.checks["reconcile: every other bar equals its candle"]
    assert "3 symbols complete" in outage_demo.figures["bars_5m_final"]


def test_the_reconciliation_lands_in_the_copied_lake(outage_demo):
    from pathlib import Path

    lake = Path(outage_demo.lake) / "curated"
    assert list((lake / "reconcile_daily").glob("dt=2026-11-20/*.parquet"))
    assert list((lake / "candles_5m").glob("dt=2026-11-20/*.parquet"))


@pytest.mark.parametrize(("text", "message"), [("11:00", "HH:MM-HH:MM"), ("11:20-11:00", "not after"),
                                               ("25:00-26:00", "not a time"), ("09:00-09:30", "inside the session")])
def test_a_bad_outage_is_refused(text, message):
    with pytest.raises(OutageError, match=message):
        Outage.parse(text).check(normal_session(DAY))
