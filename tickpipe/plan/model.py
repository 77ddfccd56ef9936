"""What to deploy for a universe, and what it costs: pure arithmetic over measured figures and prices.

Inputs: the universe (symbols, updates per symbol per second), the measured figures
(tickpipe/plan/figures.py, written by ``make bench``) and the price table (tickpipe/plan/prices.py).
Service limits and billing rules are constants below, each with its source. Where a figure is an
assumption rather than a measurement or a documented rule, it is in ASSUMPTIONS and printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from fyers.socket import MAX_SYMBOLS
from market.session import BAR_SECONDS
from producer.aggregator import PUT_UNIT_BYTES
from producer.metrics import COUNTERS, DISTRIBUTIONS, GAUGES
from tickpipe.plan.errors import PlanError
from tickpipe.plan.figures import Figures
from tickpipe.plan.prices import Price

KB: Final = 1024
MiB: Final = 1024 * 1024
GB: Final = 1024**3  # AWS bills data in GB of 2^30 bytes
# Kinesis Data Streams quotas (docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html).
SHARD_BYTES_PER_S: Final = 1 * MiB
SHARD_RECORDS_PER_S: Final = 1000
MAX_SHARDS: Final = 500  # infra/variables.tf stream_shard_count validation (the default account quota)
ON_DEMAND_RECORD_ROUND: Final = 1 * KB  # on-demand bills each record rounded up to 1 KB (KDS pricing page)
CONSUMERS: Final = 2  # the bars Lambda and Firehose "raw" each read the whole stream
# Firehose bills ingestion in 5 KB increments per record (Firehose pricing page: "a 3KB record is
# billed as 5KB"); the rounding is per record, not per API call (Firehose FAQ, quoted in
# awslabs/aws-fluent-plugin-kinesis#193). Which record, with a Kinesis stream of KPL aggregates as the
# source? AWS's own plugin maintainers recommend KPL aggregation into a stream in front of Firehose
# precisely to avoid the 5 KB rounding of small records, and call Firehose's de-aggregation free
# (awslabs/aws-fluent-plugin-kinesis#193, aws/amazon-kinesis-streams-for-fluent-bit#60): the
# aggregated record read from the stream is what is metered. The pricing page does not say it in so
# many words, so the plan prints both and `--firehose-billing deaggregated` plans for the worst case.
FIREHOSE_RECORD_ROUND: Final = 5 * KB
FIREHOSE_BILLING: Final = ("aggregated", "deaggregated")
# Lambda: a function gets one vCPU's worth at 1,769 MB (Lambda docs, "Configuring memory").
LAMBDA_MB_PER_VCPU: Final = 1769
ATHENA_MIN_BYTES: Final = 10 * 1000**2  # Athena bills at least 10 MB per query
SESSION_S: Final = 22_500  # NSE normal market 09:15-15:30 IST (market/session.py)
BARS_PER_DAY: Final = SESSION_S // BAR_SECONDS  # 75
HOURS_PER_MONTH: Final = 730
# Fargate CPU units -> (min, max) memory MiB (Fargate docs, "task CPU and memory").
FARGATE_SIZES: Final[dict[int, tuple[int, int]]] = {
    256: (512, 2048), 512: (1024, 4096), 1024: (2048, 8192), 2048: (4096, 16384), 4096: (8192, 30720)}
# Metrics and alarms the stack creates (one place each: producer/metrics.py, infra/alarms.tf).
PRODUCER_METRICS: Final = len(COUNTERS) + 3 + len(GAUGES) + len(DISTRIBUTIONS)  # + Ticks/Records/BytesPerSecond
BARS_METRICS: Final = 11  # consumers/bars/handler.py: Powertools metrics of the bars handler, one service dimension
# infra/alarms.tf: iterator age, no ticks, 3 function errors, token, 2 queues, 4 Firehose;
# infra/history.tf: reconcile mismatch rate and missing bars, 2 function errors; infra/login.tf: the
# login page's errors (login_page defaults to true); infra/watermark.tf: the safety net's errors and
# the bars it closed
ALARMS_FIXED: Final = 19
ALARMS_PER_PRODUCER: Final = 3  # infra/alarms.tf: auth, journal depth, gaps, for each producer slice
SHARD_LEVEL_METRICS: Final = 3  # infra/variables.tf stream_shard_level_metrics default, billed per shard
# Defaults of the deployed stack that the costs depend on (infra/variables.tf; a test checks them).
PRODUCER_HOURS_PER_DAY: Final = 7 + 5 / 60  # producer_start_cron 08:40 to producer_stop_cron 15:45 IST
PRODUCER_MAX_BUFFER_S: Final = 0.1  # producer/options.py max_buffer_ms: a shard's record goes out at least this often
BARS_BATCHING_WINDOW_S: Final = 0  # bars_batching_window_seconds
# With no batching window Lambda invokes as records come, polling each shard about once a second
# (AWS Lambda docs, "Using Lambda with Kinesis"): at most one invocation a second per shard.
BARS_POLL_S: Final = 1
BARS_MEMORY_MB: Final = 512  # bars_memory_mb
BARS_STATE_BUDGET: Final = 600_000  # bars_state_budget_bytes (Lambda's window state limit is 1 MB)
LAMBDA_STATE_LIMIT: Final = 1_000_000
COMPACT_MEMORY_MB: Final = 3008  # compact_memory_mb
COMPACT_RUNS_PER_DAY: Final = 17  # compact_schedule: every 30 min from 09:00 to 17:30 IST, weekdays
RAW_STANDARD_DAYS: Final = 30  # raw_transition_days, then raw_storage_class GLACIER_IR; never expired

# Assumptions: neither measured here nor a documented rule. Printed with every plan.
ASSUMPTIONS: Final[dict[str, tuple[float, str]]] = {
    "trading_days_per_month": (21, "NSE has about 250 sessions a year"),
    "cpu_headroom": (0.5, "a producer task uses at most half its vCPU at the planned rate (opens, reconnect bursts)"),
    "memory_headroom": (2.0, "a producer task gets twice the measured peak RSS"),
    "shard_utilisation": (0.8, "a provisioned shard is planned to 80 % of its byte and record limits"),
    "lambda_overhead_s": (0.05, "per bars invocation beyond its CPU: S3 checkpoint, Firehose put, start"),
    "log_bytes_per_invocation": (1500, "Lambda START/END/REPORT lines plus one Powertools metrics blob"),
    "producer_log_bytes_per_hour": (200_000, "producer INFO lines (connects, metrics summaries)"),
    "container_insights_metrics_per_service": (10, "ECS Container Insights metrics per service, billed as custom"),
    "athena_runs_per_day": (10, "each sample query (sql/queries) run this often a trading day"),
    "months_of_data": (12, "S3 storage is shown after this many months of data"),
}

# The sample queries (sql/queries/*.sql): table, curated columns they read, days of data they scan.
# Athena reads only those columns of the partitions the dt filter selects. A test checks the SQL.
SAMPLE_QUERIES: Final[dict[str, tuple[str, tuple[str, ...], int]]] = {
    "daily_ohlcv": ("bars_5m", ("sym", "start", "o", "h", "l", "c", "vol", "vwap"), 1),
    "gaps": ("bars_5m", ("sym", "start"), 1),
    "symbols_without_ticks": ("ticks", ("sym",), 8),
    "top_movers": ("ticks", ("sym", "ltp", "ts", "pc", "vol"), 1),
    "vwap": ("ticks", ("sym", "atp", "ts"), 1),
}


@dataclass(frozen=True)
class Universe:
    symbols: int
    updates_per_s: float = 1.0  # average quote updates per symbol per second over the session
    peak_factor: float = 1.0  # busiest second / average (snapshot mode caps a symbol at one update a second)

    def __post_init__(self) -> None:
        if not 1 <= self.symbols <= 1_000_000:
            raise PlanError(f"symbols must be 1 to 1,000,000, got {self.symbols}")
        if not 0 < self.updates_per_s <= 100:
            raise PlanError(f"updates per second must be above 0 and at most 100, got {self.updates_per_s}")
        if not 1 <= self.peak_factor <= 100:
            raise PlanError(f"the peak factor must be 1 to 100, got {self.peak_factor}")

    @property
    def ticks_per_day(self) -> float:
        return self.symbols * self.updates_per_s * SESSION_S

    @property
    def peak_ticks_per_s(self) -> float:
        return self.symbols * self.updates_per_s * self.peak_factor


@dataclass
class Line:
    """One cost line: usage per trading day, and dollars per trading day and per month."""

    component: str
    usage: str
    per_day: float
    per_month: float


@dataclass
class Plan:
    universe: Universe
    region: str
    stream_mode: str  # the mode recommended in the tfvars: PROVISIONED or ON_DEMAND
    shards: int
    producers: int
    producer_cpu: int  # Fargate CPU units
    producer_memory_mb: int
    records_per_s_per_shard: float
    bytes_per_s_per_shard: float
    bars_state_bytes_per_shard: float
    lambda_gb_s_per_day: float
    firehose_billing: str  # "aggregated": the stream's records are metered; "deaggregated": every tick is
    firehose_gb_per_day: float  # billed GB a day, raw + bars, each record rounded up to 5 KB
    firehose_gb_per_day_other: float  # the same under the other billing reading
    s3_gb_curated_per_day: float
    s3_gb_raw_per_day: float
    athena_gb_per_day: float
    metrics: int
    alarms: int
    log_gb_per_day: float
    lines: dict[str, list[Line]] = field(default_factory=dict)  # per stream mode
    naive: str = ""

    def total(self, mode: str) -> tuple[float, float]:
        lines = self.lines[mode]
        return sum(x.per_day for x in lines), sum(x.per_month for x in lines)


def round_up(n: float, unit: int) -> float:
    """``n`` bytes rounded up to whole ``unit`` s (how AWS bills records)."""
    return math.ceil(n / unit) * unit if n > 0 else 0


def records_per_s(ticks_per_s: float, figures: Figures) -> float:
    """Aggregated records a shard receives: full records at high rates; at low rates the producer
    still sends each shard's record every PRODUCER_MAX_BUFFER_S, or one per tick if ticks are rarer."""
    full = ticks_per_s / figures.ticks_per_record
    return max(full, min(ticks_per_s, 1 / PRODUCER_MAX_BUFFER_S))


