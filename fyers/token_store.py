"""The Fyers token in SSM: one SecureString JSON document at ``<prefix>fyers/token``.

The token service writes it (after a browser login, and after each morning's refresh); the
producer and backfill read it. Secrets never reach a log line: reprs hide them and errors name
the parameter, never its value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from fyers.auth import Tokens, read_access_token
from tickpipe import names, redact

redact.install()  # any process that handles tokens keeps them, and SSM bodies, out of its logs

REFRESH_TTL: Final = 15 * 86_400  # a refresh token lasts 15 days (FYERS.md)


class TokenStoreError(Exception):
    """The stored token cannot be read or written; the message names the parameter and why."""


class TokenNotFoundError(TokenStoreError):
    """No token stored yet: a user must log in once (docs/deploy.md, 'First token')."""


@dataclass(frozen=True)
class FyersToken:
    """An access token with its refresh token and their lifetimes (epoch seconds)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    issued_at: int
    expires_at: int
    refresh_expires_at: int

    @classmethod
    def from_tokens(cls, tokens: Tokens, now: float | None = None) -> FyersToken:
        """After a login: both tokens are new; the refresh token lives 15 days from now."""
        if not tokens.refresh_token:
            raise ValueError("a login must yield a refresh token; use refreshed() after a refresh")
        issued = int(time.time() if now is None else now)
        return cls(tokens.access_token, tokens.refresh_token, issued, tokens.expires_at, issued + REFRESH_TTL)

    def refreshed(self, tokens: Tokens, now: float | None = None) -> FyersToken:
        """After a refresh: a new access token, the same refresh token and its expiry."""
        issued = int(time.time() if now is None else now)
        return FyersToken(tokens.access_token, tokens.refresh_token or self.refresh_token, issued,
                          tokens.expires_at, self.refresh_expires_at)

    def access_expired(self, now: float | None = None, margin: float = 60.0) -> bool:
        return (time.time() if now is None else now) >= self.expires_at - margin

    def refresh_expired(self, now: float | None = None, margin: float = 0.0) -> bool:
        return (time.time() if now is None else now) >= self.refresh_expires_at - margin

    def to_json(self) -> str:
        return orjson.dumps({
            "access_token": self.access_token, "refresh_token": self.refresh_token,
            "issued_at": self.issued_at, "expires_at": self.expires_at,
            "refresh_expires_at": self.refresh_expires_at,
        }).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> FyersToken:
        """Parse a stored token. Raises :class:`TokenStoreError` naming what is missing or wrong."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise TokenStoreError("stored token is not JSON") from None
        if not isinstance(data, dict):
            raise TokenStoreError("stored token is not a JSON object")
        values: dict[str, Any] = {}
        for key in ("access_token", "refresh_token"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise TokenStoreError(f"stored token has no {key!r}")
            values[key] = data[key]
        for key in ("issued_at", "expires_at", "refresh_expires_at"):
            value = data.get(key)
            if value is None and key == "expires_at":
                value = read_access_token(values["access_token"]).exp
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TokenStoreError(f"stored token's {key!r} must be epoch seconds, got {type(value).__name__}")
            values[key] = int(value)
        return cls(**values)


def register_token(token: FyersToken) -> None:
    """Keep the token's values (and the JWT's parts) out of every log line."""
    access = token.access_token or ""
    redact.register(access, token.refresh_token, *access.split("."))


class TokenStore:
    """Load and save the token at ``<prefix>fyers/token`` with an SSM client (boto3)."""

    def __init__(self, ssm_client: Any, prefix: str, key_id: str | None = None) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"SSM prefix must start and end with '/', got {prefix!r}")
        self.ssm = ssm_client
        self.name = prefix + names.SSM_TOKEN
        # The KMS key to encrypt with. Give it wherever Terraform made one (the parameter's own key):
        # without it SSM re-encrypts an overwritten SecureString under the account's aws/ssm key,
        # which every principal allowed ssm:GetParameter on the name can decrypt.
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"TokenStore({self.name!r})"

    def load(self) -> FyersToken:
        try:
            resp = self.ssm.get_parameter(Name=self.name, WithDecryption=True)
        except self.ssm.exceptions.ParameterNotFound:
            raise TokenNotFoundError(
                f"no Fyers token at {self.name}: log in once (docs/deploy.md, 'First token')") from None
        try:
            token = FyersToken.from_json(resp["Parameter"]["Value"])
        except TokenStoreError as exc:
            raise TokenStoreError(f"{self.name}: {exc}") from None
        register_token(token)
        return token

    def save(self, token: FyersToken) -> None:
        register_token(token)
        extra = {"KeyId": self.key_id} if self.key_id else {}
        self.ssm.put_parameter(Name=self.name, Value=token.to_json(), Type="SecureString", Overwrite=True, **extra)
