"""The token service: the morning refresh against the simulator's validate-refresh-token and moto's SSM."""

from __future__ import annotations

import time

import boto3
import pytest

from fyers.auth import read_access_token
from fyers.rest import RestClient
from fyers.token_store import REFRESH_TTL, FyersToken, TokenStore
from tickpipe import names
from tickpipe.config import Settings
from tokens.errors import TokenRefreshError
from tokens.options import KMS_KEY_VAR
from tokens.refresh import PLACEHOLDER, TokenService


@pytest.fixture
def env(aws, fyers_sim):
    sim = fyers_sim()
    settings = Settings(env="test", fyers_api_url=sim.api_url)
    ssm = aws.client("ssm")
    cfg = sim.config
    for key, value, kind in ((names.SSM_APP_ID, cfg.app_id, "String"),
                             (names.SSM_SECRET_KEY, cfg.secret_key, "SecureString"),
                             (names.SSM_PIN, cfg.pin, "SecureString")):
        ssm.put_parameter(Name=settings.ssm_name(key), Value=value, Type=kind, Overwrite=True)
    return sim, settings, ssm


def logged_in(sim, ssm, settings, now=None, refresh_expires_at=None):
    """What a browser login leaves in SSM (the first-token steps of docs/deploy.md)."""
    now = time.time() if now is None else now
    tokens = sim.issue_tokens()
    token = FyersToken(tokens["access_token"], tokens["refresh_token"], int(now) - 3600,
                       read_access_token(tokens["access_token"]).exp, refresh_expires_at or int(now) + REFRESH_TTL)
    TokenStore(ssm, settings.ssm_prefix).save(token)
    return token


def service(settings, ssm):
    return TokenService(settings, ssm=ssm, rest=RestClient(settings.fyers_api_url, retries=0))


def test_the_morning_refresh_stores_a_new_access_token_and_keeps_the_refresh_token(env):
    sim, settings, ssm = env
    before = logged_in(sim, ssm, settings)
    result = service(settings, ssm).run()
    after = TokenStore(ssm, settings.ssm_prefix).load()
    assert after.access_token != before.access_token and read_access_token(after.access_token).exp > time.time()
    assert (after.refresh_token, after.refresh_expires_at) == (before.refresh_token, before.refresh_expires_at)
    assert result["refresh_token_days_left"] == pytest.approx(15, abs=0.01)


def test_an_expired_refresh_token_asks_for_a_login_and_writes_nothing(env):
    sim, settings, ssm = env
    before = logged_in(sim, ssm, settings, refresh_expires_at=int(time.time()) - 60)
    with pytest.raises(TokenRefreshError, match="log in again"):
        service(settings, ssm).run()
    assert TokenStore(ssm, settings.ssm_prefix).load() == before


def test_a_wrong_pin_names_the_parameter_to_fix_and_writes_nothing(env):
    sim, settings, ssm = env
    before = logged_in(sim, ssm, settings)
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_PIN), Value="0000" if sim.config.pin != "0000" else "1111",
                      Type="SecureString", Overwrite=True)
    with pytest.raises(TokenRefreshError, match=f"{settings.ssm_prefix}{names.SSM_PIN}") as err:
        service(settings, ssm).run()
    assert sim.config.pin not in str(err.value)
    assert TokenStore(ssm, settings.ssm_prefix).load() == before


def test_credentials_still_at_terraforms_placeholder_are_named(env):
    sim, settings, ssm = env
    logged_in(sim, ssm, settings)
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_SECRET_KEY), Value=PLACEHOLDER, Type="SecureString",
                      Overwrite=True)
    with pytest.raises(TokenRefreshError, match=f"set {settings.ssm_prefix}{names.SSM_SECRET_KEY} in SSM"):
        service(settings, ssm).run()


def test_no_token_yet_asks_for_the_first_login(env):
    _, settings, ssm = env
    with pytest.raises(TokenRefreshError, match="First token"):
        service(settings, ssm).run()


def test_the_lambda_handler_refreshes_with_the_environment_terraform_sets(env, monkeypatch, capsys):
    sim, settings, ssm = env
    before = logged_in(sim, ssm, settings)
    for key, value in settings.environ().items():
        monkeypatch.setenv(key, value)
    from tokens.refresh import handler

    result = handler({}, None)
    assert TokenStore(ssm, settings.ssm_prefix).load().access_token != before.access_token
    assert result["refresh_token_days_left"] > 14
    out = capsys.readouterr().out
    assert "RefreshTokenDaysLeft" in out and before.refresh_token not in out  # EMF metric, no secret


def test_a_token_still_at_terraforms_placeholder_asks_for_the_first_login(env):
    _, settings, ssm = env
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_TOKEN), Value=PLACEHOLDER, Type="SecureString")
    with pytest.raises(TokenRefreshError, match="not JSON: log in once"):
        service(settings, ssm).run()


def test_the_token_is_written_under_the_stacks_key_not_aws_ssm(env, monkeypatch):
    sim, settings, ssm = env
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    logged_in(sim, ssm, settings)
    monkeypatch.setenv(KMS_KEY_VAR, key)
    service(settings, ssm).run()
    [param] = ssm.describe_parameters(ParameterFilters=[
        {"Key": "Name", "Values": [settings.ssm_name(names.SSM_TOKEN)]}])["Parameters"]
    assert param["KeyId"] == key


def test_a_failed_refresh_still_reports_the_days_the_refresh_token_has_left(env):
    sim, settings, ssm = env
    logged_in(sim, ssm, settings, refresh_expires_at=int(time.time()) - 2 * 86400)
    reported = []

    class Metrics:
        def add_metric(self, name, unit, value):
            reported.append((name, value))

    svc = TokenService(settings, ssm=ssm, rest=RestClient(settings.fyers_api_url, retries=0), metrics=Metrics())
    with pytest.raises(TokenRefreshError):
        svc.run()
    assert dict(reported)["RefreshTokenDaysLeft"] == pytest.approx(-2, abs=0.01)  # the alarm stays in alarm
    assert dict(reported)["TokenRefreshFailed"] == 1
