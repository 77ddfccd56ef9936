"""The token service's own variables (tokens/options.py) through the configuration helper: the KMS
key its SecureStrings are written with, and the login reminder's threshold, checked like any option."""

from __future__ import annotations

import pytest

from tickpipe.config import Settings
from tickpipe.errors import ConfigError
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
