"""tickpipe plan's arithmetic, checked by hand on small round numbers."""

from __future__ import annotations

import math

import pytest

from tickpipe.plan.errors import PlanError
from tickpipe.plan.figures import Figures
from tickpipe.plan.model import (
    ASSUMPTIONS,
    BARS_BATCHING_WINDOW_S,
    BARS_POLL_S,
    FIREHOSE_RECORD_ROUND,
    GB,
    HOURS_PER_MONTH,
    SESSION_S,
    Universe,
    fargate_size,
    plan,
    producers_needed,
    records_per_s,
    round_up,
    shards_needed,
)
from tickpipe.plan.prices import PRICES, Price

DAYS = ASSUMPTIONS["trading_days_per_month"][0]


def figures(**over) -> Figures:
    base = dict(tick_bytes=300.0, kinesis_bytes_per_tick=1000.0, partition_key_bytes=14.0, ticks_per_record=25.0,
                record_bytes=25_000.0, producer_cpu_s_per_mticks=100.0, producer_peak_rss_mb=100.0,
                producer_symbols=5000, bars_cpu_s_per_mticks=10.0, bars_state_bytes_per_symbol=400.0,
                bar_bytes=200.0, compact_cpu_s_per_mticks=20.0, raw_gzip_bytes_per_tick=40.0,
                parquet_bytes_per_tick=20.0,
                parquet_column_bytes_per_tick={c: 1.0 for c in ("sym", "ltp", "ts", "pc", "vol", "atp")})
    return Figures(**{**base, **over})


def unit_prices(usd: float = 1.0) -> dict[str, Price]:
    return {item: Price(usd, "unit", "https://example.invalid", True) for item in PRICES}


def only(item: str, usd: float = 1.0) -> dict[str, Price]:
    """Every price zero except ``item``: one cost line at a time."""
    return {k: Price(usd if k == item else 0.0, "unit", "https://example.invalid", True) for k in PRICES}


def test_a_shard_takes_what_fits_in_80_percent_of_a_mebibyte_a_second():
    # 1,000 ticks/s of 1,000 bytes = 1,000,000 B/s > 0.8 MiB/s = 838,861 B/s: two shards (500,000 B/s each)
    assert shards_needed(1000, figures(), 0.8) == 2
    assert shards_needed(838, figures(), 0.8) == 1


def test_records_limit_sizes_the_stream_when_records_are_small():
    # 10-byte ticks, one per record: 1,000 records/s per shard at most, 800 at 80 %
    tiny = figures(kinesis_bytes_per_tick=10.0, ticks_per_record=1.0)
    assert shards_needed(2400, tiny, 0.8) == 3
    assert shards_needed(2401, tiny, 0.8) == 4


def test_a_quiet_shard_still_gets_a_record_every_buffer_interval():
    assert records_per_s(5, figures()) == 5  # fewer ticks than flushes: one record per tick
    assert records_per_s(50, figures()) == 10  # flushes every 100 ms: 10 part-filled records
    assert records_per_s(1000, figures()) == 40  # full records of 25 ticks


def test_firehose_rounds_each_record_up_to_5_kb():
    assert round_up(300, FIREHOSE_RECORD_ROUND) == 5120
    assert round_up(5121, FIREHOSE_RECORD_ROUND) == 10240
    p = plan(Universe(1), figures(), only("firehose_gb_ingested"), "test", firehose_billing="deaggregated")
    ticks, bars = SESSION_S, 75  # one symbol, one update a second; 75 bars of 200 B
    assert p.firehose_gb_per_day == pytest.approx((ticks + bars) * 5120 / GB)
    firehose = next(x for x in p.lines["PROVISIONED"] if x.component.startswith("Firehose"))
    assert firehose.per_day == pytest.approx(p.firehose_gb_per_day)
    assert firehose.per_month == pytest.approx(DAYS * p.firehose_gb_per_day)


def test_firehose_billed_on_the_streams_records_rounds_each_aggregate():
    # 1,000 ticks/s on 2 shards: full records of 25 ticks × 1,000 B = 25,000 B → 25,600 B billed each
    p = plan(Universe(1000), figures(), only("firehose_gb_ingested"), "test")
    records = 1000 / 25 * SESSION_S
    assert p.firehose_gb_per_day == pytest.approx((records * 25_600 + 1000 * 75 * 5120) / GB)
    assert p.firehose_gb_per_day_other == pytest.approx((1000 * SESSION_S + 1000 * 75) * 5120 / GB)
    with pytest.raises(PlanError, match="Firehose billing"):
        plan(Universe(1), figures(), unit_prices(), "test", firehose_billing="maybe")


