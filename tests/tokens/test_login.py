"""The login page (tokens/login.py) served on 127.0.0.1 against the simulator's Fyers and moto's SSM,
walked with a scripted browser (requests): every route and every bad input."""

from __future__ import annotations

import logging
import time

import boto3
import msgspec
import pytest
import requests
from botocore.config import Config
from login_helpers import browser_with_session, csrf_of, fyers_login, query_of, start_login, start_page

from fyers.auth import read_access_token
from fyers.errors import TokenNotFoundError
from fyers.token_store import TokenStore
from tickpipe import names
from tokens.login import FailureLimiter, LoginApp, Request
from tokens.login_state import STATE_TTL
from tokens.refresh import record_result


@pytest.fixture
def page(aws, fyers_sim):
    p = start_page(fyers_sim(), aws.client("ssm"))
    yield p
    p.server.stop()


def stored(page):
    return TokenStore(page.ssm, page.settings.ssm_prefix).load()


def nothing_stored(page) -> bool:
    try:
        stored(page)
    except TokenNotFoundError:
        return True
    return False


# --- the login link ------------------------------------------------------------------------------


def test_without_a_session_the_page_asks_for_a_login_link_and_shows_no_status(page):
    r = requests.get(page.url + "/", timeout=10)
    assert r.status_code == 401
    assert "tickpipe login-link" in r.text and "Refresh token" not in r.text


