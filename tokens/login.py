"""Lambda "login": the Fyers token login page, on a Lambda Function URL (docs/login.md).

Routes (every answer carries the security headers of :func:`tokens.login_pages.security_headers`):

- ``GET /?link=…``  redeems a signed, expiring, single-use login link (``tickpipe login-link``):
  sets a session cookie and redirects to ``/``, so the link leaves the address bar.
- ``GET /``         with a session: the status page (token validity, days left on the refresh token,
  the last morning refresh) and a "Log in with Fyers" form; without one: how to get a link.
- ``POST /login``   (session, CSRF token, same origin) creates a random single-use ``state`` in SSM,
  bound to this session, and redirects to Fyers' login with the app id and redirect URI from SSM.
- ``GET /callback`` the app's redirect URI: consumes the state (missing, unknown, reused, expired or
  another session's → an error page, nothing stored), exchanges the auth code, stores the token with
  :func:`tokens.refresh.token_store` (exactly as the morning refresh does) and redirects to ``/``.

Failed link, session, CSRF and state checks are rate limited per client and overall. Nothing secret
(token, auth code, app secret, PIN, link, session) reaches a page or a log line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict, cast
from urllib.parse import parse_qs, urlencode

import orjson

from fyers.auth import FyersAuth, auth_code_from_redirect, login_url, new_state
from fyers.errors import (
    AuthFailedError,
    FyersError,
    FyersServerError,
    InvalidTokenError,
    RateLimitedError,
    StateMismatchError,
    TokenNotFoundError,
    TokenStoreError,
)
from fyers.rest import RestClient
from fyers.token_store import FyersToken
from tickpipe import names
from tickpipe.aws_errors import error_code
from tickpipe.config import Settings
from tokens import login_pages as pages
from tokens.errors import LinkExpiredError, LinkReusedError, LoginCredentialError, LoginSetupError, StateError
from tokens.login_keys import SESSION_TTL, LoginSession, Signer, decode_key
from tokens.login_reminder import RemindResponse
from tokens.login_state import LoginRecords
from tokens.options import TokenOptions
from tokens.refresh import PLACEHOLDER, days_left, token_store

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

SERVICE: Final = "login"
COOKIE: Final = "tickpipe_session"
SECURE_COOKIE: Final = "__Host-" + COOKIE  # __Host-: Secure, Path=/, no Domain: no sibling can set it
MAX_BODY: Final = 4096

log = logging.getLogger(__name__)


# --- requests and responses ---------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """An HTTP request, whether from a Function URL event or the local server."""

    method: str
    path: str
    base_url: str  # scheme://host of this page, e.g. https://abc.lambda-url.ap-south-1.on.aws
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    cookies: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    client: str = "?"

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://")

    def form(self) -> dict[str, str]:
        text = self.body[:MAX_BODY].decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


@dataclass
class Response:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)


def parse_cookies(headers: list[str]) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in headers:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(header)
        except CookieError:
            continue  # a malformed cookie header is no session
        jar.update({k: m.value for k, m in cookie.items()})
    return jar


# --- rate limit ---------------------------------------------------------------------------------


class FailureLimiter:
    """Token buckets spent by failed checks: per client and overall. In memory, so per execution
    environment; Terraform reserves one environment (concurrency 1), which makes it the whole
    function's limit (docs/login.md)."""

    def __init__(self, per_client: int = 5, overall: int = 30, refill_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 1000) -> None:
        self.per_client, self.overall, self.refill = per_client, overall, refill_seconds
        self.clock = clock
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def _level(self, key: str, cap: int, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(cap), now))
        return min(float(cap), tokens + (now - at) * cap / self.refill)

    def allowed(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            return (self._level("*", self.overall, now) >= 1
                    and self._level(client, self.per_client, now) >= 1)

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._buckets) > self.max_clients:
                self._buckets = {k: v for k, v in self._buckets.items() if k == "*"}
            for key, cap in (("*", self.overall), (client, self.per_client)):
                self._buckets[key] = (max(0.0, self._level(key, cap, now) - 1), now)


# --- status -------------------------------------------------------------------------------------


def token_view(ssm: SSMClient, settings: Settings, now: float) -> pages.TokenView:
    try:
        token: FyersToken = token_store(ssm, settings).load()
    except TokenNotFoundError:
        return pages.TokenView(False, "no token stored yet: log in below")
    except TokenStoreError:
        return pages.TokenView(False, "the stored token is not usable (Terraform's placeholder?): log in below")
    return pages.TokenView(True, None, not token.access_expired(now, margin=0), token.expires_at, token.issued_at,
                           token.refresh_expires_at, days_left(token, now))


