"""Lambda "token": every morning, a new Fyers access token from the refresh token and PIN, into SSM.

A Fyers access token lasts until the end of its day. The refresh token from a login lasts 15 days
and, with the account's 4-digit PIN, buys a new access token (validate-refresh-token, FYERS.md).
Scheduled before the producer connects (infra/lambdas.tf), this keeps ``<prefix>fyers/token`` fresh.
The producer re-reads that parameter whenever the socket refuses its token, so it needs no restart.

What it cannot do is renew the refresh token: that takes a person logging in (docs/deploy.md,
"First token") once every 15 days. The metric ``RefreshTokenDaysLeft`` and its alarm say when.
Secrets never reach a log line or an error message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypedDict

import orjson

from fyers.auth import FyersAuth
from fyers.errors import (
    FyersError,
    RefreshTokenExpiredError,
    TokenNotFoundError,
    TokenStoreError,
    WrongPinError,
)
from fyers.rest import RestClient
from fyers.token_store import FyersToken, TokenStore
from market.session import DAY
from tickpipe import names, redact
from tickpipe.config import Settings
from tokens.errors import TokenRefreshError
from tokens.options import TokenOptions

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

SERVICE: Final = "token"
# CloudWatch metrics (namespace tickpipe, dimension service=token); infra/alarms.tf alarms on the last.
REFRESHED, FAILED, DAYS_LEFT = "TokenRefreshed", "TokenRefreshFailed", "RefreshTokenDaysLeft"
METRICS: Final = (REFRESHED, FAILED, DAYS_LEFT)
# What Terraform stores in a SecureString it creates, until a person puts the real value there.
PLACEHOLDER: Final = "UNSET: see docs/deploy.md (Fyers credentials)"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """The app's id and secret and the account's PIN, from SSM. Repr hides the secrets."""

    app_id: str
    secret_key: str = field(repr=False)
    pin: str = field(repr=False)


def read_credentials(ssm: SSMClient, settings: Settings) -> Credentials:
    """``fyers/app_id``, ``fyers/secret_key`` and ``fyers/pin`` under the SSM prefix."""
    wanted = {key: settings.ssm_name(key) for key in (names.SSM_APP_ID, names.SSM_SECRET_KEY, names.SSM_PIN)}
    resp = ssm.get_parameters(Names=list(wanted.values()), WithDecryption=True)
    values = {p["Name"]: p["Value"] for p in resp["Parameters"]}
    redact.register(values.get(wanted[names.SSM_SECRET_KEY]), values.get(wanted[names.SSM_PIN]))
    missing = [name for name in wanted.values() if not values.get(name) or values[name] == PLACEHOLDER]
    if missing:
        raise TokenRefreshError(f"set {', '.join(missing)} in SSM first (docs/deploy.md, 'Fyers credentials')")
    return Credentials(values[wanted[names.SSM_APP_ID]], values[wanted[names.SSM_SECRET_KEY]],
                       values[wanted[names.SSM_PIN]])


def stored_token(store: TokenStore) -> FyersToken:
    """The token a login (or the last refresh) left in SSM. Raises TokenRefreshError with what to do."""
    try:
        return store.load()
    except TokenNotFoundError as exc:
        raise TokenRefreshError(str(exc)) from None
    except TokenStoreError as exc:  # e.g. still Terraform's placeholder
        raise TokenRefreshError(f"{exc}: log in once (docs/deploy.md, 'First token')") from None


def days_left(token: FyersToken, now: float) -> float:
    """Days until the refresh token expires (negative once it has)."""
    return round((token.refresh_expires_at - now) / DAY, 2)


def refresh(store: TokenStore, auth: FyersAuth, pin: str, current: FyersToken | None = None,
            now: float | None = None) -> FyersToken:
    """Refresh the stored token's access token (``current``, else loaded) with the PIN and store the
    result. Nothing is written unless Fyers issued a new token. Raises TokenRefreshError with what
    to do."""
    now = time.time() if now is None else now
    if current is None:
        current = stored_token(store)
    if current.refresh_expired(now):
        raise TokenRefreshError(f"the refresh token expired at {_utc(current.refresh_expires_at)}: "
                                "log in again (docs/deploy.md, 'First token')")
    try:
        tokens = auth.refresh(current.refresh_token, pin)
    except RefreshTokenExpiredError:
        raise TokenRefreshError("Fyers says the refresh token has expired: log in again "
                                "(docs/deploy.md, 'First token')") from None
    except WrongPinError:
        pin_name = store.name.removesuffix(names.SSM_TOKEN) + names.SSM_PIN
        raise TokenRefreshError(f"Fyers refused the PIN: put the account's PIN in {pin_name}") from None
    token = current.refreshed(tokens, now)
    store.save(token)
    return token


def token_store(ssm: SSMClient, settings: Settings, options: TokenOptions | None = None) -> TokenStore:
    """The one way the token is written, by the morning refresh and the login page alike: under the
    stack's KMS key (``TICKPIPE_TOKEN_KMS_KEY``, set by Terraform on both functions; unset locally)."""
    return TokenStore(ssm, settings.ssm_prefix, key_id=(options or TokenOptions.from_env()).key_id)


