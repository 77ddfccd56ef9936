"""What the simulator issues and checks: auth codes, access and refresh tokens (HS256 JWTs).

Tokens expire by wall-clock time (a client compares ``exp`` with its own clock), independent of
the simulated exchange clock. ``expire_all()`` makes every token issued so far count as expired,
as if the trading day had ended; tokens issued after it work again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson

from fyers import errors
from fyers.jwt import b64url_decode, b64url_encode, decode_json


class CredentialError(Exception):
    """A credential the simulator refuses; ``code`` is the Fyers error code to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode_jwt(payload: dict[str, Any], key: bytes) -> str:
    head = b64url_encode(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    body = b64url_encode(orjson.dumps(payload))
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url_encode(sig)}"


def decode_jwt(token: str, key: bytes) -> dict[str, Any]:
    """Verify the signature and return the payload. Expiry is the caller's check."""
    try:
        head, body, sig = token.split(".")
        want = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, b64url_decode(sig)):
            raise ValueError("bad signature")
        return decode_json(body)
    except ValueError:  # a bad signature, base64url, JSON or shape alike: Fyers says only "invalid token"
        raise CredentialError(errors.INVALID_TOKEN, "Could not authenticate the user: invalid token") from None


def app_id_hash(app_id: str, secret_key: str) -> str:
    """``appIdHash`` as Fyers expects it: hex SHA-256 of ``"APP_ID:SECRET_KEY"``."""
    return hashlib.sha256(f"{app_id}:{secret_key}".encode()).hexdigest()


@dataclass(frozen=True)
class Account:
    """The simulator's one test app and user."""

    app_id: str
    secret_key: str
    fy_id: str
    pin: str
    token_ttl: float  # access token lifetime, wall seconds
    refresh_ttl: float  # refresh token lifetime, wall seconds
    auth_code_ttl: float = 300.0


class CredentialIssuer:
    """Issues and verifies the account's credentials. Thread-safe."""

    def __init__(self, account: Account, key: bytes | None = None) -> None:
        self.account = account
        self._key = key or secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._used_codes: set[str] = set()
        self._expired_before = 0.0  # tokens issued at or before this wall time count as expired
        self._seq = 0
        self._hsm: dict[str, str] = {}  # hsm_key → the access token that carries it

    # -- issuing -------------------------------------------------------------------------------
    def _payload(self, sub: str, ttl: float, **extra: Any) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            seq = self._seq
        now = time.time()
        return {
            "iss": "api.fyers.in", "aud": ["d:1", "d:2", "x:0", "x:1"], "sub": sub,
            "iat": int(now), "nbf": int(now), "exp": int(now + ttl), "fy_id": self.account.fy_id,
            "appType": 100, "jti": f"{seq}-{secrets.token_hex(4)}", "iat_exact": now, **extra,
        }

    def issue_auth_code(self, app_id: str) -> str:
        return encode_jwt(self._payload("auth_code", self.account.auth_code_ttl, app_id=app_id), self._key)

    def issue_access_token(self) -> str:
        hsm_key = secrets.token_hex(24)
        token = encode_jwt(self._payload("access_token", self.account.token_ttl, hsm_key=hsm_key,
                                         display_name="SIM USER", app_id=self.account.app_id), self._key)
        with self._lock:
            self._hsm[hsm_key] = token
        return token

    def issue_refresh_token(self) -> str:
        return encode_jwt(self._payload("refresh_token", self.account.refresh_ttl), self._key)

    def expire_all(self) -> None:
        """Every token issued until now is expired from here on (end of the trading day)."""
        with self._lock:
            self._expired_before = time.time()

    # -- checking ------------------------------------------------------------------------------
    def _check(self, token: str, sub: str, expired_code: int, expired_text: str) -> dict[str, Any]:
        payload = decode_jwt(token, self._key)
        if payload.get("sub") != sub:
            raise CredentialError(errors.INVALID_TOKEN, f"Could not authenticate the user: not an {sub}")
        if payload["exp"] <= time.time() or payload.get("iat_exact", 0) <= self._expired_before:
            raise CredentialError(expired_code, expired_text)
        return payload

    def is_live(self, payload: dict[str, Any]) -> bool:
        """Whether a verified token payload is still unexpired (cheap: no signature check)."""
        return payload["exp"] > time.time() and payload.get("iat_exact", 0) > self._expired_before

    def check_app_hash(self, given: str) -> None:
        want = app_id_hash(self.account.app_id, self.account.secret_key)
        if not isinstance(given, str) or not hmac.compare_digest(given.lower(), want):
            raise CredentialError(errors.AUTH_FAILED, "Invalid appIdHash: expected sha256 of 'APP_ID:SECRET_KEY'")

    def redeem_auth_code(self, code: str) -> None:
        """An auth code works once, within its lifetime."""
        payload = self._check(code, "auth_code", errors.INVALID_TOKEN, "auth code expired")
        with self._lock:
            if payload["jti"] in self._used_codes:
                raise CredentialError(errors.INVALID_TOKEN, "auth code already used")
            self._used_codes.add(payload["jti"])

    def check_access_token(self, token: str) -> dict[str, Any]:
        return self._check(token, "access_token", errors.TOKEN_EXPIRED, "Your token has expired")

    def check_refresh_token(self, token: str) -> dict[str, Any]:
        return self._check(token, "refresh_token", errors.REFRESH_EXPIRED,
                           "refresh token expired: log in again through the browser")

    def check_pin(self, pin: str) -> None:
        if not hmac.compare_digest(str(pin), self.account.pin):
            raise CredentialError(errors.WRONG_PIN, "Invalid PIN")

    def check_hsm_key(self, hsm_key: str) -> dict[str, Any]:
        """The data socket's credential: the hsm_key of a live access token."""
        token = self._hsm.get(hsm_key)
        if token is None:
            raise CredentialError(errors.INVALID_TOKEN, "invalid hsm key")
        return self.check_access_token(token)
