"""SSM: secrets are SecureStrings Terraform creates once and never overwrites."""

from __future__ import annotations


def test_secrets_are_secure_strings_with_the_project_key(tf):
    secret = tf.resource("aws_ssm_parameter", "fyers_secret")
    assert secret["type"] == "SecureString"
    assert secret["key_id"] == "${aws_kms_key.secrets.arn}"
    assert set(secret["for_each"]) == {"secret_key", "pin", "token", "refresh_token"}


def test_terraform_never_overwrites_a_live_token(tf):
    lifecycle = tf.block(tf.resource("aws_ssm_parameter", "fyers_secret"), "lifecycle")
    secret = tf.resource("aws_ssm_parameter", "fyers_secret")
    # write-only: sent once at creation, never stored, never read back (and never re-sent: version 1)
    assert "value" not in secret and secret["value_wo"] == "${local.ssm_placeholder}"
    assert secret["value_wo_version"] == 1
    assert "key_id" in str(lifecycle["ignore_changes"])


def test_app_id_and_redirect_uri_are_plain_strings_from_variables(tf):
    for name, var in (("fyers_app_id", "fyers_app_id"), ("fyers_redirect_uri", "fyers_redirect_uri")):
        param = tf.resource("aws_ssm_parameter", name)
        assert param["type"] == "String"
        assert param["value"] == "${var." + var + "}"


def test_producer_may_read_but_not_write_the_parameters(tf):
    doc = tf.data["aws_iam_policy_document"]["producer_task"]
    actions = {a for st in doc["statement"] for a in st["actions"]}
    assert "ssm:GetParameter" in actions
    assert not any(a.startswith("ssm:Put") or a.startswith("ssm:Delete") for a in actions)


def test_the_token_function_knows_terraforms_placeholder(tf):
    # tokens/refresh.py tells "credentials not set yet" from a wrong one by this value
    from tokens.refresh import PLACEHOLDER

    assert tf.locals["ssm_placeholder"] == PLACEHOLDER
