"""The token service's own variables (tokens/options.py) through the configuration helper: the KMS
key its SecureStrings are written with, and the login reminder's threshold, checked like any option."""

from __future__ import annotations

import pytest

from tickpipe.cli import build_parser
from tickpipe.config import Settings
from tickpipe.errors import ConfigError
from tokens.login_cli import kms_key
from tokens.options import ENV_VARS, KMS_KEY_VAR, REMIND_DAYS_VAR, TokenOptions
from tokens.refresh import token_store


def test_unset_the_token_goes_under_the_accounts_key_and_the_reminder_comes_two_days_ahead():
    options = TokenOptions.from_env({})
    assert (options.key_id, options.login_remind_days) == (None, 2.0)


def test_the_variables_name_the_key_and_the_threshold():
    options = TokenOptions.from_env({KMS_KEY_VAR: "alias/tickpipe-dev-secrets", REMIND_DAYS_VAR: "3.5"})
    assert (options.key_id, options.login_remind_days) == ("alias/tickpipe-dev-secrets", 3.5)
    assert set(ENV_VARS.values()) == {"TICKPIPE_TOKEN_KMS_KEY", "TICKPIPE_LOGIN_REMIND_DAYS"}


@pytest.mark.parametrize("value", ["0", "-1", "15", "soon", "nan", "inf"])
def test_a_reminder_threshold_outside_the_refresh_tokens_life_is_an_error_naming_it(value):
    # the refresh token lasts 15 days (Terraform's refresh_token_alarm_days takes 0 < days < 15)
    with pytest.raises(ConfigError, match=REMIND_DAYS_VAR):
        TokenOptions.from_env({REMIND_DAYS_VAR: value})


def test_the_token_store_writes_under_the_key_it_is_given_else_the_variables(monkeypatch):
    settings = Settings(env="test")
    monkeypatch.setenv(KMS_KEY_VAR, "alias/from-the-function")
    assert token_store(object(), settings).key_id == "alias/from-the-function"
    assert token_store(object(), settings, TokenOptions(token_kms_key="alias/given")).key_id == "alias/given"
    assert token_store(object(), settings, TokenOptions()).key_id is None  # `--kms-key none`: aws/ssm


@pytest.mark.parametrize("value", [
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:kms:ap-south-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "alias/tickpipe-dev-secrets", "alias/aws/ssm",
    "arn:aws:kms:ap-south-1:111122223333:alias/tickpipe-dev-secrets",
    "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
])
def test_each_form_kms_takes_as_a_key_id_is_passed_as_given(value):
    # KMS API reference, KeyId (https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html)
    assert TokenOptions.from_env({KMS_KEY_VAR: value}).key_id == value


@pytest.mark.parametrize("value", ["none", "NONE", "None"])
def test_none_means_the_accounts_key_so_no_key_id_is_sent(value):
    assert TokenOptions.from_env({KMS_KEY_VAR: value}).key_id is None
    assert TokenOptions(token_kms_key=value).key_id is None


@pytest.mark.parametrize("value", [
    "tickpipe-dev-secrets", "alias/", "alias/has space", "1234abcd-12ab-34cd-56ef", "nothing",
    "arn:aws:kms:ap-south-1:111122223333:key/not-a-uuid", "arn:aws:kms:ap-south-1:1111:alias/x",
    "arn:aws:s3:::bucket", " alias/x",
])
def test_a_value_that_is_no_kms_key_is_an_error_naming_the_variable(value):
    with pytest.raises(ConfigError, match=rf"{KMS_KEY_VAR} must be a KMS key id .* got {value!r}"):
        TokenOptions.from_env({KMS_KEY_VAR: value})

def test_the_login_command_and_the_functions_read_none_alike(monkeypatch):
    settings = Settings(env="test")
    monkeypatch.setenv(KMS_KEY_VAR, "none")
    assert kms_key(None, settings) is None and token_store(object(), settings).key_id is None
    monkeypatch.setenv(KMS_KEY_VAR, "alias/given")
    assert kms_key(None, settings) == "alias/given" == token_store(object(), settings).key_id
    assert kms_key("none", settings) is None
    monkeypatch.delenv(KMS_KEY_VAR)
    assert kms_key(None, settings) == "alias/tickpipe-test-secrets"

def test_a_bad_kms_key_in_the_environment_stops_the_login_command_naming_it(monkeypatch):
    monkeypatch.setenv(KMS_KEY_VAR, "my-key")
    with pytest.raises(ConfigError, match=KMS_KEY_VAR):
        kms_key(None, Settings(env="test"))


@pytest.mark.parametrize("command", ["login", "login-link"])
def test_a_kms_key_flag_that_is_no_kms_key_is_a_usage_error(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--kms-key", "my-key"])
    assert info.value.code == 2 and "--kms-key: must be a KMS key id" in capsys.readouterr().err
