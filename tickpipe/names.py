"""Every resource name and lake prefix, in one place. Terraform (infra/) builds the same names.

Names are ``tickpipe-<env>-<role>``; the SSM tree is ``/tickpipe/<env>/``.
"""

from __future__ import annotations

from typing import Final

PROJECT: Final = "tickpipe"
METRIC_NAMESPACE: Final = "tickpipe"

# Lake prefixes (DESIGN.md "S3 lake"). Partition folders follow them: dt=YYYY-MM-DD/ (and hh=HH/).
RAW_TICKS: Final = "raw/ticks/"
RAW_BARS: Final = "raw/bars/"
RAW_ERRORS: Final = "raw/errors/"
CURATED_TICKS: Final = "curated/ticks/"
CURATED_BARS: Final = "curated/bars_5m/"
QUARANTINE: Final = "quarantine/"
STATE: Final = "state/"
GAPS: Final = STATE + "gaps/"

# SSM parameter names under the prefix (DESIGN.md "SSM").
SSM_APP_ID: Final = "fyers/app_id"
SSM_REDIRECT_URI: Final = "fyers/redirect_uri"
SSM_SECRET_KEY: Final = "fyers/secret_key"
SSM_PIN: Final = "fyers/pin"
SSM_TOKEN: Final = "fyers/token"  # the access token (JSON), which the producer reads
SSM_REFRESH_TOKEN: Final = "fyers/refresh_token"  # the 15-day refresh token: token and login functions only
# The morning refresh's last result (String JSON: at, ok, message), shown by the login page.
SSM_LAST_REFRESH: Final = "fyers/last_refresh"
# The login page (tokens/login.py): the key that signs login links, single-use states and link markers.
SSM_LOGIN_KEY: Final = "login/link_key"
SSM_LOGIN_STATES: Final = "login/state/"
SSM_LOGIN_USED: Final = "login/used/"
SSM_LOGIN_PAGE_URL: Final = "login/page_url"  # the Function URL, written by Terraform (infra/login.tf)


def secrets_key_alias(env: str) -> str:
    """The KMS alias of the secrets' own key (infra/kms.tf aws_kms_alias.secrets)."""
    return f"alias/{PROJECT}-{env}-secrets"


def resource(env: str, role: str) -> str:
    """``tickpipe-<env>-<role>``: the stream, delivery streams, functions, topic, cluster."""
    return f"{PROJECT}-{env}-{role}"


def stream(env: str) -> str:
    return resource(env, "ticks")


def raw_firehose(env: str) -> str:
    return resource(env, "raw")


def bars_firehose(env: str) -> str:
    return resource(env, "bars")


def bucket(env: str) -> str:
    """Default lake bucket. In AWS, Terraform appends the account id (bucket names are global)."""
    return resource(env, "lake")


def alarm_topic(env: str) -> str:
    return resource(env, "alarms")


def ssm_prefix(env: str) -> str:
    return f"/{PROJECT}/{env}/"


def partition(prefix: str, day: str, hour: int | None = None) -> str:
    """``raw/ticks/dt=2026-11-26/hh=09/``-style partition folder for a UTC date (and hour)."""
    part = f"{prefix}dt={day}/"
    return part if hour is None else f"{part}hh={hour:02d}/"