def test_provisioned_stream_costs_shard_hours_all_month_and_put_units_on_trading_days():
    p = plan(Universe(1), figures(), only("kinesis_shard_hour"), "test")
    line = p.lines["PROVISIONED"][0]
    assert (p.shards, line.per_day, line.per_month) == (1, 24.0, HOURS_PER_MONTH)
    p = plan(Universe(1), figures(), only("kinesis_put_units_million"), "test")
    # 1 tick/s → one record per tick (below the 10 flushes a second), each one PUT unit
    assert p.lines["PROVISIONED"][0].per_day == pytest.approx(SESSION_S / 1e6)


def test_on_demand_stream_pays_per_gb_in_and_per_gb_read_by_each_consumer():
    p = plan(Universe(1), figures(), only("kinesis_on_demand_gb_out"), "test")
    assert p.lines["ON_DEMAND"][0].per_day == pytest.approx(2 * SESSION_S * 1000 / GB)
    p = plan(Universe(1), figures(), only("kinesis_on_demand_gb_in"), "test")
    # one 1,000-byte record per tick, already a whole KB
    assert p.lines["ON_DEMAND"][0].per_day == pytest.approx(SESSION_S * 1024 / GB)


def test_one_producer_per_5000_symbols():
    assert plan(Universe(5000), figures(), unit_prices(), "test").producers == 1
    assert plan(Universe(5001), figures(), unit_prices(), "test").producers == 2


def test_hash_slices_leave_room_for_their_uneven_sizes():
    # two slices of 9,500: 4,750 ± 34.5 each, 4 σ fit under 5,000; of 9,800 they would not (4,900 + 140)
    assert producers_needed(9500) == 2
    assert producers_needed(9800) == 3


def test_producer_size_has_cpu_and_memory_headroom():
    # 0.1 vCPU at half load needs 0.25 vCPU; 100 MiB × 2 fits the 0.5 GB minimum
    assert fargate_size(0.1, 100) == (256, 512)
    assert fargate_size(0.2, 100) == (512, 1024)
    assert fargate_size(0.2, 1500) == (512, 3072)
    with pytest.raises(PlanError, match="more producer slices"):
        fargate_size(3.0, 100)


def test_producer_cpu_comes_from_the_measured_cpu_per_million_ticks():
    # 5,000 ticks/s × 100 CPU-s per M ticks = 0.5 vCPU → 1 vCPU at 50 % headroom
    p = plan(Universe(5000), figures(), unit_prices(), "test")
    assert (p.producer_cpu, p.producer_memory_mb) == (1024, 2048)


def test_bars_state_per_shard_is_symbols_per_shard_times_state_per_symbol():
    p = plan(Universe(5000), figures(), unit_prices(), "test")
    assert p.bars_state_bytes_per_shard == pytest.approx(5000 / p.shards * 400)


def test_lambda_gb_seconds_from_cpu_seconds_and_memory():
    f = figures(bars_cpu_s_per_mticks=0.0)
    p = plan(Universe(100), f, unit_prices(), "test")
    overhead = ASSUMPTIONS["lambda_overhead_s"][0]
    # Terraform's batching window (0 s: bars on time) or, with none, Lambda's poll of each shard
    invocations = p.shards * SESSION_S / max(BARS_BATCHING_WINDOW_S, BARS_POLL_S)
    compact = 100 * SESSION_S / 1e6 * 20.0 / 1.0  # 3,008 MB is more than one vCPU; one thread
    assert p.lambda_gb_s_per_day == pytest.approx(invocations * overhead * 0.5 + compact * 3008 / 1024)


def test_totals_are_the_sums_of_the_lines():
    p = plan(Universe(2000), figures(), unit_prices(0.01), "test")
    for mode, lines in p.lines.items():
        assert p.total(mode) == (pytest.approx(sum(x.per_day for x in lines)),
                                 pytest.approx(sum(x.per_month for x in lines)))


def test_the_cheaper_mode_is_recommended_unless_one_is_asked_for():
    p = plan(Universe(50), figures(), only("kinesis_on_demand_stream_hour"), "test")
    assert p.stream_mode == "PROVISIONED"
    assert plan(Universe(50), figures(), unit_prices(), "test", "ON_DEMAND").stream_mode == "ON_DEMAND"
    with pytest.raises(PlanError):
        plan(Universe(50), figures(), unit_prices(), "test", "SOMETIMES")


def test_the_naive_design_needs_a_record_per_tick():
    p = plan(Universe(5000), figures(), unit_prices(), "test")
    naive_shards = math.ceil(5000 / 1000 / 0.8)
    assert p.naive.startswith(f"naive design (one PutRecord per tick): {naive_shards:,} shard(s)")


@pytest.mark.parametrize("kwargs", [dict(symbols=0), dict(symbols=1, updates_per_s=0),
                                    dict(symbols=1, updates_per_s=-1), dict(symbols=1, peak_factor=0.5)])
def test_a_universe_out_of_range_is_refused(kwargs):
    with pytest.raises(PlanError):
        Universe(**kwargs)


def test_more_than_500_shards_is_an_error():
    with pytest.raises(PlanError, match="more than 500 shards"):
        shards_needed(10_000_000, figures(), 0.8)