def shards_needed(peak_ticks_per_s: float, figures: Figures, utilisation: float) -> int:
    """The fewest shards that carry the peak within ``utilisation`` of both per-shard limits."""
    for n in range(1, MAX_SHARDS + 1):
        rate = peak_ticks_per_s / n
        if (rate * figures.kinesis_bytes_per_tick <= utilisation * SHARD_BYTES_PER_S
                and records_per_s(rate, figures) <= utilisation * SHARD_RECORDS_PER_S):
            return n
    raise PlanError(f"{peak_ticks_per_s:,.0f} ticks/s needs more than {MAX_SHARDS} shards; split the stream")


def producers_needed(symbols: int) -> int:
    """Producer slices so that each stays within one connection's MAX_SYMBOLS. Slices are hash
    slices (tickpipe/universe.py), so their sizes vary: allow four standard deviations."""
    k = 1
    while True:
        mean = symbols / k
        if (k == 1 and symbols <= MAX_SYMBOLS) or (k > 1 and mean + 4 * math.sqrt(mean * (1 - 1 / k)) <= MAX_SYMBOLS):
            return k
        k += 1


def fargate_size(vcpu_needed: float, rss_mb: float) -> tuple[int, int]:
    """The smallest Fargate (CPU units, memory MiB) with the CPU headroom and memory for ``rss_mb``."""
    headroom = ASSUMPTIONS["cpu_headroom"][0]
    mem_needed = rss_mb * ASSUMPTIONS["memory_headroom"][0]
    for cpu, (lo, hi) in FARGATE_SIZES.items():
        if vcpu_needed <= headroom * cpu / 1024 and mem_needed <= hi:
            return cpu, max(lo, int(round_up(mem_needed, 512)))
    raise PlanError(f"a producer needs {vcpu_needed:.2f} vCPU and {mem_needed:,.0f} MiB, more than the largest "
                    "Fargate task; use more producer slices")