def refresh_view(ssm: SSMClient, settings: Settings) -> pages.RefreshView:
    try:
        value = ssm.get_parameter(Name=settings.ssm_name(names.SSM_LAST_REFRESH))["Parameter"]["Value"]
        data = orjson.loads(value)
        return pages.RefreshView(int(data["at"]), bool(data["ok"]), str(data.get("message", "")))
    except ssm.exceptions.ParameterNotFound:
        return pages.RefreshView(None, None, "")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return pages.RefreshView(None, False, f"{settings.ssm_name(names.SSM_LAST_REFRESH)} is not readable")


# --- the app ------------------------------------------------------------------------------------


class LoginApp:
    """The routes, with their clients: boto3 SSM and the Fyers REST client."""

    def __init__(self, settings: Settings, ssm: SSMClient, rest: RestClient | None = None,
                 limiter: FailureLimiter | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.ssm = ssm
        self.rest = rest or RestClient(settings.fyers_api_url, retries=2)
        self.limiter = limiter or FailureLimiter()
        self.clock = clock
        self.records = LoginRecords(ssm, settings.ssm_prefix, key_id=TokenOptions.from_env().key_id)
        self.fyers_origin = pages.origin(settings.fyers_api_url)

    # -- plumbing ---------------------------------------------------------------------------------
    def _answer(self, status: int, body: str = "", **headers: str) -> Response:
        return Response(status, body, {"Content-Type": "text/html; charset=utf-8",
                                       **pages.security_headers((self.fyers_origin,)), **headers})

    def _redirect(self, location: str) -> Response:
        return self._answer(303, "", Location=location)

    def _error(self, status: int, title: str, message: str, hint: str = "", status_link: bool = True) -> Response:
        return self._answer(status, pages.message_page(title, message, hint=hint, status_link=status_link))

    def _reject(self, request: Request, status: int, title: str, message: str, hint: str = "") -> Response:
        """A failed check: spends the client's budget and logs why (never the value)."""
        self.limiter.failed(request.client)
        log.warning("login page refused %s %s from %s: %s", request.method, request.path, request.client, message)
        return self._error(status, title, message, hint)

    def _signer(self) -> Signer:
        name = self.settings.ssm_name(names.SSM_LOGIN_KEY)
        try:
            value = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except self.ssm.exceptions.ParameterNotFound:
            raise LoginSetupError(f"there is no login link key at {name}: run `tickpipe login-link` once") from None
        if value == PLACEHOLDER:
            raise LoginSetupError(f"{name} still holds Terraform's placeholder: run `tickpipe login-link` once")
        try:
            return Signer(decode_key(value))
        except ValueError as exc:
            raise LoginSetupError(f"{name}: {exc}; replace it with `tickpipe login-link --rotate-key`") from None

    def _cookie_name(self, request: Request) -> str:
        return SECURE_COOKIE if request.secure else COOKIE

    def _session(self, request: Request, signer: Signer) -> LoginSession:
        return signer.verify_session(request.cookies.get(self._cookie_name(request)), self.clock())

    # -- dispatch ---------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        from botocore.exceptions import BotoCoreError, ClientError

        routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            "/": {"GET": self.index}, "/login": {"POST": self.login}, "/callback": {"GET": self.callback}}
        methods = routes.get(request.path)
        if methods is None:
            return self._error(404, "Not found", f"There is no page at {request.path[:100]}.")
        route = methods.get(request.method)
        if route is None:
            return self._answer(405, pages.message_page("Method not allowed", f"{request.path} takes "
                                                        f"{', '.join(methods)} only."), Allow=", ".join(methods))
        try:
            return route(request)
        except LoginSetupError as exc:
            return self._error(503, "Not set up yet", str(exc), status_link=False)
        except (BotoCoreError, ClientError) as exc:
            detail = error_code(exc) or type(exc).__name__
            log.error("login page: SSM call failed (%s) on %s %s", detail, request.method, request.path)
            return self._error(503, "SSM unavailable", f"AWS Systems Manager could not be reached or refused "
                               f"the request ({detail}). Nothing was stored; try again in a minute.")

    # -- GET / ------------------------------------------------------------------------------------
    def index(self, request: Request) -> Response:
        if "link" in request.query:
            return self.redeem(request)
        signer = self._signer()
        try:
            session = self._session(request, signer)
        except LoginCredentialError:
            return self._error(401, "A login link is needed",
                               "This page is only for the operator of this tickpipe stack.",
                               "Get a link with `tickpipe login-link` (it needs AWS credentials for this "
                               "account), or use the one in the refresh-token reminder e-mail.",
                               status_link=False)
        now = self.clock()
        warnings = []
        redirect_uri = self._param(names.SSM_REDIRECT_URI)
        if redirect_uri and redirect_uri != request.base_url + "/callback":
            warnings.append(f"The app's redirect URI in SSM is not this page's /callback ({request.base_url}/callback):"
                            " Fyers will send the login elsewhere. Set fyers_redirect_uri to it and register it "
                            "with the Fyers app.")
        notice = "Logged in: the new token is stored." if request.query.get("done") == "1" else None
        body = pages.status_page(self.settings.env, token_view(self.ssm, self.settings, now),
                                 refresh_view(self.ssm, self.settings), signer.csrf_token(session),
                                 notice=notice, warnings=tuple(warnings))
        return self._answer(200, body)

    def redeem(self, request: Request) -> Response:
        if not self.limiter.allowed(request.client):
            return self._error(429, "Too many failed attempts", "Too many failed attempts: wait a few minutes.")
        signer = self._signer()
        now = self.clock()
        try:
            link = signer.verify_link(request.query.get("link"), now)
            self.records.mark_link_used(link.nonce, link.expires_at)
        except LinkExpiredError:
            return self._reject(request, 403, "Login link expired", "This login link has expired.",
                                "Mint a new one with `tickpipe login-link`.")
        except (LoginCredentialError, LinkReusedError) as exc:
            return self._reject(request, 403, "Login link refused", f"This login link is not valid: {exc}.",
                                "Mint a new one with `tickpipe login-link`.")
        cookie, _ = signer.mint_session(now)
        log.info("login link redeemed by %s", request.client)
        response = self._redirect("/")
        response.cookies.append(self._set_cookie(request, cookie))
        return response

    def _set_cookie(self, request: Request, value: str) -> str:
        # Lax, not Strict: the browser must send it on the top-level redirect back from Fyers.
        flags = "; Secure" if request.secure else ""
        return f"{self._cookie_name(request)}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_TTL}{flags}"

    def _param(self, key: str, decrypt: bool = False) -> str | None:
        try:
            value = self.ssm.get_parameter(Name=self.settings.ssm_name(key), WithDecryption=decrypt)["Parameter"]["Value"]
        except self.ssm.exceptions.ParameterNotFound:
            return None
        return None if value == PLACEHOLDER else value

    # -- POST /login ------------------------------------------------------------------------------
    def login(self, request: Request) -> Response:
        if not self.limiter.allowed(request.client):
            return self._error(429, "Too many failed attempts", "Too many failed attempts: wait a few minutes.")
        signer = self._signer()
        try:
            session = self._session(request, signer)
            # Browsers say where a form came from; a missing header (curl) still needs the CSRF token.
            if (request.headers.get("origin", request.base_url) != request.base_url
                    or request.headers.get("sec-fetch-site", "same-origin") != "same-origin"):
                raise LoginCredentialError("the form was posted from another site")
            signer.check_csrf(session, request.form().get("csrf"))
        except LoginCredentialError as exc:
            return self._reject(request, 403, "Login refused", f"{exc}.", "Open the status page and use its button.")
        app_id, redirect_uri = self._param(names.SSM_APP_ID), self._param(names.SSM_REDIRECT_URI)
        if not app_id or not redirect_uri:
            raise LoginSetupError(f"set {self.settings.ssm_name(names.SSM_APP_ID)} and "
                                  f"{self.settings.ssm_name(names.SSM_REDIRECT_URI)} first (docs/deploy.md)")
        self.records.sweep(self.clock())
        state = new_state()
        self.records.create_state(state, session.sid_hash, self.clock())
        log.info("login started by %s", request.client)
        return self._redirect(login_url(self.settings.fyers_api_url, app_id, redirect_uri, state))

    # -- GET /callback ----------------------------------------------------------------------------
    def callback(self, request: Request) -> Response:
        if not self.limiter.allowed(request.client):
            return self._error(429, "Too many failed attempts", "Too many failed attempts: wait a few minutes.")
        signer = self._signer()
        try:
            session = self._session(request, signer)
        except LoginCredentialError:
            return self._reject(request, 401, "No login session",
                                "This browser has no session for the login page, so the login was not used.",
                                "If you started it in a terminal with `tickpipe login`, paste this page's whole "
                                "address there. Otherwise open a login link and press the button again.")
        state = request.query.get("state")
        try:
            self.records.consume_state(state, session.sid_hash, self.clock())
        except StateError as exc:
            return self._reject(request, 400, "Login not accepted", f"{exc}. Nothing was stored.",
                                "If you started this login in a terminal with `tickpipe login`, paste this page's "
                                "whole address there instead.")
        try:  # the shared reader of Fyers' redirect (fyers/auth.py), as `tickpipe login` uses it
            code = auth_code_from_redirect(urlencode(dict(request.query)), state or "")
        except StateMismatchError:  # cannot happen after consume_state; kept as the shared reader's check
            return self._reject(request, 400, "Login not accepted", "The state does not match. Nothing was stored.")
        except FyersError as exc:
            log.warning("Fyers reported a failed login (code %s)", exc.code)
            return self._error(400, "Fyers login failed", f"{exc.message}. Nothing was stored.",
                               "Press the button on the status page to try again.")
        return self._exchange(code)

    def _exchange(self, code: str) -> Response:
        app_id, secret = self._param(names.SSM_APP_ID), self._param(names.SSM_SECRET_KEY, decrypt=True)
        if not app_id or not secret:
            raise LoginSetupError(f"set {self.settings.ssm_name(names.SSM_APP_ID)} and "
                                  f"{self.settings.ssm_name(names.SSM_SECRET_KEY)} first (docs/deploy.md)")
        try:
            tokens = FyersAuth(self.rest, app_id, secret).exchange(code)
        except AuthFailedError as exc:  # -16
            return self._fyers_error(exc, "Fyers refused the app's credentials: check that "
                                     f"{self.settings.ssm_name(names.SSM_SECRET_KEY)} holds the app's secret key "
                                     f"and {self.settings.ssm_name(names.SSM_APP_ID)} its app id.")
        except InvalidTokenError as exc:  # -15, -17
            return self._fyers_error(exc, "Fyers refused the auth code (invalid, expired or already used). "
                                     "Log in again from the status page.")
        except (FyersServerError, RateLimitedError) as exc:
            return self._fyers_error(exc, "Fyers is not answering properly right now; log in again in a few minutes.",
                                     status=502)
        except FyersError as exc:
            return self._fyers_error(exc, f"Fyers refused the login: {exc.message}.")
        token = FyersToken.from_tokens(tokens, self.clock())
        token_store(self.ssm, self.settings).save(token)
        log.info("Fyers token stored after a browser login; refresh token valid for %.1f days",
                 days_left(token, self.clock()))
        return self._redirect("/?done=1")

    def _fyers_error(self, exc: FyersError, message: str, status: int = 400) -> Response:
        log.warning("auth code exchange failed: Fyers error %s", exc.code)
        return self._error(status, "Fyers login failed", f"{message} (Fyers error {exc.code}) Nothing was stored.")


