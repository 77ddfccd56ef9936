"""Resource names and lake prefixes in infra/ are the ones in tickpipe/names.py."""

from __future__ import annotations

import pytest

from tickpipe import names

ACCOUNT = "123456789012"  # what the conftest renders the caller's account id as


@pytest.mark.parametrize("env", ["dev", "prod-2"])
def test_resource_names_follow_names_module(tf, env):
    def name(rtype, rname, attr="name"):
        return tf.render(tf.resource(rtype, rname)[attr], env)

    assert name("aws_kinesis_stream", "ticks") == names.stream(env)
    assert name("aws_kinesis_firehose_delivery_stream", "raw") == names.raw_firehose(env)
    assert name("aws_kinesis_firehose_delivery_stream", "bars") == names.bars_firehose(env)
    assert name("aws_sns_topic", "alarms") == names.alarm_topic(env)
    assert name("aws_lambda_function", "bars", "function_name") == names.resource(env, "bars")
    assert name("aws_lambda_function", "compact", "function_name") == names.resource(env, "compact")
    assert name("aws_ecs_cluster", "producer") == names.resource(env, "producer")
    # Bucket names are global: the account id is appended to the local default.
    assert name("aws_s3_bucket", "lake", "bucket") == f"{names.bucket(env)}-{ACCOUNT}"


# Names with a fixed shape of their own: paths, aliases, per-file sub-names.
OTHER_SHAPES = {"aws_glue_catalog_table", "aws_glue_catalog_database", "aws_cloudwatch_log_stream",
                "aws_iam_role_policy", "aws_cloudwatch_log_group", "aws_ssm_parameter", "aws_kms_alias"}


def test_every_named_resource_starts_with_the_project_and_env(tf):
    checked = 0
    for rtype, by_name in tf.resources.items():
        if rtype in OTHER_SHAPES:
            continue
        for rname, body in by_name.items():
            for attr in ("name", "function_name", "family", "alarm_name", "layer_name"):
                rendered = tf.render(body.get(attr, ""), "qa")
                if not rendered or rendered.startswith("${"):  # absent, or from a for_each map
                    continue
                checked += 1
                assert rendered.startswith(names.resource("qa", "")), f"{rtype}.{rname}.{attr} = {rendered!r}"
    assert checked >= 15


def test_ssm_parameters_sit_under_the_prefix_with_the_names_module_keys(tf):
    params = tf.resources["aws_ssm_parameter"]
    plain = {tf.render(params[r]["name"], "qa") for r in ("fyers_app_id", "fyers_redirect_uri")}
    assert plain == {names.ssm_prefix("qa") + names.SSM_APP_ID, names.ssm_prefix("qa") + names.SSM_REDIRECT_URI}
    secrets = {names.ssm_prefix("qa") + "fyers/" + k for k in params["fyers_secret"]["for_each"]}
    assert secrets == {names.ssm_prefix("qa") + k for k in (names.SSM_SECRET_KEY, names.SSM_PIN, names.SSM_TOKEN,
                                                                 names.SSM_REFRESH_TOKEN)}


@pytest.mark.parametrize(("local", "expected"), [
    ("raw_ticks_prefix", names.RAW_TICKS),
    ("raw_bars_prefix", names.RAW_BARS),
    ("raw_errors_prefix", names.RAW_ERRORS),
    ("curated_ticks_prefix", names.CURATED_TICKS),
    ("curated_bars_prefix", names.CURATED_BARS),
    ("quarantine_prefix", names.QUARANTINE),
    ("state_prefix", names.STATE),
    ("metric_namespace", names.METRIC_NAMESPACE),
])
def test_lake_prefixes_are_the_names_module_ones(tf, local, expected):
    assert tf.locals[local] == expected


def test_ssm_prefix_is_the_names_module_one(tf):
    assert tf.render(tf.locals["ssm_prefix"], "qa") == names.ssm_prefix("qa")
