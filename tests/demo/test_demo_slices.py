"""The demo at scale: several producer slices, a bounded slice of the session, figures per component.

A short run here (a few dozen symbols, 09:15-09:25); the 5,000-symbol run is `make scale`
(docs/cost.md), too long for the test budget.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fyers.sim.instruments import instrument
from fyers.symbols import is_index
from local.demo import DemoOptions, run_demo
from local.demo_scale import cut_session, demo_symbols, producer_slices
from local.errors import ScaleError
from market.session import NseCalendar

DAY = dt.date(2026, 11, 20)  # a Friday session in the XBOM calendar


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-slices")
    return run_demo(DemoOptions(symbols=40, day=DAY, speed=300, shards=3, producers=2, until=dt.time(9, 25),
                                progress=False, out_dir=out))


def test_two_producer_slices_run_the_bounded_session_with_every_check(demo):
    assert demo.ok, demo.checks
    assert demo.figures["session"].startswith(f"{DAY} 09:15–09:25")
    assert set(demo.bars_per_symbol.values()) == {2}
    assert demo.figures["ticks in curated/ticks"] == demo.figures["ticks sent by the producer"] > 1000


def test_the_summary_has_figures_per_component(demo):
    c = demo.components
    producers = c["producers (2)"]
    assert producers["ticks"] == demo.figures["ticks sent by the producer"]
    assert producers["Kinesis records"] == demo.figures["Kinesis records (KPL aggregated)"]
    assert producers["Kinesis records"] <= producers["PUT units"] <= 2 * producers["Kinesis records"]
    assert c["bars handler"]["ticks"] == producers["ticks"]
    assert 0 < c["bars handler"]["peak state bytes per shard"] < 1_000_000
    assert c["compaction"]["Parquet bytes per tick"] > 0
    for name in ("simulator (Fyers)", "producers (2)", "bars handler", "compaction"):
        assert c[name]["CPU s per M ticks"] > 0, name
    assert c["demo process"]["peak RSS MiB"] > 0
    assert any(name.startswith("moto server") for name in c)


def test_5000_symbols_fit_one_connection_and_5001_need_two():
    symbols = demo_symbols(5001, DAY)
    assert producer_slices(symbols[:5000], 1) == [symbols[:5000]]
    with pytest.raises(ScaleError, match="--producers 2"):
        producer_slices(symbols, 1)


def test_two_slices_split_5000_symbols_between_two_connections():
    symbols = demo_symbols(5000, DAY)
    one, two = producer_slices(symbols, 2)
    assert sorted(one + two) == sorted(symbols) and not set(one) & set(two)
    assert 2000 < len(one) < 3000


def test_too_many_producers_for_the_symbols_is_refused():
    with pytest.raises(ScaleError, match="no symbols"):
        producer_slices(demo_symbols(3, DAY), 50)


def test_the_generated_universe_is_distinct_simulated_equities_and_futures():
    symbols = demo_symbols(5000, DAY)
    assert len(set(symbols)) == len({instrument(s).topic for s in symbols}) == 5000
    assert not any(is_index(s) for s in symbols)
    assert {instrument(s).kind for s in symbols} == {"equity", "future"}
    assert demo_symbols(5, DAY) == demo_symbols(5000, DAY)[:5]


@pytest.mark.parametrize("until", [dt.time(9, 16), dt.time(15, 35), dt.time(8, 0)])
def test_a_slice_must_end_inside_the_session(until):
    session = NseCalendar().session(DAY)
    with pytest.raises(ScaleError, match="--to"):
        cut_session(session, until)


def test_a_slice_is_a_session_from_the_open():
    session = cut_session(NseCalendar().session(DAY), dt.time(9, 45))
    assert len(session.bucket_starts()) == 6
