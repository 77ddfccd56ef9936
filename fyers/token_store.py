"""The Fyers tokens in SSM: two SecureString JSON documents, so each role reads only what it needs.

``<prefix>fyers/token`` holds the access token and the lifetimes (``access_token``, ``issued_at``,
``expires_at``, ``refresh_expires_at``): the producer and backfill read it. ``<prefix>fyers/refresh_token``
holds the 15-day refresh token (``refresh_token``): only the token function and the login page,
which write both, may read it (infra/iam.tf, infra/login.tf), because with the PIN it buys access
tokens for two weeks. Secrets never reach a log line: reprs hide them and errors name the
parameter, never its value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypedDict

import orjson

from fyers.auth import Tokens, read_access_token
from fyers.errors import TokenNotFoundError, TokenStoreError
from market.session import DAY
from tickpipe import names, redact

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

redact.install()  # any process that handles tokens keeps them, and SSM bodies, out of its logs

REFRESH_TTL: Final = 15 * DAY  # a refresh token lasts 15 days (FYERS.md)


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

    def access_json(self) -> str:
        """The document at ``fyers/token``: everything but the refresh token."""
        return orjson.dumps({
            "access_token": self.access_token, "issued_at": self.issued_at, "expires_at": self.expires_at,
            "refresh_expires_at": self.refresh_expires_at,
        }).decode()

    def refresh_json(self) -> str:
        """The document at ``fyers/refresh_token``."""
        return orjson.dumps({"refresh_token": self.refresh_token}).decode()

    @classmethod
    def from_json(cls, access: str | bytes, refresh: str | bytes | None = None) -> FyersToken:
        """Parse the two stored documents. ``refresh`` None: the refresh token is read from the
        access document, where tickpipe kept it before the split (a stack deployed earlier keeps
        working until its next write moves it). Raises :class:`TokenStoreError` naming what is
        missing or wrong."""
        data = _document(access, "stored token")
        values: dict[str, Any] = {"access_token": _text(data, "access_token", "stored token")}
        source = data if refresh is None else _document(refresh, "stored refresh token")
        values["refresh_token"] = _text(source, "refresh_token",
                                        "stored token" if refresh is None else "stored refresh token")
        for key in ("issued_at", "expires_at", "refresh_expires_at"):
            value = data.get(key)
            if value is None and key == "expires_at":
                value = read_access_token(values["access_token"]).exp
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TokenStoreError(f"stored token's {key!r} must be epoch seconds, got {type(value).__name__}")
            values[key] = int(value)
        return cls(**values)


def _document(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise TokenStoreError(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise TokenStoreError(f"{what} is not a JSON object")
    return data


def _text(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise TokenStoreError(f"{what} has no {key!r}")
    return value


def register_token(token: FyersToken) -> None:
    """Keep the token's values (and the JWT's parts) out of every log line."""
    access = token.access_token or ""
    redact.register(access, token.refresh_token, *access.split("."))


class KmsKeyArg(TypedDict, total=False):
    """``put_parameter``'s ``KeyId``, present only when a key is configured (boto3 refuses ``None``)."""

    KeyId: str


def kms_key_arg(key_id: str | None) -> KmsKeyArg:
    """``**kms_key_arg(key_id)`` in a SecureString ``put_parameter``: the key, or SSM's default."""
    return {"KeyId": key_id} if key_id else {}


class TokenStore:
    """Load and save the tokens at ``<prefix>fyers/token`` and ``<prefix>fyers/refresh_token`` with an
    SSM client (boto3). The producer calls only :meth:`load_access_token`, which reads only the first."""

    def __init__(self, ssm_client: SSMClient, prefix: str, key_id: str | None = None) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"SSM prefix must start and end with '/', got {prefix!r}")
        self.ssm = ssm_client
        self.name = prefix + names.SSM_TOKEN
        self.refresh_name = prefix + names.SSM_REFRESH_TOKEN
        # The KMS key to encrypt with. Give it wherever Terraform made one (the parameter's own key):
        # without it SSM re-encrypts an overwritten SecureString under the account's aws/ssm key,
        # which every principal allowed ssm:GetParameter on the name can decrypt.
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"TokenStore({self.name!r})"

    def _not_found(self) -> TokenNotFoundError:
        return TokenNotFoundError(f"no Fyers token at {self.name}: log in once (docs/deploy.md, 'First token')")

    def load_access_token(self) -> str:
        """The access token alone, from ``fyers/token`` (the producer's and backfill's one read)."""
        try:
            resp = self.ssm.get_parameter(Name=self.name, WithDecryption=True)
        except self.ssm.exceptions.ParameterNotFound:
            raise self._not_found() from None
        try:
            access = _text(_document(resp["Parameter"]["Value"], "stored token"), "access_token", "stored token")
        except TokenStoreError as exc:
            raise TokenStoreError(f"{self.name}: {exc}") from None
        redact.register(access, *access.split("."))
        return access

    def load(self) -> FyersToken:
        """Both documents (the token function and the login page). A refresh-token parameter that is
        missing or unreadable falls back to a refresh token left in ``fyers/token`` before the split."""
        resp = self.ssm.get_parameters(Names=[self.name, self.refresh_name], WithDecryption=True)
        values = {p["Name"]: p["Value"] for p in resp["Parameters"]}
        if self.name not in values:
            raise self._not_found()
        refresh = values.get(self.refresh_name)
        try:
            token = FyersToken.from_json(values[self.name], refresh if refresh is not None else "{}")
        except TokenStoreError as exc:
            try:
                token = FyersToken.from_json(values[self.name])  # a token stored before the split
            except TokenStoreError:
                if "refresh token" not in str(exc):
                    raise TokenStoreError(f"{self.name}: {exc}") from None
                if refresh is None:
                    raise TokenStoreError(f"{self.refresh_name}: no refresh token stored") from None
                raise TokenStoreError(f"{self.refresh_name}: {exc}") from None
        register_token(token)
        return token

    def save(self, token: FyersToken) -> None:
        """The refresh token first: a write that fails between the two leaves the old access token,
        which the next refresh replaces, never an access document without its refresh token."""
        register_token(token)
        for name, value in ((self.refresh_name, token.refresh_json()), (self.name, token.access_json())):
            self.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True,
                                   **kms_key_arg(self.key_id))
