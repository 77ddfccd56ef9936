"""Create every AWS resource the local pipeline needs, under the names in tickpipe/names.py.

Idempotent: a resource that already exists is left as it is, so the demo can call this on every
start. In AWS, Terraform (infra/) creates the same resources with the same names and settings;
the delivery-stream settings below are the ones Terraform should match (one table in docs/lake.md).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Final

import boto3
from botocore.exceptions import ClientError

from tickpipe import names
from tickpipe.aws_errors import error_code
from tickpipe.config import Settings

log = logging.getLogger(__name__)

# Firehose S3 prefixes. Custom prefixes with !{timestamp:...} replace Firehose's default
# YYYY/MM/dd/HH/ folders; AWS then requires an ErrorOutputPrefix with !{firehose:error-output-type}.
TIMESTAMP_PARTITIONS: Final = "dt=!{timestamp:yyyy-MM-dd}/hh=!{timestamp:HH}/"
RAW_TICKS_PREFIX: Final = names.RAW_TICKS + TIMESTAMP_PARTITIONS
RAW_BARS_PREFIX: Final = names.RAW_BARS + TIMESTAMP_PARTITIONS
RAW_TICKS_ERROR_PREFIX: Final = names.RAW_ERRORS + "ticks/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
RAW_BARS_ERROR_PREFIX: Final = names.RAW_ERRORS + "bars/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"

# Firehose's buffering hints. AWS's defaults are 5 MiB / 300 s; locally a minute keeps the demo lively.
BUFFER_MIB: Final = 5
BUFFER_SECONDS: Final = 60


def provision(settings: Settings, *, shards: int, buffer_seconds: int = BUFFER_SECONDS) -> None:
    """Create the Kinesis stream, both Firehose delivery streams, the lake bucket and the SNS topic.

    Safe to call again: existing resources are kept (a stream's shard count is not changed).
    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    session = boto3.session.Session(region_name=settings.region)
    _bucket(session.client("s3"), settings)
    stream_arn = _stream(session.client("kinesis"), settings.stream, shards)
    role_arn = _firehose_role(session.client("iam"), settings)
    firehose = session.client("firehose")
    bucket_arn = f"arn:aws:s3:::{settings.bucket}"
    _delivery_stream(
        firehose,
        settings.raw_firehose,
        kind="KinesisStreamAsSource",
        source={"KinesisStreamARN": stream_arn, "RoleARN": role_arn},
        destination=_s3_destination(bucket_arn, role_arn, RAW_TICKS_PREFIX, RAW_TICKS_ERROR_PREFIX, buffer_seconds),
    )
    _delivery_stream(
        firehose,
        settings.bars_firehose,
        kind="DirectPut",
        source=None,
        destination=_s3_destination(bucket_arn, role_arn, RAW_BARS_PREFIX, RAW_BARS_ERROR_PREFIX, buffer_seconds),
    )
    session.client("sns").create_topic(Name=names.alarm_topic(settings.env))  # idempotent by name


def _s3_destination(bucket_arn: str, role_arn: str, prefix: str, error_prefix: str, seconds: int) -> dict[str, Any]:
    return {
        "RoleARN": role_arn,
        "BucketARN": bucket_arn,
        "Prefix": prefix,
        "ErrorOutputPrefix": error_prefix,
        "BufferingHints": {"SizeInMBs": BUFFER_MIB, "IntervalInSeconds": seconds},
        "CompressionFormat": "GZIP",
    }


def _bucket(s3: Any, settings: Settings) -> None:
    try:
        s3.head_bucket(Bucket=settings.bucket)
        return
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": settings.bucket}
    if settings.region != "us-east-1":  # S3 rejects an explicit us-east-1 location constraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    s3.create_bucket(**kwargs)
    log.info("created bucket %s", settings.bucket)


def _stream(kinesis: Any, name: str, shards: int) -> str:
    try:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        log.info("created stream %s with %d shard(s)", name, shards)
    except kinesis.exceptions.ResourceInUseException:
        pass
    for _ in range(100):
        desc = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if desc["StreamStatus"] in ("ACTIVE", "UPDATING"):
            return desc["StreamARN"]
        time.sleep(0.1)
    raise TimeoutError(f"stream {name} did not become ACTIVE")


def _firehose_role(iam: Any, settings: Settings) -> str:
    name = names.resource(settings.env, "firehose")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def _delivery_stream(
    firehose: Any, name: str, *, kind: str, source: dict[str, str] | None, destination: dict[str, Any]
) -> None:
    kwargs: dict[str, Any] = {
        "DeliveryStreamName": name,
        "DeliveryStreamType": kind,
        "ExtendedS3DestinationConfiguration": destination,
    }
    if source:
        kwargs["KinesisStreamSourceConfiguration"] = source
    try:
        firehose.create_delivery_stream(**kwargs)
        log.info("created delivery stream %s (%s)", name, kind)
    except firehose.exceptions.ResourceInUseException:
        pass
