"""variables.tf and outputs.tf: described, typed, validated where a wrong value would hurt."""

from __future__ import annotations

import json
import re

import pytest

# A wrong value here costs money, loses data or fails only late in `apply`.
MUST_VALIDATE = {
    "env", "region", "stream_mode", "stream_shard_count", "stream_retention_hours", "raw_transition_days",
    "raw_storage_class", "raw_expiration_days", "lambda_architecture", "bars_batch_size",
    "bars_tumbling_window_seconds", "bars_max_retry_attempts",
    "bars_state_budget_bytes", "producer_image", "producer_image_digest", "monthly_budget_usd", "producers", "producer_cpu", "producer_memory_mb",
    "producer_vpc_id", "producer_subnet_ids", "producer_stop_timeout_seconds", "fyers_app_id",
    "fyers_redirect_uri", "fyers_ws_url", "alarm_emails", "log_retention_days", "athena_bytes_scanned_cutoff",
}


def regex_of(tf, variable: str) -> re.Pattern[str]:
    """The regular expression of a ``can(regex("...", var.x))`` validation."""
    for validation in tf.variables[variable]["validation"]:
        m = re.search(r'regex\("((?:[^"\\]|\\.)*)"', validation["condition"])
        if m:
            return re.compile(json.loads(f'"{m.group(1)}"'))
    raise AssertionError(f"variable {variable} has no regex validation")


def test_every_variable_has_a_description_and_a_type(tf):
    for name, var in tf.variables.items():
        assert len(var.get("description", "")) > 10, f"variable {name} needs a description"
        assert var.get("type"), f"variable {name} needs a type"


def test_every_number_variable_is_validated(tf):
    for name, var in tf.variables.items():
        if var["type"] == "number":
            assert var.get("validation"), f"number variable {name} has no validation"


@pytest.mark.parametrize("name", sorted(MUST_VALIDATE))
def test_risky_variable_is_validated_with_a_helpful_message(tf, name):
    validations = tf.variables[name].get("validation")
    assert validations, f"variable {name} needs a validation"
    for v in validations:
        assert name in v["error_message"] or "must" in v["error_message"], v["error_message"]


@pytest.mark.parametrize(("good", "bad"), [("dev", "Dev"), ("prod-2", "prod_2"), ("qa", "-qa"), ("a1", "x" * 21)])
def test_env_validation_keeps_names_valid_for_s3(tf, good, bad):
    pattern = regex_of(tf, "env")
    assert pattern.search(good) and not pattern.search(bad)


@pytest.mark.parametrize(("good", "bad"), [
    ("123456789012.dkr.ecr.ap-south-1.amazonaws.com/tickpipe:1.0", "123456789012.dkr.ecr.ap-south-1.amazonaws.com/tickpipe"),
    ("ghcr.io/me/tickpipe@sha256:" + "a" * 64, "tickpipe:"),
])
def test_producer_image_needs_a_tag_or_digest(tf, good, bad):
    pattern = regex_of(tf, "producer_image")
    assert pattern.search(good) and not pattern.search(bad)


@pytest.mark.parametrize(("good", "bad"), [
    ("sha256:" + "0f" * 32, "sha256:" + "0F" * 32),
    ("sha256:" + "a" * 64, "0.1.0"),
    ("sha256:" + "a" * 64, "sha256:" + "a" * 63),
])
def test_producer_image_digest_is_a_sha256_digest(tf, good, bad):
    pattern = regex_of(tf, "producer_image_digest")
    assert pattern.search(good) and not pattern.search(bad)


def test_fyers_app_id_validation_matches_the_fyers_format(tf):
    pattern = regex_of(tf, "fyers_app_id")
    assert pattern.search("XC12345AB-100") and not pattern.search("xc12345") and not pattern.search("")


def test_defaults_stay_inside_their_own_limits(tf):
    # The AWS limits quoted in DESIGN.md: batches of at most 10,000 records, windows of at most 900 s.
    assert 1 <= tf.default("bars_batch_size") <= 10_000
    assert 1 <= tf.default("bars_tumbling_window_seconds") <= 900
    assert tf.default("stream_mode") == "ON_DEMAND"
    assert tf.default("region") == "ap-south-1"


def test_every_output_is_described(tf):
    for name, out in tf.outputs.items():
        assert len(out.get("description", "")) > 10, f"output {name} needs a description"


def test_outputs_give_a_user_what_they_need(tf):
    needed = {"stream_name", "stream_arn", "bucket", "bars_function_name", "compact_function_name", "login_page_url",
              "alarm_topic_arn", "athena_workgroup", "raw_firehose_name", "bars_firehose_name", "ssm_prefix"}
    assert needed <= set(tf.outputs)


def test_no_output_is_a_fyers_login_url_with_a_constant_state(tf):
    # A login URL with a fixed state cannot be checked on the way back (docs/login.md): every login
    # gets a random one from the login page or `tickpipe login`.
    for name, out in tf.outputs.items():
        assert "generate-authcode" not in str(out["value"]), f"output {name} is a login URL"


def test_the_aws_provider_admits_5_100_and_6_x_and_is_the_only_one(tf):
    # 5.100 is the first with write-only arguments (value_wo); the next major is not admitted unseen
    required = tf.files["versions.tf"]["terraform"][0]["required_providers"][0]
    assert {k for k in required if not k.startswith("__")} == {"aws"}
    assert required["aws"]["version"] == ">= 5.100, < 7.0"
