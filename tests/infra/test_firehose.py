"""The delivery streams land where the lake layout (tickpipe/names.py) and local/provision.py say."""

from __future__ import annotations

import datetime as dt
import json
import re

from local import provision
from market import tick
from tickpipe import names


def s3_config(tf, name):
    return tf.block(tf.resource("aws_kinesis_firehose_delivery_stream", name), "extended_s3_configuration")


def evaluate(prefix: str, at: dt.datetime) -> str:
    """What Firehose makes of !{timestamp:...} for a record arriving at ``at`` (UTC)."""
    java = {"yyyy-MM-dd": "%Y-%m-%d", "HH": "%H"}
    return re.sub(r"!\{timestamp:([^}]+)\}", lambda m: at.strftime(java[m.group(1)]), prefix)


def test_raw_prefix_is_the_local_pipelines_prefix(tf):
    assert tf.render(s3_config(tf, "raw")["prefix"]) == provision.RAW_TICKS_PREFIX


def test_bars_prefix_is_the_local_pipelines_prefix(tf):
    assert tf.render(s3_config(tf, "bars")["prefix"]) == provision.RAW_BARS_PREFIX


def test_raw_prefix_lands_in_the_utc_day_and_hour_partition(tf):
    at = dt.datetime(2026, 11, 26, 4, 7, tzinfo=dt.UTC)  # 09:37 IST
    prefix = evaluate(tf.render(s3_config(tf, "raw")["prefix"]), at)
    assert prefix == names.partition(names.RAW_TICKS, "2026-11-26", 4)


def test_bars_prefix_starts_with_raw_bars(tf):
    at = dt.datetime(2026, 11, 26, 9, 59, tzinfo=dt.UTC)
    prefix = evaluate(tf.render(s3_config(tf, "bars")["prefix"]), at)
    assert prefix.startswith(names.partition(names.RAW_BARS, "2026-11-26"))


def test_error_prefixes_sit_under_raw_errors_with_the_error_type(tf):
    for name, expected in (("raw", provision.RAW_TICKS_ERROR_PREFIX), ("bars", provision.RAW_BARS_ERROR_PREFIX)):
        error_prefix = tf.render(s3_config(tf, name)["error_output_prefix"])
        assert error_prefix == expected
        assert error_prefix.startswith(names.RAW_ERRORS) and "!{firehose:error-output-type}" in error_prefix


def test_raw_reads_the_ticks_stream_and_bars_is_direct_put(tf):
    raw = tf.resource("aws_kinesis_firehose_delivery_stream", "raw")
    assert tf.block(raw, "kinesis_source_configuration")["kinesis_stream_arn"] == "${aws_kinesis_stream.ticks.arn}"
    assert "kinesis_source_configuration" not in tf.resource("aws_kinesis_firehose_delivery_stream", "bars")


def test_no_delimiter_processor_because_records_end_with_newline(tf):
    # Firehose de-aggregates KPL records and concatenates them; our records carry the "\n".
    assert tick.encode({"sym": "NSE:SBIN-EQ", "ts": 1, "ltp": 1.5}).endswith(b"\n")
    for name, body in tf.resources["aws_kinesis_firehose_delivery_stream"].items():
        assert "AppendDelimiterToRecord" not in json.dumps(body), f"{name} appends a second delimiter"


def test_both_deliver_gzip_with_buffering_hints_into_the_lake(tf):
    for name in ("raw", "bars"):
        cfg = s3_config(tf, name)
        assert cfg["compression_format"] == "GZIP"
        assert cfg["bucket_arn"] == "${aws_s3_bucket.lake.arn}"
        assert cfg["buffering_interval"] and cfg["buffering_size"]
        assert tf.block(cfg, "cloudwatch_logging_options")["enabled"] is True
