"""The simulator restates Fyers' facts on purpose (fyers/sim/__init__.py); here the two statements meet.

Each fact is written twice, in the client (fyers/) and in the simulator (fyers/sim/), both from
Fyers' documentation (shared/FYERS.md), so that a client mistake is not mirrored by the stand-in it
is tested against. Two statements can drift apart silently; these tests make a drift fail, and the
failure says which side to check against the documentation.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fyers import auth, history, ratelimit, shared_limiter, socket, symbols
from fyers.sim import config as sim_config
from fyers.sim import credentials as sim_credentials
from fyers.sim import limits as sim_limits
from fyers.sim import market as sim_market
from fyers.sim import rest as sim_rest
from market.session import DAY


def test_history_range_caps_are_the_same_in_client_and_simulator():
    assert history.MAX_DAYS_INTRADAY == sim_rest.MAX_RANGE_DAYS_INTRADAY == 100
    assert history.MAX_DAYS_DAILY == sim_rest.MAX_RANGE_DAYS_DAILY == 366


def test_history_minute_resolutions_are_the_same_in_client_and_simulator():
    assert {int(r) for r in history.MINUTE_RESOLUTIONS} == set(sim_market.MINUTE_RESOLUTIONS)


def test_symbols_per_data_socket_connection_are_the_same_in_client_and_simulator():
    assert socket.MAX_SYMBOLS == sim_config.MAX_SYMBOLS_PER_CONNECTION == sim_config.SimConfig().max_symbols


def test_symbols_per_symbol_token_call_are_the_same_in_client_and_simulator():
    assert symbols.MAX_SYMBOLS_PER_REQUEST == sim_config.MAX_SYMBOLS_PER_TOKEN_CALL


def test_the_rate_limits_are_the_same_in_client_and_simulator():
    # The client paces itself per second and per minute (fyers.ratelimit) and counts the day's
    # requests across processes (fyers.shared_limiter); the simulator enforces all three windows.
    simulated = {(count, period) for period, count, _ in sim_limits.WINDOWS}
    client = {*ratelimit.FYERS_LIMITS, (shared_limiter.FYERS_DAILY_LIMIT, float(DAY))}
    assert client == simulated


@given(st.text(max_size=40), st.text(max_size=40))
def test_the_app_id_hash_is_the_same_in_client_and_simulator(app_id, secret):
    assert auth.app_id_hash(app_id, secret) == sim_credentials.app_id_hash(app_id, secret)


def test_an_access_token_the_simulator_issues_carries_the_claims_the_client_reads():
    issuer = sim_credentials.CredentialIssuer(sim_credentials.Account(
        sim_config.TEST_APP_ID, sim_config.TEST_SECRET_KEY, sim_config.TEST_FY_ID, sim_config.TEST_PIN,
        token_ttl=3600.0, refresh_ttl=86_400.0))
    token = issuer.issue_access_token()
    claims = auth.read_access_token(token)  # the client's reader, without the simulator's key
    checked = issuer.check_access_token(token)  # the simulator's, signature verified
    assert claims.exp == checked["exp"] and claims.hsm_key == checked["hsm_key"]
    assert issuer.check_hsm_key(claims.hsm_key)["jti"] == checked["jti"]  # the key the socket logs in with
