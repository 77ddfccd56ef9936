"""TokenStore on SSM (moto server): round trip, absence, corruption, secrets out of reprs."""

from __future__ import annotations

import orjson
import pytest

from fyers.auth import Tokens
from fyers.errors import TokenNotFoundError, TokenStoreError
from fyers.token_store import REFRESH_TTL, FyersToken, TokenStore

PREFIX = "/tickpipe/test/"


def token(access="acc.ess.tok", refresh="ref.resh.tok"):
    return FyersToken(access, refresh, issued_at=1_764_100_000, expires_at=1_764_160_000,
                      refresh_expires_at=1_764_100_000 + REFRESH_TTL)


def test_saved_token_loads_back(aws):
    store = TokenStore(aws.client("ssm"), PREFIX)
    store.save(token())
    assert store.load() == token()


def test_the_access_and_refresh_tokens_are_separate_secure_strings_at_the_agreed_names(aws):
    ssm = aws.client("ssm")
    TokenStore(ssm, PREFIX).save(token())
    access = ssm.get_parameter(Name="/tickpipe/test/fyers/token", WithDecryption=True)["Parameter"]
    refresh = ssm.get_parameter(Name="/tickpipe/test/fyers/refresh_token", WithDecryption=True)["Parameter"]
    assert access["Type"] == refresh["Type"] == "SecureString"
    assert "ref.resh.tok" not in access["Value"] and "acc.ess.tok" not in refresh["Value"]
    assert FyersToken.from_json(access["Value"], refresh["Value"]) == token()


def test_the_access_token_is_read_without_the_refresh_token(aws):
    ssm = aws.client("ssm")
    TokenStore(ssm, PREFIX).save(token())
    ssm.delete_parameter(Name=PREFIX + "fyers/refresh_token")  # the producer may not read it (infra/iam.tf)
    assert TokenStore(ssm, PREFIX).load_access_token() == "acc.ess.tok"


def test_a_token_stored_before_the_split_still_loads_and_the_next_save_splits_it(aws):
    ssm = aws.client("ssm")
    legacy = orjson.dumps({"access_token": "acc.ess.tok", "refresh_token": "ref.resh.tok", "issued_at": 1_764_100_000,
                           "expires_at": 1_764_160_000, "refresh_expires_at": 1_764_100_000 + REFRESH_TTL}).decode()
    ssm.put_parameter(Name=PREFIX + "fyers/token", Value=legacy, Type="SecureString")
    store = TokenStore(ssm, PREFIX)
    assert store.load() == token()
    store.save(store.load())
    access = ssm.get_parameter(Name=PREFIX + "fyers/token", WithDecryption=True)["Parameter"]["Value"]
    assert "ref.resh.tok" not in access and store.load() == token()


def test_saving_again_replaces_the_token(aws):
    store = TokenStore(aws.client("ssm"), PREFIX)
    store.save(token())
    store.save(token(access="new.acc.ess"))
    assert store.load().access_token == "new.acc.ess"


def test_missing_token_says_to_log_in(aws):
    with pytest.raises(TokenNotFoundError, match="log in"):
        TokenStore(aws.client("ssm"), PREFIX).load()
    with pytest.raises(TokenNotFoundError, match="log in"):
        TokenStore(aws.client("ssm"), PREFIX).load_access_token()


def test_corrupt_token_names_the_parameter_and_the_problem(aws):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=PREFIX + "fyers/token", Value='{"access_token": "a"}', Type="SecureString")
    with pytest.raises(TokenStoreError, match=r"/tickpipe/test/fyers/refresh_token: no refresh token stored"):
        TokenStore(ssm, PREFIX).load()  # no refresh-token parameter, and none in the access document
    ssm.put_parameter(Name=PREFIX + "fyers/refresh_token", Value='{"refresh_token": ""}', Type="SecureString")
    with pytest.raises(TokenStoreError, match=r"/tickpipe/test/fyers/refresh_token: stored refresh token has no 'refresh_token'"):
        TokenStore(ssm, PREFIX).load()
    ssm.put_parameter(Name=PREFIX + "fyers/token", Value='[1]', Type="SecureString", Overwrite=True)
    with pytest.raises(TokenStoreError, match=r"/tickpipe/test/fyers/token: stored token is not a JSON object"):
        TokenStore(ssm, PREFIX).load_access_token()


def test_secrets_stay_out_of_reprs_and_errors():
    t = token(access="SECRET-A", refresh="SECRET-R")
    assert "SECRET" not in repr(t)
    with pytest.raises(TokenStoreError) as err:
        FyersToken.from_json('{"access_token": "SECRET-A", "issued_at": "x"}', '{"refresh_token": "SECRET-R"}')
    assert "SECRET" not in str(err.value)


def test_refresh_keeps_the_refresh_token_and_its_expiry():
    t = token()
    new = t.refreshed(Tokens("fresh.acc.ess", None, 1_764_250_000), now=1_764_190_000)
    assert (new.access_token, new.refresh_token, new.expires_at) == ("fresh.acc.ess", t.refresh_token, 1_764_250_000)
    assert new.refresh_expires_at == t.refresh_expires_at and new.issued_at == 1_764_190_000


def test_login_tokens_start_a_15_day_refresh_window():
    t = FyersToken.from_tokens(Tokens("a.b.c", "r.e.f", 1_764_160_000), now=1_764_100_000)
    assert t.refresh_expires_at - t.issued_at == 15 * 86_400
    assert t.access_expired(now=1_764_159_990) and not t.access_expired(now=1_764_100_000)
