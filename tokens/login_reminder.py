"""The refresh-token reminder: an e-mail with a fresh login link when a login is due (docs/login.md).

The CloudWatch alarm "refresh-token-expiring" tells people, but its text is fixed at deploy time and
cannot carry a link that expires. So each morning after the refresh the login function checks the
stored token and, within ``TICKPIPE_LOGIN_REMIND_DAYS`` of its end, publishes to the alarm topic a
message with a login link minted just now: single-use, valid for a day (tomorrow brings a new one).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final, NotRequired, TypedDict

from fyers.errors import TokenStoreError
from market.session import DAY
from tickpipe import names
from tickpipe.aws_errors import error_code
from tickpipe.config import Settings
from tokens.errors import LoginCredentialError
from tokens.login_keys import Signer, decode_key
from tokens.options import TokenOptions
from tokens.refresh import PLACEHOLDER, days_left, token_store

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient

EMAIL_LINK_TTL: Final = DAY

log = logging.getLogger(__name__)


class RemindResponse(TypedDict):
    """What the reminder decided (never the link): sent or not, the days left (None: no usable token)."""

    sent: bool
    refresh_token_days_left: float | None
    link: NotRequired[bool]  # when sent: whether the e-mail carries a login link


def reminder_message(settings: Settings, left: float | None, link: str | None,
                     why_no_link: str = "no link key yet") -> tuple[str, str]:
    """(subject, body) of the e-mail. ``left`` None: no usable token is stored. ``why_no_link``: what
    kept the link out, when ``link`` is None."""
    state = ("no usable Fyers token is stored" if left is None else
             "the Fyers refresh token has run out" if left <= 0 else
             f"the Fyers refresh token runs out in {left:.1f} days")
    subject = f"tickpipe {settings.env}: log in to Fyers ({state})"[:100]
    if link:
        how = (f"Log in here (the link works once, for 24 hours; tomorrow's e-mail brings a new one):\n\n{link}\n")
    else:
        how = (f"No login link could be minted ({why_no_link}): run `tickpipe login-link` for one, "
               "or `tickpipe login` in a terminal.\n")
    body = (f"tickpipe {settings.env}: {state}. After that the morning refresh cannot renew the access "
            f"token and the producers stop receiving ticks.\n\n{how}\nAfterwards the status page shows the "
            f"new token's days left.\n")
    return subject, body


def remind(ssm: SSMClient, sns: SNSClient, settings: Settings, threshold_days: float,
           now: float | None = None) -> RemindResponse:
    """Publish the reminder if a login is due. Returns what was decided (never the link)."""
    from botocore.exceptions import BotoCoreError, ClientError

    now = time.time() if now is None else now
    try:
        left: float | None = days_left(token_store(ssm, settings).load(), now)
    except TokenStoreError:
        left = None
    if left is not None and left >= threshold_days:
        return {"sent": False, "refresh_token_days_left": left}
    if not settings.alarm_topic_arn:
        raise ValueError("TICKPIPE_ALARM_TOPIC_ARN is not set: nowhere to send the reminder")
    link, why = None, "no link key yet"
    try:
        key = ssm.get_parameter(Name=settings.ssm_name(names.SSM_LOGIN_KEY), WithDecryption=True)["Parameter"]["Value"]
        if key != PLACEHOLDER:
            why = f"no page address at {settings.ssm_name(names.SSM_LOGIN_PAGE_URL)}"
            page = ssm.get_parameter(Name=settings.ssm_name(names.SSM_LOGIN_PAGE_URL))["Parameter"]["Value"]
            link = f"{page.rstrip('/')}/?link={Signer(decode_key(key)).mint_link(now, EMAIL_LINK_TTL)}"
    except ssm.exceptions.ParameterNotFound:
        pass
    except (ValueError, LoginCredentialError) as exc:
        why = f"the link key is unusable: {exc}"
        log.warning("no login link in the reminder: %s", exc)
    except (BotoCoreError, ClientError) as exc:  # a missing grant, an outage: the e-mail matters more
        code = error_code(exc) or type(exc).__name__
        why = f"SSM refused or did not answer: {code}"
        log.warning("no login link in the reminder: SSM %s", code)
    subject, body = reminder_message(settings, left, link, why)
    sns.publish(TopicArn=settings.alarm_topic_arn, Subject=subject, Message=body)
    log.info("login reminder sent (refresh token days left: %s, link: %s)", left, "yes" if link else "no")
    return {"sent": True, "refresh_token_days_left": left, "link": bool(link)}


def handler_remind(settings: Settings, ssm: SSMClient) -> RemindResponse:
    import boto3

    threshold = TokenOptions.from_env().login_remind_days
    return remind(ssm, boto3.client("sns", region_name=settings.region), settings, threshold)
