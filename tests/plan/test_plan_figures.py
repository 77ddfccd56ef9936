"""The planner plans from the figures `make bench` measures: bench/figures.py writes them, plan reads them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import bench.figures as bench_figures
from tickpipe.cli import main
from tickpipe.plan import figures as figures_file
from tickpipe.plan.errors import FiguresError, UnknownRegionError
from tickpipe.plan.figures import Figures, load, save
from tickpipe.plan.model import SAMPLE_QUERIES
from tickpipe.plan.prices import PRICES, PRICES_AS_OF, REGIONS, prices_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def measured() -> Figures:
    """A small slice measured by the bench's own code: 30 symbols, 09:15 to 09:20:30 (a bar closes)."""
    return bench_figures.measure(30, 330)


def test_the_committed_figures_are_the_bench_slice(measured):
    committed = load()
    assert committed.measured["by"] == "bench/figures.py"
    assert (committed.measured["symbols"], committed.measured["seconds"]) == (bench_figures.SYMBOLS,
                                                                              bench_figures.SECONDS)
    assert set(dataclasses.asdict(committed)) == set(dataclasses.asdict(measured))


def test_bench_measures_every_figure_from_the_pipeline(measured):
    m = measured.measured
    assert m["ticks"] > 1000 and m["records"] > 0
    # a tick line is JSON of ~23 fields; aggregation adds a few bytes of protobuf framing per tick
    assert 150 < measured.tick_bytes < measured.kinesis_bytes_per_tick < measured.tick_bytes + 40
    assert measured.record_bytes <= 25 * 1024
    assert measured.ticks_per_record == pytest.approx(measured.record_bytes / measured.kinesis_bytes_per_tick)
    assert measured.parquet_bytes_per_tick < measured.raw_gzip_bytes_per_tick < measured.tick_bytes
    assert sum(measured.parquet_column_bytes_per_tick.values()) <= measured.parquet_bytes_per_tick
    for name in ("producer_cpu_s_per_mticks", "bars_cpu_s_per_mticks", "compact_cpu_s_per_mticks",
                 "producer_peak_rss_mb", "bars_state_bytes_per_symbol", "bar_bytes"):
        assert getattr(measured, name) > 0, name


def test_plan_reads_the_figures_file_bench_writes(measured, tmp_path, capsys):
    path = tmp_path / "figures.json"
    save(measured, path)
    assert load(path) == measured
    assert main(["plan", "--symbols", "30", "--figures", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{measured.producer_cpu_s_per_mticks:,.1f} CPU-s per M ticks" in out
    assert f"{measured.measured['ticks']:,} ticks of 30 simulated symbols" in out


def test_bench_writes_the_file_the_planner_reads_by_default():
    assert bench_figures.figures_file.FIGURES_FILE == figures_file.FIGURES_FILE
    assert figures_file.FIGURES_FILE == ROOT / "tickpipe" / "plan" / "figures.json"


def test_a_figures_file_without_a_figure_says_to_run_the_bench(tmp_path):
    path = tmp_path / "f.json"
    path.write_text('{"tick_bytes": 300}')
    with pytest.raises(FiguresError, match="make bench"):
        load(path)
    with pytest.raises(FiguresError, match="does not exist"):
        load(tmp_path / "missing.json")
    path.write_text("[1, 2")
    with pytest.raises(FiguresError, match="not JSON"):
        load(path)
    path.write_text("[1, 2]")
    with pytest.raises(FiguresError, match="not the figures object"):
        load(path)



@pytest.mark.parametrize(("name", "value"), [("ticks_per_record", 0), ("ticks_per_record", "x"), ("tick_bytes", -290),
                                             ("record_bytes", None), ("producer_symbols", 0), ("producer_symbols", 2.5),
                                             ("bars_cpu_s_per_mticks", True),
                                             ("parquet_column_bytes_per_tick", {"ltp": -1})])
def test_a_figure_that_is_not_a_positive_number_says_to_run_the_bench(tmp_path, name, value):
    import orjson

    data = orjson.loads(figures_file.FIGURES_FILE.read_bytes())
    data[name] = value
    path = tmp_path / "f.json"
    path.write_bytes(orjson.dumps(data))
    with pytest.raises(FiguresError, match=f"{name} is .* not a positive number"):
        load(path)


def test_a_figures_path_that_is_a_directory_is_one_error(tmp_path):
    with pytest.raises(FiguresError, match="cannot read the figures file"):
        load(tmp_path)

def test_every_price_has_every_region_and_its_page():
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", PRICES_AS_OF)
    for item, by_region in PRICES.items():
        assert set(by_region) == set(REGIONS), item
        for price in by_region.values():
            assert price.usd > 0 and price.page.startswith("https://aws.amazon.com/"), item


def test_a_region_without_prices_is_refused_with_the_known_ones():
    with pytest.raises(UnknownRegionError, match="ap-south-1"):
        prices_for("mars-north-1")


@pytest.mark.parametrize("query", sorted(SAMPLE_QUERIES))
def test_sample_query_columns_are_those_the_sql_reads(query):
    """Athena scans the columns a query names: the planner's list matches the SQL."""
    table, columns, days = SAMPLE_QUERIES[query]
    sql = (ROOT / "sql" / "queries" / f"{query}.sql").read_text()
    assert re.search(rf"\bFROM {table}\b", sql)
    for column in columns:
        assert re.search(rf"\b{column}\b", sql), f"{query} does not read {column}"
    assert (days > 1) == ("date_add('day', -7" in sql)


def test_the_figures_name_real_curated_columns():
    from consumers.lake.schema import TICKS

    names = {f.name for f in TICKS.read_schema}
    assert set(load().parquet_column_bytes_per_tick) <= names
    for _, (table, columns, _) in SAMPLE_QUERIES.items():
        if table == "ticks":
            assert set(columns) <= names
