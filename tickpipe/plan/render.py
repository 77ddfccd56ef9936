"""A plan as text: what to deploy, the cost table, the assumptions and the tfvars snippet."""

from __future__ import annotations

from tickpipe.plan.figures import Figures
from tickpipe.plan.model import (
    ASSUMPTIONS,
    BARS_STATE_BUDGET,
    LAMBDA_STATE_LIMIT,
    MAX_SYMBOLS,
    SHARD_BYTES_PER_S,
    SHARD_RECORDS_PER_S,
    Plan,
)
from tickpipe.plan.prices import PRICES_AS_OF, Price

MODES = {"PROVISIONED": "provisioned stream", "ON_DEMAND": "on-demand stream"}


def tfvars(plan: Plan) -> str:
    """The Terraform variables (infra/variables.tf) this plan recommends."""
    out = [f'stream_mode        = "{plan.stream_mode}"']
    if plan.stream_mode == "PROVISIONED":
        out.append(f"stream_shard_count = {plan.shards}")
    if plan.producers == 1:
        out.append("producers          = { main = {} }")
    else:
        out.append(f"# {plan.producers} sockets of at most {MAX_SYMBOLS:,} symbols: one universe file, split by hash "
                   "slices (put the file at this key of the lake bucket)")
        out.append("producers = {")
        for k in range(1, plan.producers + 1):
            out.append(f'  s{k} = {{ symbols = "s3://LAKE_BUCKET/state/symbols/universe.txt", '
                       f'slice = "{k}/{plan.producers}" }}')
        out.append("}")
    out.append(f"producer_cpu       = {plan.producer_cpu}")
    out.append(f"producer_memory_mb = {plan.producer_memory_mb}")
    return "\n".join(out)


def render(plan: Plan, figures: Figures, prices: dict[str, Price]) -> str:
    u = plan.universe
    lines = [
        f"tickpipe plan: {u.symbols:,} symbols × {u.updates_per_s:g} update/s each (peak × {u.peak_factor:g}), "
        f"{plan.region}",
        f"  {u.ticks_per_day / 1e6:,.1f} M ticks a trading day, {u.peak_ticks_per_s:,.0f} ticks/s at peak, "
        f"{u.ticks_per_day * figures.tick_bytes / 1e9:,.1f} GB of tick JSON",
        "",
        "Deploy",
        f"  Kinesis      {plan.shards} shard(s) if provisioned: per shard at peak "
        f"{plan.bytes_per_s_per_shard / 1024:,.0f} KiB/s of {SHARD_BYTES_PER_S // 1024:,}, "
        f"{plan.records_per_s_per_shard:,.1f} aggregated records/s of {SHARD_RECORDS_PER_S:,} "
        f"({figures.ticks_per_record:,.0f} ticks in a full record)",
        f"  producers    {plan.producers} Fargate task(s), at most {MAX_SYMBOLS:,} symbols per Fyers connection; "
        f"{plan.producer_cpu / 1024:g} vCPU / {plan.producer_memory_mb:,} MiB each "
        f"({figures.producer_cpu_s_per_mticks:,.1f} CPU-s per M ticks, peak RSS "
        f"{figures.producer_peak_rss_mb:,.0f} MiB at {figures.producer_symbols:,} symbols)",
        f"  bars Lambda  {plan.bars_state_bytes_per_shard / 1000:,.0f} KB of carried state per shard "
        f"(budget {BARS_STATE_BUDGET // 1000:,} KB, Lambda's limit {LAMBDA_STATE_LIMIT // 1000:,} KB"
        + ("; past the budget the state moves to the S3 checkpoint" if plan.bars_state_bytes_per_shard
           > BARS_STATE_BUDGET else "") + f"); {plan.lambda_gb_s_per_day:,.0f} GB-s a day with compaction",
        f"  Firehose     {plan.firehose_gb_per_day:,.1f} GB billed a day; "
        f"S3 {plan.s3_gb_curated_per_day:,.2f} GB Parquet + {plan.s3_gb_raw_per_day:,.2f} GB raw a day; "
        f"Athena {plan.athena_gb_per_day:,.1f} GB scanned a day",
        f"  CloudWatch   {plan.metrics} metrics, {plan.alarms} alarms, {plan.log_gb_per_day * 1024:,.0f} MB of logs a day",
        "",
        f"Cost (USD, {plan.region} list prices as of {PRICES_AS_OF})",
    ]
    w = max(len(x.component) for m in plan.lines.values() for x in m)
    lines.append(f"  {'component':<{w}}  {'per trading day':>15}  {'per month':>10}  usage")
    # the two stream lines first, then what both modes share
    rows = [plan.lines["PROVISIONED"][0], plan.lines["ON_DEMAND"][0], *plan.lines["PROVISIONED"][1:]]
    for x in rows:
        lines.append(f"  {x.component:<{w}}  {x.per_day:>15,.2f}  {x.per_month:>10,.2f}  {x.usage}")
    for mode in ("PROVISIONED", "ON_DEMAND"):
        day, month = plan.total(mode)
        mark = "  ← recommended" if mode == plan.stream_mode else ""
        lines.append(f"  {'total, ' + MODES[mode]:<{w}}  {day:>15,.2f}  {month:>10,.2f}{mark}")
    lines += [
        f"  A month is {ASSUMPTIONS['trading_days_per_month'][0]:g} trading days; hourly items (shards, stream) run "
        "730 h a month, so a trading day carries 24 h of them.",
        ("  Firehose is billed here on the stream's aggregated records, each rounded up to 5 KB; if it billed "
         "every de-aggregated tick instead" if plan.firehose_billing == "aggregated" else
         "  Firehose is billed here on every de-aggregated tick, each rounded up to 5 KB; if it billed the "
         "stream's aggregated records instead")
        + f": {plan.firehose_gb_per_day_other:,.1f} GB a day (--firehose-billing; docs/cost.md). Check the first "
        "bill (Cost Explorer, Firehose usage type ...BilledBytes).",
        "  " + plan.naive,
        "",
        "Assumptions (not measured; change them in tickpipe/plan/model.py)",
    ]
    lines += [f"  {k} = {v:g}: {why}" for k, (v, why) in ASSUMPTIONS.items()]
    m = figures.measured
    unchecked = sorted({k for k, v in prices.items() if not v.checked})
    lines += [
        "",
        f"Measured figures: tickpipe/plan/figures.json, by `make bench` (bench/figures.py) on {m.get('at', '?')}, "
        f"{m.get('ticks', 0):,} ticks of {m.get('symbols', 0):,} simulated symbols",
        f"Prices: tickpipe/plan/prices.py, re-check them (https://calculator.aws/); not checked against the price "
        f"page for {plan.region}: {', '.join(unchecked) if unchecked else 'none'}",
        "",
        "Terraform (infra/terraform.tfvars)",
        *("  " + x for x in tfvars(plan).splitlines()),
    ]
    return "\n".join(lines)