# --- Lambda -------------------------------------------------------------------------------------


# The Function URL request and response payloads ("Invoking Lambda function URLs", request and
# response payloads: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html), the fields
# this function reads and writes. Lambda turns the response into the HTTP answer, one Set-Cookie
# header per ``cookies`` item.
class FunctionUrlHttp(TypedDict, total=False):
    method: str
    path: str
    sourceIp: str


class FunctionUrlContext(TypedDict, total=False):
    http: FunctionUrlHttp


class FunctionUrlEvent(TypedDict, total=False):
    rawPath: str
    rawQueryString: str
    headers: dict[str, str]  # lower-case names; repeated headers comma-joined
    cookies: list[str]
    body: str
    isBase64Encoded: bool
    requestContext: FunctionUrlContext


class RemindEvent(TypedDict):
    """The scheduler's event for the refresh-token reminder (tokens.login_reminder)."""

    remind: Literal[True]


class FunctionUrlResponse(TypedDict):
    statusCode: int
    headers: dict[str, str]
    body: str
    cookies: list[str]  # Set-Cookie values
    isBase64Encoded: bool


def request_from_event(event: FunctionUrlEvent) -> Request:
    """A Function URL (payload 2.0) event as a Request."""
    import base64

    http = event.get("requestContext", {}).get("http", {})
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw_query = event.get("rawQueryString") or ""
    query = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    cookies = list(event.get("cookies") or [])
    if "cookie" in headers:
        cookies.append(headers["cookie"])
    return Request(method=str(http.get("method", "GET")).upper(), path=event.get("rawPath") or "/",
                   base_url="https://" + headers.get("host", "invalid"), query=query, headers=headers,
                   cookies=parse_cookies(cookies), body=data[:MAX_BODY], client=str(http.get("sourceIp", "?")))


def response_to_event(response: Response) -> FunctionUrlResponse:
    return {"statusCode": response.status, "headers": response.headers, "body": response.body,
            "cookies": response.cookies, "isBase64Encoded": False}


_LIMITER = FailureLimiter()  # per execution environment, shared by its invocations


def handler(event: FunctionUrlEvent | RemindEvent, context: Any) -> FunctionUrlResponse | RemindResponse:
    """Lambda entry point: Function URL requests, and the scheduler's ``{"remind": true}``."""
    import boto3

    settings = Settings.from_env()
    ssm = boto3.client("ssm", region_name=settings.region)
    if event.get("remind") is True and "requestContext" not in event:
        from tokens.login_reminder import handler_remind

        return handler_remind(settings, ssm)
    app = LoginApp(settings, ssm, limiter=_LIMITER)
    # anything else is a Function URL request (a malformed one is answered, not raised)
    return response_to_event(app.handle(request_from_event(cast("FunctionUrlEvent", event))))