def record_result(ssm: SSMClient, settings: Settings, ok: bool, message: str, now: float) -> None:
    """The run's outcome at ``fyers/last_refresh`` for the login page's status. Best effort: a refresh
    that worked is not failed by a status note that could not be written."""
    from botocore.exceptions import BotoCoreError, ClientError

    value = orjson.dumps({"at": int(now), "ok": ok, "message": message[:500]}).decode()
    try:
        ssm.put_parameter(Name=settings.ssm_name(names.SSM_LAST_REFRESH), Value=value, Type="String",
                          Overwrite=True)
    except (BotoCoreError, ClientError) as exc:
        log.warning("could not record the refresh result at %s: %s",
                    settings.ssm_name(names.SSM_LAST_REFRESH), type(exc).__name__)


class RefreshResponse(TypedDict):
    """What the refresh function returns (its Lambda response; the log line says the same)."""

    expires_at: int  # the new access token's exp (epoch s)
    refresh_expires_at: int  # the refresh token's end (epoch s)
    refresh_token_days_left: float


def _utc(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


class TokenService:
    """The handler's work with its clients (boto3 SSM, the Fyers REST client)."""

    def __init__(self, settings: Settings | None = None, *, ssm: SSMClient | None = None, rest: RestClient | None = None,
                 metrics: Any = None, logger: Any = None) -> None:
        import boto3

        self.settings = settings or Settings.from_env()
        self.ssm = ssm or boto3.client("ssm", region_name=self.settings.region)
        self.rest = rest or RestClient(self.settings.fyers_api_url)
        self.metrics = metrics
        self.log = logger or log
        self.store = token_store(self.ssm, self.settings)

    def run(self, now: float | None = None) -> RefreshResponse:
        now = time.time() if now is None else now
        try:
            try:
                current: FyersToken | None = stored_token(self.store)
            except TokenRefreshError:
                current = None  # refresh() says why, after the credentials' own check
            if current is not None:  # before refreshing: a failed refresh keeps the expiry alarm in alarm
                self._metric(DAYS_LEFT, days_left(current, now), "Count")
            creds = read_credentials(self.ssm, self.settings)
            auth = FyersAuth(self.rest, creds.app_id, creds.secret_key)
            token = refresh(self.store, auth, creds.pin, current, now)
        except (TokenRefreshError, FyersError) as exc:
            self._metric(FAILED, 1, "Count")
            self.log.error("Fyers token not refreshed: %s", exc)
            record_result(self.ssm, self.settings, False, str(exc), now)
            raise
        self._metric(REFRESHED, 1, "Count")
        left = days_left(token, now)
        record_result(self.ssm, self.settings, True, f"access token valid until {_utc(token.expires_at)}", now)
        self.log.info("Fyers access token refreshed", extra={
            "expires_at": _utc(token.expires_at), "refresh_token_days_left": left})
        return {"expires_at": token.expires_at, "refresh_expires_at": token.refresh_expires_at,
                "refresh_token_days_left": left}

    def _metric(self, name: str, value: float, unit: str) -> None:
        if self.metrics is not None:
            from aws_lambda_powertools.metrics import MetricUnit

            self.metrics.add_metric(name=name, unit=getattr(MetricUnit, unit), value=value)


def handler(event: dict[str, Any], context: Any) -> RefreshResponse:
    """Lambda entry point (EventBridge Scheduler, daily before the open; the event is not read)."""
    from aws_lambda_powertools import Logger, Metrics

    metrics = Metrics(namespace=names.METRIC_NAMESPACE, service=SERVICE)
    service = TokenService(metrics=metrics, logger=Logger(service=SERVICE))
    try:
        return service.run()
    finally:
        metrics.flush_metrics()