def plan(universe: Universe, figures: Figures, prices: dict[str, Price], region: str,
         stream_mode: str | None = None, firehose_billing: str = "aggregated") -> Plan:
    """Everything ``tickpipe plan`` prints, for one universe."""
    a = {k: v for k, (v, _) in ASSUMPTIONS.items()}
    days = a["trading_days_per_month"]
    p = {k: v.usd for k, v in prices.items()}
    ticks = universe.ticks_per_day
    mticks = ticks / 1e6

    # --- Kinesis ------------------------------------------------------------------------------
    shards = shards_needed(universe.peak_ticks_per_s, figures, a["shard_utilisation"])
    shard_rate = universe.ticks_per_day / SESSION_S / shards
    recs_s = records_per_s(shard_rate, figures)
    records_day = recs_s * shards * SESSION_S
    record_bytes = ticks * figures.kinesis_bytes_per_tick / records_day
    units_day = records_day * math.ceil(record_bytes / PUT_UNIT_BYTES)
    kinesis_gb_day = ticks * figures.kinesis_bytes_per_tick / GB
    prov = Line("Kinesis, provisioned", f"{shards} shard(s) 24×7, {units_day / 1e6:,.2f} M PUT units/day",
                shards * 24 * p["kinesis_shard_hour"] + units_day / 1e6 * p["kinesis_put_units_million"],
                shards * HOURS_PER_MONTH * p["kinesis_shard_hour"]
                + days * units_day / 1e6 * p["kinesis_put_units_million"])
    od_in_gb = records_day * round_up(record_bytes, ON_DEMAND_RECORD_ROUND) / GB
    od_day_usage = od_in_gb * p["kinesis_on_demand_gb_in"] + CONSUMERS * kinesis_gb_day * p["kinesis_on_demand_gb_out"]
    ondemand = Line("Kinesis, on-demand", f"{od_in_gb:,.2f} GB in, {CONSUMERS} × {kinesis_gb_day:,.2f} GB out a day",
                    24 * p["kinesis_on_demand_stream_hour"] + od_day_usage,
                    HOURS_PER_MONTH * p["kinesis_on_demand_stream_hour"] + days * od_day_usage)

    # --- producers -------------------------------------------------------------------------------
    producers = producers_needed(universe.symbols)
    per_task_peak = universe.peak_ticks_per_s / producers
    vcpu_needed = per_task_peak * figures.producer_cpu_s_per_mticks / 1e6
    cpu, mem = fargate_size(vcpu_needed, figures.producer_peak_rss_mb)
    task_hour = cpu / 1024 * p["fargate_vcpu_hour"] + mem / 1024 * p["fargate_gb_hour"] + p["public_ipv4_hour"]
    fargate_day = producers * PRODUCER_HOURS_PER_DAY * task_hour
    fargate = Line("Fargate producers", f"{producers} task(s) of {cpu / 1024:g} vCPU / {mem / 1024:g} GB, "
                   f"{PRODUCER_HOURS_PER_DAY:.1f} h a trading day", fargate_day, days * fargate_day)

    # --- Lambda ---------------------------------------------------------------------------------
    invocations = shards * SESSION_S / max(BARS_BATCHING_WINDOW_S, BARS_POLL_S)
    bars_share = min(1.0, BARS_MEMORY_MB / LAMBDA_MB_PER_VCPU)
    bars_s = mticks * figures.bars_cpu_s_per_mticks / bars_share + invocations * a["lambda_overhead_s"]
    compact_share = min(1.0, COMPACT_MEMORY_MB / LAMBDA_MB_PER_VCPU)  # compaction runs on one thread
    compact_s = mticks * figures.compact_cpu_s_per_mticks / compact_share
    gb_s = bars_s * BARS_MEMORY_MB / 1024 + compact_s * COMPACT_MEMORY_MB / 1024
    requests = invocations + COMPACT_RUNS_PER_DAY
    lambda_day = gb_s * p["lambda_gb_second_arm64"] + requests / 1e6 * p["lambda_requests_million"]
    lam = Line("Lambda bars + compact", f"{gb_s:,.0f} GB-s, {requests:,.0f} invocations a day", lambda_day,
               days * lambda_day)

    # --- Firehose -------------------------------------------------------------------------------
    bars_day = universe.symbols * BARS_PER_DAY
    bars_gb = bars_day * round_up(figures.bar_bytes, FIREHOSE_RECORD_ROUND) / GB
    raw_gb = ticks * round_up(figures.tick_bytes, FIREHOSE_RECORD_ROUND) / GB
    raw_gb_aggregated = records_day * round_up(record_bytes, FIREHOSE_RECORD_ROUND) / GB
    if firehose_billing not in FIREHOSE_BILLING:
        raise PlanError(f"Firehose billing must be one of {', '.join(FIREHOSE_BILLING)}, got {firehose_billing!r}")
    billed_raw = raw_gb if firehose_billing == "deaggregated" else raw_gb_aggregated
    firehose_day = (billed_raw + bars_gb) * p["firehose_gb_ingested"]
    each = "tick" if firehose_billing == "deaggregated" else "stream record"
    firehose = Line("Firehose raw + bars", f"{billed_raw + bars_gb:,.1f} GB billed a day (each {each} and bar "
                    "rounded up to 5 KB)", firehose_day, days * firehose_day)

    # --- S3 ---------------------------------------------------------------------------------------
    curated_gb_day = ticks * figures.parquet_bytes_per_tick / GB
    raw_gb_day = ticks * figures.raw_gzip_bytes_per_tick / GB
    months = a["months_of_data"]
    stored_days = months * days
    standard_raw_days = min(stored_days, RAW_STANDARD_DAYS * days / 30)
    s3_month = (stored_days * curated_gb_day + standard_raw_days * raw_gb_day) * p["s3_standard_gb_month"] + (
        (stored_days - standard_raw_days) * raw_gb_day * p["s3_glacier_ir_gb_month"])
    s3 = Line(f"S3 after {months:g} months", f"{curated_gb_day:,.2f} GB Parquet + {raw_gb_day:,.2f} GB raw gzip "
              "a day", s3_month / days, s3_month)

    # --- Athena ------------------------------------------------------------------------------------
    scanned = 0.0
    for table, columns, ndays in SAMPLE_QUERIES.values():
        if table == "ticks":
            per_day = ticks * sum(figures.parquet_column_bytes_per_tick[c] for c in columns)
        else:
            per_day = bars_day * figures.bar_bytes  # JSON size: an upper bound of the Parquet columns
        scanned += max(ATHENA_MIN_BYTES, per_day * ndays)
    athena_gb = scanned * a["athena_runs_per_day"] / GB
    athena_day = athena_gb / 1024 * p["athena_tb_scanned"]
    athena = Line("Athena (sample queries)", f"{athena_gb:,.1f} GB scanned a day ({len(SAMPLE_QUERIES)} queries × "
                  f"{a['athena_runs_per_day']:g})", athena_day, days * athena_day)

    # --- CloudWatch ---------------------------------------------------------------------------------
    metrics = (producers * PRODUCER_METRICS + BARS_METRICS + shards * SHARD_LEVEL_METRICS
               + producers * a["container_insights_metrics_per_service"])
    alarms = ALARMS_FIXED + ALARMS_PER_PRODUCER * producers
    log_gb_day = (requests * a["log_bytes_per_invocation"]
                  + producers * PRODUCER_HOURS_PER_DAY * a["producer_log_bytes_per_hour"]) / GB
    cw_month = (metrics * p["cloudwatch_metric_month"] + alarms * p["cloudwatch_alarm_month"]
                + days * log_gb_day * p["cloudwatch_logs_gb_ingested"])
    cloudwatch = Line("CloudWatch", f"{metrics:g} metrics, {alarms} alarms, {log_gb_day * 1024:,.0f} MB logs a day",
                      cw_month / days, cw_month)
    kms = Line("KMS keys", "2 keys: data, secrets (infra/kms.tf)", 2 * p["kms_key_month"] / days, 2 * p["kms_key_month"])

    common = [fargate, lam, firehose, s3, athena, cloudwatch, kms]
    lines = {"PROVISIONED": [prov, *common], "ON_DEMAND": [ondemand, *common]}

    # --- the naive design: one PutRecord per tick -----------------------------------------------------
    naive_tick_bytes = figures.tick_bytes + figures.partition_key_bytes  # a record is data + partition key
    naive_shards = math.ceil(max(universe.peak_ticks_per_s / SHARD_RECORDS_PER_S,
                                 universe.peak_ticks_per_s * naive_tick_bytes / SHARD_BYTES_PER_S)
                             / a["shard_utilisation"])
    naive_month = (naive_shards * HOURS_PER_MONTH * p["kinesis_shard_hour"]
                   + days * ticks / 1e6 * p["kinesis_put_units_million"])
    # ... and Firehose then meters every tick as a record of its own, rounded up to 5 KB
    naive_firehose = days * (raw_gb + bars_gb) * p["firehose_gb_ingested"]
    naive_total = naive_month + naive_firehose
    ours = prov.per_month + firehose.per_month
    naive = (f"naive design (one PutRecord per tick): {naive_shards:,} shard(s), {ticks / 1e6:,.1f} M PUT calls a day; "
             f"Kinesis + Firehose ${naive_total:,.0f}/month against ${ours:,.0f} aggregated"
             + (f" ({naive_total / ours:,.1f}×)" if ours else ""))

    mode = stream_mode or min(lines, key=lambda m: sum(x.per_month for x in lines[m]))
    if mode not in lines:
        raise PlanError(f"stream mode must be PROVISIONED or ON_DEMAND, got {mode!r}")
    return Plan(universe=universe, region=region, stream_mode=mode, shards=shards, producers=producers,
                producer_cpu=cpu, producer_memory_mb=mem, records_per_s_per_shard=recs_s,
                bytes_per_s_per_shard=universe.peak_ticks_per_s / shards * figures.kinesis_bytes_per_tick,
                bars_state_bytes_per_shard=universe.symbols / shards * figures.bars_state_bytes_per_symbol,
                lambda_gb_s_per_day=gb_s, firehose_billing=firehose_billing, firehose_gb_per_day=billed_raw + bars_gb,
                firehose_gb_per_day_other=(raw_gb + raw_gb_aggregated - billed_raw) + bars_gb,
                s3_gb_curated_per_day=curated_gb_day, s3_gb_raw_per_day=raw_gb_day, athena_gb_per_day=athena_gb,
                metrics=int(metrics), alarms=alarms, log_gb_per_day=log_gb_day, lines=lines, naive=naive)
