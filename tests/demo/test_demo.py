"""The demo is the end-to-end test: a whole simulated session through every component.

A shorter run than `make demo` (fewer symbols, faster clock), with the same checks: every tick the
producer sent is in the stream, raw/ticks and curated/ticks; every symbol has every bar of the
session; in every-trade mode the bars equal the exchange's candles.
"""

import datetime as dt
import json
from unittest import mock

import pytest

from consumers.bars.handler import BarsConsumer
from local.demo import DemoOptions, choose_day, run_demo
from local.errors import DemoError
from market.session import BARS_PER_NORMAL_SESSION, NseCalendar

DAY = dt.date(2026, 11, 20)  # a Friday session in the XBOM calendar


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    # as in AWS, nobody calls flush: the producer's watermarks close every bar, the last one too
    with mock.patch.object(BarsConsumer, "flush", side_effect=AssertionError("the demo called flush")):
        return run_demo(DemoOptions(symbols=5, day=DAY, speed=2500, shards=2, progress=False, out_dir=out,
                                    every_trade=True))


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """The default demo: the whole universe (equities, NIFTY 50, NIFTY BANK, the NIFTY future) in
    quote snapshots, as Fyers sends them."""
    out = tmp_path_factory.mktemp("market")
    return run_demo(DemoOptions(day=DAY, speed=400, shards=2, progress=False, out_dir=out))


def test_the_default_is_the_real_market_and_every_check_passes(market):
    assert market.figures["mode"].startswith("quote snapshots") and market.figures["symbols"] == 23
    assert {"NSE:NIFTY50-INDEX", "NSE:NIFTYBANK-INDEX"} <= set(market.bars_per_symbol)
    assert market.ok, market.checks
    f = market.figures
    assert f["ticks in curated/ticks"] == f["ticks landed in raw/ticks"] == f["ticks sent by the producer"]
    assert "bars equal the exchange's candles" not in market.checks  # reported by field instead
    assert f["bars that differ from their candle, by field"]


def test_every_tick_sent_lands_in_stream_raw_and_curated(demo):
    f = demo.figures
    sent = f["ticks sent by the producer"]
    assert sent > 1000
    assert f["ticks received by the bars handler"] == sent
    assert f["ticks landed in raw/ticks"] == sent
    assert f["ticks in curated/ticks"] == sent


def test_every_symbol_has_every_bar_of_the_session(demo):
    assert demo.bars_per_symbol and set(demo.bars_per_symbol.values()) == {BARS_PER_NORMAL_SESSION}


def test_bars_equal_the_exchange_candles_in_every_trade_mode(demo):
    assert demo.checks["bars equal the exchange's candles"], demo.figures["bars equal to the exchange candles"]


def test_all_checks_pass_and_the_report_is_written(demo):
    assert demo.ok, demo.checks
    html = demo.report.read_text()
    assert "<svg" in html and "NSE:" in html


def test_freshness_of_every_bar_is_reported_split_into_grace_and_pipeline(demo):
    f = demo.freshness
    assert f["bars"] == 5 * BARS_PER_NORMAL_SESSION
    for q in ("p50", "p99", "max"):
        assert f[q]["wall_ms"] == pytest.approx(f[q]["grace_wall_ms"] + f[q]["pipeline_wall_ms"], abs=0.2)
        assert f[q]["exchange_s"] >= f["grace_s"]  # a bar is final at end + grace, never before
    assert f["p50"]["exchange_s"] <= f["p99"]["exchange_s"] <= f["max"]["exchange_s"]
    summary = json.loads((demo.report.parent / "summary.json").read_text())
    assert summary["freshness"] == f


def test_vwap_is_exact_in_every_trade_mode(demo):
    summary = json.loads((demo.report.parent / "summary.json").read_text())
    assert summary["vwap_error_bp"]["max_bp"] <= 1e-5 and summary["vwap_error_bp"]["outside"] == 0


def test_sample_query_returns_daily_ohlcv(demo):
    columns, rows = demo.sample_query
    assert columns and len(rows) == len(demo.bars_per_symbol)


def test_a_holiday_is_refused_with_a_clear_error(tmp_path):
    with pytest.raises(DemoError, match="not an NSE trading day"):
        run_demo(DemoOptions(day=dt.date(2026, 11, 24), out_dir=tmp_path, progress=False))


def test_a_session_that_is_not_over_is_refused_and_the_default_is_one_that_is(tmp_path):
    cal = NseCalendar()
    ahead = cal.last_session_on_or_before(dt.date.today() + dt.timedelta(days=10))  # ticks from the future
    with pytest.raises(DemoError, match="not over yet"):
        choose_day(ahead.day)
    assert choose_day(None).close_ts <= dt.datetime.now(dt.UTC).timestamp()


def test_the_curated_lake_outlives_the_moto_server_on_disk(demo):
    import pyarrow.dataset as ds

    bars = ds.dataset(f"{demo.lake}/curated/bars_5m", format="parquet", partitioning="hive").to_table()
    assert bars.num_rows == sum(demo.bars_per_symbol.values())



def test_tickpipe_query_reads_the_lake_the_demo_leaves_on_disk(demo, capsys):
    # README: after `make demo`, `tickpipe query daily_ohlcv --lake tickpipe-out/lake`
    from pathlib import Path

    from tickpipe import cli

    assert cli.main(["query", "daily_ohlcv", "--lake", demo.lake, "--param", f"day={DAY}", "--csv"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == len(demo.bars_per_symbol)
    assert {r.split(",")[0] for r in rows} == set(demo.bars_per_symbol)
    assert cli.main(["query", "gaps", "--lake", str(Path(demo.lake) / "nothing-here")]) == 2


def test_the_summary_shows_the_query_that_reads_the_lake_it_leaves(demo):
    import io

    from local.demo import print_summary

    out = io.StringIO()
    print_summary(demo, out)
    assert f"tickpipe query daily_ohlcv --lake {demo.lake} --param day={DAY}" in out.getvalue()

def test_the_reconciliation_finds_every_live_bar_equal_to_its_candle(demo):
    assert demo.checks["reconcile: every live bar equals its exchange candle"], demo.figures
    assert demo.figures["reconcile: causes"] == "none"


def test_snapshot_bars_that_differ_from_candles_are_not_a_warning(tmp_path, caplog):
    # In snapshot mode bars differ from candles by design (counted in the summary); a WARNING with
    # raw bar dumps in the middle of a passing `make demo` reads as a fault.
    with caplog.at_level("DEBUG", logger="local.demo"):
        result = run_demo(DemoOptions(symbols=2, day=DAY, speed=2500, shards=1, progress=False, out_dir=tmp_path,
                                      until=dt.time(9, 45)))
    examples = [r for r in caplog.records if r.name == "local.demo" and "differ from the candles" in r.getMessage()]
    assert result.figures["bars that differ from their candle, by field"]  # there were differences to report
    assert examples and all(r.levelname == "DEBUG" for r in examples)
