"""Fyers login: the browser login URL, auth code → tokens, refresh with PIN, reading the access token.

The flow (FYERS.md): send the user to :func:`login_url` with a random ``state``; Fyers redirects the
browser to ``redirect_uri?s=ok&code=200&auth_code=…&state=…``; :func:`auth_code_from_redirect`
checks ``state`` and returns the code; :meth:`FyersAuth.exchange` turns it into an access token (valid
until the end of the trading day) and a refresh token (15 days); :meth:`FyersAuth.refresh` gets a
new access token each morning with the refresh token and the user's PIN.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec

from fyers.bodies import TokenBody, convert
from fyers.errors import FyersError, InvalidTokenError, StateMismatchError
from fyers.jwt import decode_json
from fyers.rest import RestClient

LOGIN_PATH = "/api/v3/generate-authcode"
VALIDATE_AUTHCODE_PATH = "/api/v3/validate-authcode"
REFRESH_PATH = "/api/v3/validate-refresh-token"


def app_id_hash(app_id: str, secret_key: str) -> str:
    """``appIdHash``: hex SHA-256 of ``"APP_ID:SECRET_KEY"``."""
    return hashlib.sha256(f"{app_id}:{secret_key}".encode()).hexdigest()


def new_state() -> str:
    """An unguessable ``state`` for one login; keep it to check the redirect against."""
    return secrets.token_urlsafe(24)


def login_url(api_url: str, app_id: str, redirect_uri: str, state: str) -> str:
    """The URL of Fyers' login page for this app; the browser comes back to ``redirect_uri``."""
    query = urlencode({"client_id": app_id, "redirect_uri": redirect_uri, "response_type": "code",
                       "state": state})
    return f"{api_url.rstrip('/')}{LOGIN_PATH}?{query}"


def auth_code_from_redirect(redirect: str, expected_state: str) -> str:
    """The auth code from the redirect URL (or its query string), after checking ``state``.

    Raises :class:`StateMismatchError` if ``state`` is not ours, :class:`FyersError` if Fyers reported
    a failed login or the code is missing.
    """
    query = urlsplit(redirect).query if "?" in redirect or "://" in redirect else redirect.lstrip("?")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not hmac.compare_digest(params.get("state", ""), expected_state):
        raise StateMismatchError(0, "login redirect carries a state we did not issue; start the login again")
    if params.get("s", "ok") != "ok":
        raise FyersError(_int(params.get("code")), f"login failed: {params.get('message') or params.get('s')}")
    code = params.get("auth_code")
    if not code:
        raise FyersError(0, "login redirect has no auth_code")
    return code


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


@dataclass(frozen=True)
class TokenClaims:
    """What the client needs from an access token's JWT payload (read without verification)."""

    exp: int  # epoch s
    hsm_key: str = field(repr=False)
    payload: dict[str, Any] = field(repr=False, compare=False)


def read_access_token(token: str) -> TokenClaims:
    """Decode the access token's payload. Raises :class:`InvalidTokenError` if it is not a usable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError(0, f"access token is not a JWT ({len(parts)} dot-separated parts, expected 3)")
    try:
        payload = decode_json(parts[1])
    except ValueError as exc:
        raise InvalidTokenError(0, f"access token payload is {exc}") from None
    exp, hsm_key = payload.get("exp"), payload.get("hsm_key")
    if not isinstance(exp, int | float):
        raise InvalidTokenError(0, "access token has no numeric 'exp'")
    if not isinstance(hsm_key, str) or not hsm_key:
        raise InvalidTokenError(0, "access token has no 'hsm_key' (the data socket needs it)")
    return TokenClaims(int(exp), hsm_key, payload)


@dataclass(frozen=True)
class Tokens:
    """Tokens from a login or refresh. ``refresh_token`` is None after a refresh. Repr hides secrets."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: int  # the access token's exp


class FyersAuth:
    """Token calls for one app. ``rest`` carries the rate limiter and retries shared with other calls."""

    def __init__(self, rest: RestClient, app_id: str, secret_key: str) -> None:
        self.rest = rest
        self.app_id = app_id
        self._hash = app_id_hash(app_id, secret_key)

    def __repr__(self) -> str:
        return f"FyersAuth(app_id={self.app_id!r}, api_url={self.rest.api_url!r})"

    def exchange(self, auth_code: str) -> Tokens:
        """Auth code → access and refresh token."""
        body = self.rest.request("POST", VALIDATE_AUTHCODE_PATH, json={
            "grant_type": "authorization_code", "appIdHash": self._hash, "code": auth_code})
        return tokens_from_body(body, refresh=True)

    def refresh(self, refresh_token: str, pin: str) -> Tokens:
        """A new access token from the refresh token and PIN.

        Raises WrongPinError (-5), RefreshTokenExpiredError (-9: log in again), or other FyersErrors.
        """
        body = self.rest.request("POST", REFRESH_PATH, json={
            "grant_type": "refresh_token", "appIdHash": self._hash, "refresh_token": refresh_token,
            "pin": pin})
        return tokens_from_body(body, refresh=False)


def tokens_from_body(body: Any, refresh: bool) -> Tokens:
    """The :class:`Tokens` of an ok answer of validate-authcode (``refresh``: it carries the refresh
    token too) or validate-refresh-token. Raises :class:`FyersError` for a body without them or of
    the wrong shape, :class:`InvalidTokenError` for an access token that is not a usable JWT."""
    path = VALIDATE_AUTHCODE_PATH if refresh else REFRESH_PATH
    try:
        tokens = convert(body, TokenBody)
    except msgspec.ValidationError as exc:
        raise FyersError(0, f"{path} answered a malformed body: {exc}") from None
    if refresh and (not tokens.access_token or not tokens.refresh_token):
        raise FyersError(0, "validate-authcode answered ok without access_token and refresh_token")
    if not tokens.access_token:
        raise FyersError(0, "validate-refresh-token answered ok without access_token")
    return Tokens(tokens.access_token, tokens.refresh_token if refresh else None,
                  read_access_token(tokens.access_token).exp)
