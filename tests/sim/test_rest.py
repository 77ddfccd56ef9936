"""The REST API: login page, token endpoints, symbol-token, history and market status, as Fyers v3."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fyers import errors
from fyers.sim.credentials import app_id_hash

SBIN = "NSE:SBIN-EQ"
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def sim(fyers_sim):
    return fyers_sim(speed=400, symbols=[SBIN, "NSE:NIFTY50-INDEX"])


def _auth(sim, token=None):
    token = token or sim.issue_tokens()["access_token"]
    return {"Authorization": f"{sim.config.app_id}:{token}"}


def _login(sim, state="st-42", fy_id=None, pin=None) -> requests.Response:
    """The browser flow: GET the login page, POST its form with the test user."""
    params = {"client_id": sim.config.app_id, "redirect_uri": REDIRECT, "response_type": "code", "state": state}
    page = requests.get(f"{sim.api_url}/api/v3/generate-authcode", params=params, timeout=10)
    assert page.status_code == 200 and "<form" in page.text
    form = {**params, "fy_id": fy_id or sim.config.fy_id, "pin": pin or sim.config.pin}
    return requests.post(f"{sim.api_url}/api/v3/generate-authcode", data=form, allow_redirects=False, timeout=10)


def _auth_code(sim) -> str:
    return parse_qs(urlsplit(_login(sim).headers["Location"]).query)["auth_code"][0]


def _validate(sim, code, app_hash=None) -> requests.Response:
    body = {"grant_type": "authorization_code", "appIdHash": app_hash or app_id_hash(sim.config.app_id,
                                                                                     sim.config.secret_key),
            "code": code}
    return requests.post(f"{sim.api_url}/api/v3/validate-authcode", json=body, timeout=10)


def test_login_page_redirects_with_auth_code_and_state(sim):
    resp = _login(sim, state="xyz")
    assert resp.status_code == 302
    loc = urlsplit(resp.headers["Location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == REDIRECT
    q = parse_qs(loc.query)
    assert q["s"] == ["ok"] and q["code"] == ["200"] and q["state"] == ["xyz"] and q["auth_code"][0]


def test_login_with_wrong_pin_shows_the_page_again(sim):
    resp = _login(sim, pin="9999")
    assert resp.status_code == 401 and "Wrong Fyers ID or PIN" in resp.text and "Location" not in resp.headers


def test_login_page_rejects_unknown_client_id(sim):
    resp = requests.get(f"{sim.api_url}/api/v3/generate-authcode", timeout=10,
                        params={"client_id": "NOPE-100", "redirect_uri": REDIRECT, "response_type": "code"})
    assert resp.status_code == 400 and "client_id" in resp.json()["message"]


def test_login_page_enforces_a_registered_redirect_uri(fyers_sim):
    sim = fyers_sim(symbols=[SBIN], redirect_uri="https://example.test/cb")
    resp = requests.get(f"{sim.api_url}/api/v3/generate-authcode", timeout=10,
                        params={"client_id": sim.config.app_id, "redirect_uri": REDIRECT, "response_type": "code"})
    assert resp.status_code == 400 and "redirect_uri" in resp.json()["message"]


def test_auth_code_gives_access_and_refresh_tokens(sim):
    body = _validate(sim, _auth_code(sim)).json()
    assert body["s"] == "ok" and body["code"] == 200
    assert body["access_token"].count(".") == 2 and body["refresh_token"].count(".") == 2
    resp = requests.get(f"{sim.api_url}/api/v3/marketStatus", headers=_auth(sim, body["access_token"]), timeout=10)
    assert resp.status_code == 200


def test_app_id_hash_is_sha256_of_app_id_and_secret(sim):
    want = hashlib.sha256(f"{sim.config.app_id}:{sim.config.secret_key}".encode()).hexdigest()
    assert _validate(sim, _auth_code(sim), app_hash=want).status_code == 200
    wrong = hashlib.sha256(f"{sim.config.app_id}:wrong".encode()).hexdigest()
    resp = _validate(sim, _auth_code(sim), app_hash=wrong)
    assert resp.status_code == 400 and resp.json()["code"] == errors.AUTH_FAILED


def test_auth_code_works_once(sim):
    code = _auth_code(sim)
    assert _validate(sim, code).status_code == 200
    resp = _validate(sim, code)
    assert resp.json() == {"s": "error", "code": errors.INVALID_TOKEN, "message": "auth code already used"}


def _refresh(sim, refresh_token, pin=None) -> requests.Response:
    body = {"grant_type": "refresh_token", "appIdHash": app_id_hash(sim.config.app_id, sim.config.secret_key),
            "refresh_token": refresh_token, "pin": pin or sim.config.pin}
    return requests.post(f"{sim.api_url}/api/v3/validate-refresh-token", json=body, timeout=10)


def test_refresh_token_with_pin_gives_a_new_access_token(sim):
    tokens = sim.issue_tokens()
    body = _refresh(sim, tokens["refresh_token"]).json()
    assert body["s"] == "ok" and body["access_token"] != tokens["access_token"]
    assert "refresh_token" not in body


def test_refresh_with_wrong_pin_is_refused(sim):
    resp = _refresh(sim, sim.issue_tokens()["refresh_token"], pin="0000")
    assert resp.status_code == 400 and resp.json()["code"] == errors.WRONG_PIN


def test_expired_refresh_token_is_refused(fyers_sim):
    sim = fyers_sim(symbols=[SBIN], refresh_ttl=-1)
    resp = _refresh(sim, sim.issue_tokens()["refresh_token"])
    assert resp.json()["code"] == errors.REFRESH_EXPIRED


def test_access_token_is_not_a_refresh_token(sim):
    resp = _refresh(sim, sim.issue_tokens()["access_token"])
    assert resp.json()["code"] == errors.INVALID_TOKEN


def test_symbol_token_maps_valid_symbols_and_lists_invalid_ones(sim):
    token = sim.issue_tokens()["access_token"]
    resp = requests.post(f"{sim.api_url}/data/symbol-token", json={"symbols": [SBIN, "NSE:NOPE-EQ"]},
                         headers={"Authorization": token}, timeout=10)  # the bare token, as the SDK sends
    assert resp.json()["validSymbol"] == {SBIN: "10100000003045"}
    assert resp.json()["invalidSymbol"] == ["NSE:NOPE-EQ"]


def test_symbol_token_takes_at_most_500_symbols(sim):
    resp = requests.post(f"{sim.api_url}/data/symbol-token", json={"symbols": [SBIN] * 501},
                         headers=_auth(sim), timeout=10)
    assert resp.status_code == 400 and "500" in resp.json()["message"]


def test_requests_without_a_token_are_refused(sim):
    resp = requests.get(f"{sim.api_url}/api/v3/marketStatus", timeout=10)
    assert resp.status_code == 401 and resp.json()["code"] == errors.INVALID_TOKEN


def test_a_forged_token_is_refused(sim):
    head, body, _ = sim.issue_tokens()["access_token"].split(".")
    resp = requests.get(f"{sim.api_url}/api/v3/marketStatus", headers=_auth(sim, f"{head}.{body}.AAAA"), timeout=10)
    assert resp.json()["code"] == errors.INVALID_TOKEN


def test_an_expired_access_token_is_refused(fyers_sim):
    sim = fyers_sim(symbols=[SBIN], token_ttl=-1)
    resp = requests.get(f"{sim.api_url}/api/v3/marketStatus", headers=_auth(sim), timeout=10)
    assert resp.status_code == 401 and resp.json()["code"] == errors.TOKEN_EXPIRED


def _history(sim, **params) -> requests.Response:
    query = {"symbol": SBIN, "resolution": "5", "date_format": "0", "cont_flag": "1", **params}
    return requests.get(f"{sim.api_url}/data/history", params=query, headers=_auth(sim), timeout=10)


def test_history_returns_the_candles_of_every_trade_so_far(fyers_sim):
    sim = fyers_sim(symbols=[SBIN], start_time=dt.time(15, 30), speed=400)
    s = sim.market.session
    body = _history(sim, range_from=s.open_ts, range_to=s.close_ts).json()
    assert body["s"] == "ok"
    assert body["candles"] == sim.candles(SBIN, 5)
    assert len(body["candles"]) == 75


def test_history_selects_candles_by_their_start_not_trades_by_range_to(fyers_sim):
    # Fyers picks candles whose timestamp lies in the range: a range ending one second into the
    # last candle still returns that whole candle, with every trade in it.
    sim = fyers_sim(symbols=[SBIN], start_time=dt.time(15, 30), speed=400)
    s = sim.market.session
    last_start = s.close_ts - 300
    body = _history(sim, range_from=last_start, range_to=last_start + 1).json()
    assert body["candles"] == [sim.candles(SBIN, 5)[-1]]


def test_history_never_shows_the_future(sim):
    s = sim.market.session
    candles = _history(sim, range_from=s.open_ts, range_to=s.close_ts).json()["candles"]
    now = sim.clock.now()
    assert candles and candles[-1][0] <= now < s.open_ts + 3600


def test_history_accepts_dates_with_date_format_1(fyers_sim):
    sim = fyers_sim(symbols=[SBIN], start_time=dt.time(15, 30), speed=400)
    day = sim.market.day.isoformat()
    body = _history(sim, date_format="1", range_from=day, range_to=day, resolution="D").json()
    assert body["candles"] == sim.candles(SBIN, "D")


def test_history_caps_the_range_per_request(sim):
    s = sim.market.session
    resp = _history(sim, range_from=s.open_ts - 101 * 86400, range_to=s.close_ts)
    assert resp.status_code == 400 and "100 days" in resp.json()["message"]
    assert _history(sim, resolution="D", range_from=s.open_ts - 101 * 86400, range_to=s.close_ts).status_code == 200


@pytest.mark.parametrize("params", [{"resolution": "7"}, {"symbol": "NSE:NOPE-EQ"}, {"range_from": "yesterday"},
                                    {"date_format": "2"}])
def test_history_explains_bad_input(sim, params):
    s = sim.market.session
    resp = _history(sim, **{"range_from": s.open_ts, "range_to": s.close_ts, **params})
    assert resp.status_code == 400 and resp.json()["s"] == "error" and resp.json()["message"]


def test_history_needs_app_id_and_token(sim):
    s = sim.market.session
    resp = requests.get(f"{sim.api_url}/data/history", headers={"Authorization": sim.issue_tokens()["access_token"]},
                        params={"symbol": SBIN, "resolution": "5", "date_format": "0", "range_from": s.open_ts,
                                "range_to": s.close_ts}, timeout=10)
    assert resp.status_code == 401 and "APP_ID:ACCESS_TOKEN" in resp.json()["message"]


def test_market_status_follows_the_simulated_clock(fyers_sim):
    pre = fyers_sim(symbols=[SBIN], start_time=dt.time(9, 0), speed=1)
    live = fyers_sim(symbols=[SBIN], speed=1)
    for sim, want in ((pre, "PREOPEN"), (live, "OPEN")):
        body = requests.get(f"{sim.api_url}/api/v3/marketStatus", headers=_auth(sim), timeout=10).json()
        assert {row["status"] for row in body["marketStatus"]} == {want}


def test_unknown_path_is_404_json(sim):
    resp = requests.get(f"{sim.api_url}/api/v3/nothing", timeout=10)
    assert resp.status_code == 404 and resp.json()["s"] == "error"


def test_real_rate_limits_refuse_the_eleventh_request_in_a_second():
    from fyers.sim.limits import RateLimits

    limits = RateLimits()
    answers = [limits.check(now=100.0 + i * 0.01) for i in range(11)]
    assert answers[:10] == [None] * 10
    assert answers[10][0] == 429 and answers[10][1] == errors.RATE_LIMITED and "10 requests per second" in answers[10][2]
    assert limits.check(now=101.5) is None  # a second later the window has room again


def test_real_rate_limits_cap_a_minute_at_200():
    from fyers.sim.limits import RateLimits

    limits = RateLimits()
    answers = [limits.check(now=i * 0.25) for i in range(201)]  # 4/s: under the per-second limit
    assert all(a is None for a in answers[:200]) and "200 requests per minute" in answers[200][2]


def test_rate_limits_when_enabled_answer_429_over_http(fyers_sim):
    sim = fyers_sim(symbols=[SBIN], rate_limits=True)
    headers = _auth(sim)
    codes = []
    while 429 not in codes and len(codes) < 250:  # 10/s trips first; 200/min bounds a slow machine
        codes.append(requests.get(f"{sim.api_url}/api/v3/marketStatus", headers=headers, timeout=10).status_code)
    assert codes[0] == 200 and codes[-1] == 429


def test_a_fault_answered_before_the_body_is_read_leaves_a_kept_alive_connection_usable(sim):
    http = requests.Session()  # one kept-alive connection for both calls
    url = f"{sim.api_url}/data/symbol-token"
    token = sim.issue_tokens()["access_token"]
    sim.faults.http_5xx(1, 503)
    first = http.post(url, json={"symbols": [SBIN]}, headers={"Authorization": token}, timeout=10)
    second = http.post(url, json={"symbols": [SBIN]}, headers={"Authorization": token}, timeout=10)
    assert first.status_code == 503
    assert second.status_code == 200 and SBIN in second.json()["validSymbol"]