def test_a_login_link_opens_a_session_and_redirects_to_a_clean_address(page):
    r = requests.get(page.link(), allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_the_status_page_shows_a_session_no_token_yet_and_the_login_button(page):
    s = browser_with_session(page)
    r = s.get(page.url + "/", timeout=10)
    assert r.status_code == 200
    assert "no token stored yet" in r.text and 'action="/login"' in r.text and csrf_of(r.text)


def test_a_login_link_works_once(page):
    link = page.link()
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 303
    r = requests.get(link, allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "used before" in r.text and "Set-Cookie" not in r.headers


def test_an_expired_login_link_is_refused(page):
    link = page.link(minutes=1, now=time.time() - 120)
    r = requests.get(link, allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "expired" in r.text and "Set-Cookie" not in r.headers


@pytest.mark.parametrize("tamper", ["signature", "expiry", "nonce", "truncated", "empty"])
def test_a_tampered_login_link_is_refused(page, tamper):
    base, _, value = page.link().partition("?link=")
    exp, nonce, mac = value.split(".")
    forged = {"signature": f"{exp}.{nonce}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",
              "expiry": f"{int(exp) + 60}.{nonce}.{mac}",
              "nonce": f"{exp}.{nonce[::-1]}.{mac}",
              "truncated": f"{exp}.{nonce}",
              "empty": ""}[tamper]
    r = requests.get(f"{base}?link={forged}", allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "not valid" in r.text and "Set-Cookie" not in r.headers


def test_a_forged_session_cookie_is_no_session(page):
    s = browser_with_session(page)
    [cookie] = list(s.cookies)
    cookie.value = cookie.value[:-3] + "xyz"
    assert s.get(page.url + "/", timeout=10).status_code == 401


def test_a_rotated_key_ends_every_session_and_link(page):
    from tokens.login_link_cli import mint

    s = browser_with_session(page)
    old_link = page.link()
    mint(page.ssm, page.settings, None, 15, rotate=True)
    assert s.get(page.url + "/", timeout=10).status_code == 401
    assert requests.get(old_link, allow_redirects=False, timeout=10).status_code == 403


def test_without_a_link_key_the_page_says_how_to_create_one(page):
    page.ssm.delete_parameter(Name=page.settings.ssm_name(names.SSM_LOGIN_KEY))
    r = requests.get(page.url + "/", timeout=10)
    assert r.status_code == 503 and "tickpipe login-link" in r.text


# --- the whole login -----------------------------------------------------------------------------


def test_a_login_stores_the_token_and_the_status_page_shows_it_valid(page):
    s = browser_with_session(page)
    fyers_url = start_login(page, s)
    assert fyers_url.startswith(page.sim.api_url + "/api/v3/generate-authcode?")
    q = query_of(fyers_url)
    assert (q["client_id"], q["redirect_uri"], q["response_type"]) == (
        page.sim.config.app_id, page.server.callback_url, "code")
    callback = fyers_login(page, fyers_url)
    r = s.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/?done=1"
    token = stored(page)
    assert read_access_token(token.access_token).exp > time.time()
    assert token.refresh_expires_at - token.issued_at == 15 * 86_400
    status = s.get(page.url + "/?done=1", timeout=10).text
    assert "Logged in" in status and ">valid<" in status and "15.0 days left" in status


def test_the_token_is_written_under_the_stacks_key(page, monkeypatch):
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("TICKPIPE_TOKEN_KMS_KEY", key)
    s = browser_with_session(page)
    s.get(fyers_login(page, start_login(page, s)), timeout=10)
    [param] = page.ssm.describe_parameters(ParameterFilters=[
        {"Key": "Name", "Values": [page.settings.ssm_name(names.SSM_TOKEN)]}])["Parameters"]
    assert param["KeyId"] == key


def test_the_status_page_shows_the_last_morning_refresh(page):
    record_result(page.ssm, page.settings, False, "Fyers refused the PIN: put the account's PIN in /x", time.time())
    s = browser_with_session(page)
    text = s.get(page.url + "/", timeout=10).text
    assert "failed" in text and "Fyers refused the PIN" in text


def test_login_needs_the_forms_csrf_token(page):
    s = browser_with_session(page)
    r = s.post(page.url + "/login", data={"csrf": "x"}, headers={"Origin": page.url}, allow_redirects=False,
               timeout=10)
    assert r.status_code == 403 and "CSRF" in r.text


def test_login_refuses_a_form_posted_from_another_site(page):
    s = browser_with_session(page)
    csrf = csrf_of(s.get(page.url + "/", timeout=10).text)
    r = s.post(page.url + "/login", data={"csrf": csrf}, headers={"Origin": "https://evil.example"},
               allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "another site" in r.text


def test_login_refuses_a_cross_site_fetch(page):
    s = browser_with_session(page)
    csrf = csrf_of(s.get(page.url + "/", timeout=10).text)
    r = s.post(page.url + "/login", data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"},
               allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "another site" in r.text


def test_login_without_a_session_is_refused(page):
    r = requests.post(page.url + "/login", data={"csrf": "x"}, allow_redirects=False, timeout=10)
    assert r.status_code == 403


# --- the callback's state ------------------------------------------------------------------------


def test_a_callback_without_state_is_refused_and_nothing_is_stored(page):
    s = browser_with_session(page)
    callback = fyers_login(page, start_login(page, s))
    q = query_of(callback)
    r = s.get(page.server.callback_url, params={k: v for k, v in q.items() if k != "state"}, timeout=10)
    assert r.status_code == 400 and "no state" in r.text and nothing_stored(page)


def test_a_forged_state_is_refused_and_nothing_is_stored(page):
    s = browser_with_session(page)
    callback = fyers_login(page, start_login(page, s))
    q = query_of(callback) | {"state": "forged-state-0123456789"}
    r = s.get(page.server.callback_url, params=q, timeout=10)
    assert r.status_code == 400 and "unknown or already used" in r.text and nothing_stored(page)


def test_a_reused_state_is_refused_and_the_stored_token_stays(page):
    s = browser_with_session(page)
    callback = fyers_login(page, start_login(page, s))
    assert s.get(callback, allow_redirects=False, timeout=10).status_code == 303
    first = stored(page)
    r = s.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "already used" in r.text
    assert stored(page) == first


def test_an_expired_state_is_refused_and_nothing_is_stored(aws, fyers_sim):
    now = [time.time()]
    page = start_page(fyers_sim(), aws.client("ssm"), clock=lambda: now[0])
    try:
        s = browser_with_session(page)
        callback = fyers_login(page, start_login(page, s))
        now[0] += STATE_TTL + 1
        r = s.get(callback, allow_redirects=False, timeout=10)
        assert r.status_code == 400 and "longer than 10 minutes" in r.text and nothing_stored(page)
    finally:
        page.server.stop()


def test_a_state_issued_to_another_browser_is_refused(page):
    victim, attacker = browser_with_session(page), browser_with_session(page)
    callback = fyers_login(page, start_login(page, attacker))
    r = victim.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "another browser session" in r.text and nothing_stored(page)


def test_a_callback_in_a_browser_without_session_points_at_the_terminal_flow(page):
    s = browser_with_session(page)
    callback = fyers_login(page, start_login(page, s))
    r = requests.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 401 and "tickpipe login" in r.text and nothing_stored(page)


def test_a_failed_fyers_login_shows_fyers_message_and_stores_nothing(page):
    s = browser_with_session(page)
    state = query_of(start_login(page, s))["state"]
    r = s.get(page.server.callback_url, params={"s": "error", "code": "-16", "message": "user cancelled",
                                                 "state": state}, timeout=10)
    assert r.status_code == 400 and "user cancelled" in r.text and nothing_stored(page)


@pytest.mark.parametrize(("code", "says"), [(-15, "refused the auth code"), (-16, "refused the app"),
                                            (-17, "refused the auth code")])
def test_fyers_error_codes_on_the_exchange_are_explained_and_store_nothing(page, code, says):
    s = browser_with_session(page)
    callback = fyers_login(page, start_login(page, s))
    page.sim.faults.reject(code)
    r = s.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and says in r.text and f"Fyers error {code}" in r.text
    assert nothing_stored(page)


def test_a_wrong_secret_key_is_fyers_minus_16_naming_the_parameter(page):
    page.ssm.put_parameter(Name=page.settings.ssm_name(names.SSM_SECRET_KEY), Value="not-the-secret",
                           Type="SecureString", Overwrite=True)
    s = browser_with_session(page)
    r = s.get(fyers_login(page, start_login(page, s)), allow_redirects=False, timeout=10)
    assert "Fyers error -16" in r.text and page.settings.ssm_name(names.SSM_SECRET_KEY) in r.text
    assert "not-the-secret" not in r.text and nothing_stored(page)


def test_fyers_down_is_a_502_and_stores_nothing(page):
    s = browser_with_session(page)
    callback = fyers_login(page, start_login(page, s))
    page.sim.faults.http_5xx(1, 503)
    r = s.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 502 and nothing_stored(page)


# --- SSM unavailable, rate limits, routes, headers -----------------------------------------------


def test_ssm_unavailable_is_a_503_page_that_stores_nothing(page):
    dead = boto3.client("ssm", endpoint_url="http://127.0.0.1:9", region_name="ap-south-1",
                        config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    app = LoginApp(page.settings, dead)
    r = app.handle(Request("GET", "/", "http://127.0.0.1", query={"link": "1.2.3"}))
    assert r.status == 503 and "SSM unavailable" in r.body and "Nothing was stored" in r.body


def test_ssm_refusing_access_is_a_503_page(page, monkeypatch):
    from botocore.exceptions import ClientError

    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")

    monkeypatch.setattr(page.ssm, "get_parameter", refuse)
    r = requests.get(page.url + "/", timeout=10)
    assert r.status_code == 503 and "AccessDeniedException" in r.text


def test_failed_attempts_are_rate_limited_per_client(aws, fyers_sim):
    page = start_page(fyers_sim(), aws.client("ssm"), limiter=FailureLimiter(per_client=3, overall=100,
                                                                             refill_seconds=3600))
    try:
        for _ in range(3):
            assert requests.get(page.url + "/?link=1.2.3", timeout=10).status_code == 403
        r = requests.get(page.link(), allow_redirects=False, timeout=10)  # even a good link now
        assert r.status_code == 429
    finally:
        page.server.stop()


def test_the_limiter_refills_with_time():
    now = [0.0]
    limiter = FailureLimiter(per_client=2, overall=10, refill_seconds=60, clock=lambda: now[0])
    limiter.failed("a")
    limiter.failed("a")
    assert not limiter.allowed("a") and limiter.allowed("b")
    now[0] += 30
    assert limiter.allowed("a")


def test_the_overall_limit_holds_across_clients():
    limiter = FailureLimiter(per_client=5, overall=3, refill_seconds=3600)
    for client in ("a", "b", "c"):
        limiter.failed(client)
    assert not limiter.allowed("d")


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nope", 404), ("POST", "/", 405),
                                                        ("GET", "/login", 405), ("POST", "/callback", 405)])
def test_unknown_routes_and_methods(page, method, path, status):
    r = requests.request(method, page.url + path, timeout=10)
    assert r.status_code == status


@pytest.mark.parametrize("path", ["/", "/?link=x.y.z", "/callback", "/nope"])
def test_every_answer_carries_the_security_headers(page, path):
    h = requests.get(page.url + path, allow_redirects=False, timeout=10).headers
    csp = h["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert h["Cache-Control"] == "no-store" and h["X-Frame-Options"] == "DENY"
    assert h["Strict-Transport-Security"].startswith("max-age=") and h["Referrer-Policy"] == "same-origin"
    assert h["X-Content-Type-Options"] == "nosniff"


def test_no_secret_reaches_a_page_or_a_log_line(page, caplog):
    caplog.set_level(logging.DEBUG)
    s = browser_with_session(page)
    link = page.link()
    requests.get(link, allow_redirects=False, timeout=10)
    pages_seen = [s.get(page.url + "/", timeout=10).text]
    callback = fyers_login(page, start_login(page, s))
    r = s.get(callback, timeout=10)
    pages_seen.append(r.text)
    pages_seen.append(s.get(callback, timeout=10).text)  # the refused replay too
    token = stored(page)
    cfg = page.sim.config
    secrets = {"access token": token.access_token, "refresh token": token.refresh_token,
               "auth code": query_of(callback)["auth_code"], "secret key": cfg.secret_key,
               "link": link.partition("?link=")[2], "session": next(iter(s.cookies)).value}
    # Our own log lines, at every level (botocore's DEBUG wire dumps are off in Lambda: INFO there).
    logs = "\n".join(rec.getMessage() for rec in caplog.records if rec.name.split(".")[0] in ("tokens", "fyers"))
    assert "login started" in logs and "Fyers token stored" in logs
    for what, value in secrets.items():
        assert value not in logs, f"the {what} is in a log line"
        for text in pages_seen:
            assert value not in text, f"the {what} is in a page"


# --- the Lambda entry point ----------------------------------------------------------------------


def function_url_event(path: str, query: str = "", cookies: list[str] | None = None) -> dict:
    return {"version": "2.0", "rawPath": path, "rawQueryString": query, "cookies": cookies or [],
            "headers": {"host": "abc.lambda-url.ap-south-1.on.aws"},
            "requestContext": {"http": {"method": "GET", "sourceIp": "203.0.113.9"}}, "isBase64Encoded": False}


def test_the_lambda_handler_serves_function_url_events_with_a_secure_cookie(page, monkeypatch):
    for key, value in page.settings.environ().items():
        monkeypatch.setenv(key, value)
    from tokens.login import handler

    link = page.link().partition("?")[2]
    out = handler(function_url_event("/", link), None)
    assert out["statusCode"] == 303
    [cookie] = out["cookies"]
    assert cookie.startswith("__Host-tickpipe_session=") and "; Secure" in cookie
    status = handler(function_url_event("/", cookies=[cookie.split(";")[0]]), None)
    assert status["statusCode"] == 200 and "Log in with Fyers" in status["body"]
    assert status["headers"]["Cache-Control"] == "no-store"


def test_the_lambda_handlers_answers_are_function_url_responses(page, monkeypatch):
    """tokens.login.FunctionUrlResponse, checked on a redirect with a cookie and on a page."""
    for key, value in page.settings.environ().items():
        monkeypatch.setenv(key, value)
    from tokens.login import FunctionUrlResponse, handler

    redirect = handler(function_url_event("/", page.link().partition("?")[2]), None)
    shown = handler(function_url_event("/", cookies=[redirect["cookies"][0].split(";")[0]]), None)
    for out in (redirect, shown):
        assert msgspec.convert(out, FunctionUrlResponse) == out
        assert out["isBase64Encoded"] is False and isinstance(out["body"], str)


def test_an_unreadable_stored_state_is_refused_not_a_crash(page):
    import hashlib

    s = browser_with_session(page)
    callback = fyers_login(page, start_login(page, s))
    name = page.settings.ssm_name(names.SSM_LOGIN_STATES) + hashlib.sha256(query_of(callback)["state"].encode()).hexdigest()
    page.ssm.put_parameter(Name=name, Value="not json", Type="SecureString", Overwrite=True)
    r = s.get(callback, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "unreadable" in r.text and nothing_stored(page)


def test_expired_states_and_used_link_markers_are_swept(page):
    import hashlib

    from tokens.login_state import LoginRecords

    records = LoginRecords(page.ssm, page.settings.ssm_prefix)
    old = time.time() - 2 * STATE_TTL
    records.create_state("old-state", "x", now=old)
    records.mark_link_used("old-nonce", int(old))
    records.create_state("live-state", "x")
    assert records.sweep() == 2
    left = page.ssm.get_parameters_by_path(Path=page.settings.ssm_prefix + "login", Recursive=True)["Parameters"]
    kept = [p["Name"] for p in left if p["Name"].startswith((records.states, records.used))]
    assert kept == [records.states + hashlib.sha256(b"live-state").hexdigest()]


def test_the_lambda_handler_takes_a_base64_form_post_as_function_urls_send_it(page, monkeypatch):
    import base64

    for key, value in page.settings.environ().items():
        monkeypatch.setenv(key, value)
    from tokens.login import handler

    [cookie] = handler(function_url_event("/", page.link().partition("?")[2]), None)["cookies"]
    jar = [cookie.split(";")[0]]
    token = csrf_of(handler(function_url_event("/", cookies=jar), None)["body"])
    event = function_url_event("/login", cookies=jar)
    event["requestContext"]["http"]["method"] = "POST"
    event["headers"] |= {"origin": "https://abc.lambda-url.ap-south-1.on.aws",
                         "content-type": "application/x-www-form-urlencoded"}
    event |= {"body": base64.b64encode(f"csrf={token}".encode()).decode(), "isBase64Encoded": True}
    out = handler(event, None)
    assert out["statusCode"] == 303 and out["headers"]["Location"].startswith(page.sim.api_url)


@pytest.mark.parametrize("length", ["-5", "abc", "1e3"])
def test_the_local_server_answers_a_bad_content_length_with_400(page, length):
    import socket

    port = int(page.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nabc".encode())
        assert s.recv(200).startswith(b"HTTP/1.1 400 ")
