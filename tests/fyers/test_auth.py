"""Auth: login page → auth code → tokens → refresh, against the simulator; reading access tokens."""

from __future__ import annotations

import base64
import datetime as dt
from html.parser import HTMLParser
from urllib.parse import urljoin

import orjson
import pytest
import requests

from fyers import errors
from fyers.auth import FyersAuth, auth_code_from_redirect, login_url, new_state, read_access_token
from fyers.ratelimit import RateLimiter
from fyers.rest import RestClient
from fyers.sim.config import TEST_APP_ID, TEST_FY_ID, TEST_PIN, TEST_SECRET_KEY
from fyers.sim.testing import RawHsmClient

REDIRECT = "https://example.test/callback"


class _Form(HTMLParser):
    """The login page's form: its action and every input's value (what a browser would submit)."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def browser_login(url: str, fy_id: str = TEST_FY_ID, pin: str = TEST_PIN) -> requests.Response:
    page = requests.get(url, timeout=10)
    page.raise_for_status()
    form = _Form()
    form.feed(page.text)
    form.fields.update(fy_id=fy_id, pin=pin)
    return requests.post(urljoin(url, form.action), data=form.fields, allow_redirects=False, timeout=10)


def make_auth(sim, secret: str = TEST_SECRET_KEY) -> FyersAuth:
    return FyersAuth(RestClient(sim.api_url, RateLimiter(), backoff=0.01), TEST_APP_ID, secret)


def login(sim) -> tuple[FyersAuth, str]:
    state = new_state()
    resp = browser_login(login_url(sim.api_url, TEST_APP_ID, REDIRECT, state))
    assert resp.status_code == 302
    return make_auth(sim), auth_code_from_redirect(resp.headers["Location"], state)


def test_login_through_the_page_gives_tokens_the_data_socket_accepts(fyers_sim):
    sim = fyers_sim()
    auth, code = login(sim)
    tokens = auth.exchange(code)
    assert tokens.refresh_token
    claims = read_access_token(tokens.access_token)
    assert claims.exp == tokens.expires_at > dt.datetime.now().timestamp()
    with RawHsmClient(sim.ws_url) as ws:
        assert ws.auth(tokens.access_token).ok


def test_redirect_with_a_state_we_did_not_issue_is_refused(fyers_sim):
    sim = fyers_sim()
    resp = browser_login(login_url(sim.api_url, TEST_APP_ID, REDIRECT, "theirs"))
    with pytest.raises(errors.StateMismatchError, match="state we did not issue"):
        auth_code_from_redirect(resp.headers["Location"], "ours")


def test_wrong_pin_on_the_login_page_gives_no_redirect(fyers_sim):
    sim = fyers_sim()
    resp = browser_login(login_url(sim.api_url, TEST_APP_ID, REDIRECT, new_state()), pin="0000")
    assert resp.status_code != 302 and "Wrong" in resp.text


def test_failed_login_redirect_is_an_error():
    with pytest.raises(errors.FyersError, match="login failed"):
        auth_code_from_redirect("https://x.test/cb?s=error&code=-16&message=denied&state=st", "st")


def test_auth_code_works_once(fyers_sim):
    auth, code = login(fyers_sim())
    auth.exchange(code)
    with pytest.raises(errors.InvalidTokenError, match="already used"):
        auth.exchange(code)


def test_wrong_secret_key_is_auth_failed(fyers_sim):
    sim = fyers_sim()
    _, code = login(sim)
    with pytest.raises(errors.AuthFailedError, match="appIdHash"):
        make_auth(sim, secret="not-the-secret").exchange(code)


def test_refresh_with_pin_gives_a_new_access_token(fyers_sim):
    sim = fyers_sim()
    auth, code = login(sim)
    tokens = auth.exchange(code)
    fresh = auth.refresh(tokens.refresh_token, TEST_PIN)
    assert fresh.access_token != tokens.access_token and fresh.refresh_token is None
    assert read_access_token(fresh.access_token).hsm_key


def test_refresh_with_wrong_pin_raises_wrong_pin(fyers_sim):
    sim = fyers_sim()
    auth, code = login(sim)
    with pytest.raises(errors.WrongPinError) as err:
        auth.refresh(auth.exchange(code).refresh_token, "9999")
    assert err.value.code == errors.WRONG_PIN


def test_expired_refresh_token_asks_for_a_new_login(fyers_sim):
    sim = fyers_sim(refresh_ttl=-1)
    auth, code = login(sim)
    with pytest.raises(errors.RefreshTokenExpiredError, match="log in again"):
        auth.refresh(auth.exchange(code).refresh_token, TEST_PIN)


def _jwt(payload: dict) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    return f"{b64(b'{}')}.{b64(orjson.dumps(payload))}.sig"


def test_access_token_exp_and_hsm_key_are_read_without_verification():
    claims = read_access_token(_jwt({"exp": 1_764_200_000, "hsm_key": "abc123", "sub": "access_token"}))
    assert (claims.exp, claims.hsm_key) == (1_764_200_000, "abc123")
    assert "abc123" not in repr(claims)


@pytest.mark.parametrize("token, reason", [
    ("not-a-jwt", "not a JWT"),
    ("a.!!!.c", "base64url JSON"),
    (_jwt({"hsm_key": "k"}), "no numeric 'exp'"),
    (_jwt({"exp": 1}), "no 'hsm_key'"),
])
def test_unusable_access_token_is_invalid_token(token, reason):
    with pytest.raises(errors.InvalidTokenError, match=reason):
        read_access_token(token)


def test_login_url_carries_app_redirect_and_state():
    url = login_url("https://api-t1.fyers.in/", "APP-100", "https://me.test/cb", "s1")
    assert url == ("https://api-t1.fyers.in/api/v3/generate-authcode?client_id=APP-100&redirect_uri="
                   "https%3A%2F%2Fme.test%2Fcb&response_type=code&state=s1")


def test_logged_in_token_from_ssm_drives_the_data_socket(fyers_sim, aws, socket_harness):
    # The whole client story: browser login → token in SSM → the socket reads it from SSM and streams.
    from fyers.token_store import FyersToken, TokenStore

    sim = fyers_sim(speed=120)
    auth, code = login(sim)
    store = TokenStore(aws.client("ssm"), "/tickpipe/test/")
    store.save(FyersToken.from_tokens(auth.exchange(code)))
    h = socket_harness(sim, ["NSE:SBIN-EQ"], token=lambda: store.load().access_token)
    h.wait_ticks(5)
    assert {t["sym"] for t in list(h.ticks)} == {"NSE:SBIN-EQ"}
