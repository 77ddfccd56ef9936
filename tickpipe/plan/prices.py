"""AWS list prices the planner uses: the one table of them, with where each came from.

Re-check them before relying on a figure: AWS changes prices, and the ap-south-1 values marked
``checked=False`` could not be read from AWS's price pages on the machine that wrote this table
(they are the author's best knowledge, typically 0-20 % above us-east-1). The AWS Pricing
Calculator (https://calculator.aws/) and each service's pricing page below are the authority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tickpipe.plan.errors import UnknownRegionError

PRICES_AS_OF: Final = "2026-11-29"  # when this table was last reviewed (not all values could be checked)
CURRENCY: Final = "USD"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    page: str  # the AWS pricing page this price is listed on
    checked: bool  # True when the value was read from the page on PRICES_AS_OF


KDS: Final = "https://aws.amazon.com/kinesis/data-streams/pricing/"
FIREHOSE: Final = "https://aws.amazon.com/firehose/pricing/"
LAMBDA: Final = "https://aws.amazon.com/lambda/pricing/"
S3: Final = "https://aws.amazon.com/s3/pricing/"
ATHENA: Final = "https://aws.amazon.com/athena/pricing/"
FARGATE: Final = "https://aws.amazon.com/fargate/pricing/"
VPC: Final = "https://aws.amazon.com/vpc/pricing/"
CLOUDWATCH: Final = "https://aws.amazon.com/cloudwatch/pricing/"
KMS: Final = "https://aws.amazon.com/kms/pricing/"

# item -> region -> price. Items are named after the billing line they stand for.
PRICES: Final[dict[str, dict[str, Price]]] = {
    "kinesis_shard_hour": {
        "ap-south-1": Price(0.017, "shard-hour", KDS, False),
        "us-east-1": Price(0.015, "shard-hour", KDS, True),
    },
    "kinesis_put_units_million": {  # provisioned: per 1 M PUT payload units (25 KB each)
        "ap-south-1": Price(0.0195, "1 M PUT payload units", KDS, False),
        "us-east-1": Price(0.014, "1 M PUT payload units", KDS, True),
    },
    "kinesis_on_demand_stream_hour": {
        "ap-south-1": Price(0.048, "stream-hour", KDS, False),
        "us-east-1": Price(0.04, "stream-hour", KDS, True),
    },
    "kinesis_on_demand_gb_in": {  # each record rounded up to 1 KB
        "ap-south-1": Price(0.096, "GB written", KDS, False),
        "us-east-1": Price(0.08, "GB written", KDS, True),
    },
    "kinesis_on_demand_gb_out": {  # per consumer that reads it (shared-throughput consumers)
        "ap-south-1": Price(0.048, "GB read", KDS, False),
        "us-east-1": Price(0.04, "GB read", KDS, True),
    },
    "firehose_gb_ingested": {  # first 500 TB/month tier; each record rounded up to 5 KB
        "ap-south-1": Price(0.031, "GB ingested", FIREHOSE, False),
        "us-east-1": Price(0.029, "GB ingested", FIREHOSE, True),
    },
    "lambda_gb_second_arm64": {
        "ap-south-1": Price(0.0000133334, "GB-second (arm64)", LAMBDA, True),
        "us-east-1": Price(0.0000133334, "GB-second (arm64)", LAMBDA, True),
    },
    "lambda_requests_million": {
        "ap-south-1": Price(0.20, "1 M requests", LAMBDA, True),
        "us-east-1": Price(0.20, "1 M requests", LAMBDA, True),
    },
    "s3_standard_gb_month": {
        "ap-south-1": Price(0.025, "GB-month", S3, False),
        "us-east-1": Price(0.023, "GB-month", S3, True),
    },
    "s3_glacier_ir_gb_month": {
        "ap-south-1": Price(0.005, "GB-month", S3, False),
        "us-east-1": Price(0.004, "GB-month", S3, True),
    },
    "athena_tb_scanned": {  # 10 MB minimum per query
        "ap-south-1": Price(5.00, "TB scanned", ATHENA, True),
        "us-east-1": Price(5.00, "TB scanned", ATHENA, True),
    },
    "fargate_vcpu_hour": {  # Linux/x86
        "ap-south-1": Price(0.04256, "vCPU-hour", FARGATE, False),
        "us-east-1": Price(0.04048, "vCPU-hour", FARGATE, True),
    },
    "fargate_gb_hour": {
        "ap-south-1": Price(0.00467, "GB-hour", FARGATE, False),
        "us-east-1": Price(0.004445, "GB-hour", FARGATE, True),
    },
    "public_ipv4_hour": {
        "ap-south-1": Price(0.005, "IPv4 address-hour", VPC, True),
        "us-east-1": Price(0.005, "IPv4 address-hour", VPC, True),
    },
    "cloudwatch_metric_month": {  # first 10,000 custom metrics
        "ap-south-1": Price(0.30, "metric-month", CLOUDWATCH, True),
        "us-east-1": Price(0.30, "metric-month", CLOUDWATCH, True),
    },
    "cloudwatch_alarm_month": {  # standard resolution
        "ap-south-1": Price(0.10, "alarm-month", CLOUDWATCH, True),
        "us-east-1": Price(0.10, "alarm-month", CLOUDWATCH, True),
    },
    "cloudwatch_logs_gb_ingested": {
        "ap-south-1": Price(0.50, "GB ingested", CLOUDWATCH, False),
        "us-east-1": Price(0.50, "GB ingested", CLOUDWATCH, True),
    },
    "kms_key_month": {
        "ap-south-1": Price(1.00, "key-month", KMS, True),
        "us-east-1": Price(1.00, "key-month", KMS, True),
    },
}

REGIONS: Final = tuple(sorted({r for by_region in PRICES.values() for r in by_region}))


def prices_for(region: str) -> dict[str, Price]:
    """Every price for ``region``; :class:`UnknownRegionError` names the regions the table has."""
    if region not in REGIONS:
        raise UnknownRegionError(f"no prices for region {region!r}; the table (tickpipe/plan/prices.py) has "
                                 f"{', '.join(REGIONS)}")
    return {item: by_region[region] for item, by_region in PRICES.items()}
