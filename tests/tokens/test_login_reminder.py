"""The refresh-token reminder e-mail carries a fresh login link (tokens/login_reminder.py), on moto's
SNS (read back through an SQS subscription) and SSM; and the morning refresh records its result."""

from __future__ import annotations

import json
import time

import pytest
from login_helpers import seed_ssm

from fyers.auth import read_access_token
from fyers.token_store import FyersToken, TokenStore
from tickpipe import names
from tickpipe.config import Settings
from tokens.errors import TokenRefreshError
from tokens.login_keys import Signer
from tokens.login_link_cli import link_key
from tokens.login_reminder import EMAIL_LINK_TTL, remind
from tokens.refresh import TokenService

PAGE = "https://abc.lambda-url.ap-south-1.on.aws/"


@pytest.fixture
def env(aws, fyers_sim):
    sim = fyers_sim()
    sns, sqs, ssm = aws.client("sns"), aws.client("sqs"), aws.client("ssm")
    topic = sns.create_topic(Name="tickpipe-test-alarms")["TopicArn"]
    queue = sqs.create_queue(QueueName="mailbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    settings = Settings(env="test", fyers_api_url=sim.api_url, alarm_topic_arn=topic)
    seed_ssm(ssm, settings, sim, PAGE + "callback")
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_LOGIN_PAGE_URL), Value=PAGE, Type="String")
    return sim, settings, ssm, sns, sqs, queue


def store_token(sim, ssm, settings, days_left):
    tokens = sim.issue_tokens()
    now = int(time.time())
    TokenStore(ssm, settings.ssm_prefix).save(FyersToken(
        tokens["access_token"], tokens["refresh_token"], now, read_access_token(tokens["access_token"]).exp,
        now + int(days_left * 86_400)))


def mails(sqs, queue):
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def test_with_days_to_spare_no_mail_is_sent(env):
    sim, settings, ssm, sns, sqs, queue = env
    store_token(sim, ssm, settings, 10)
    assert remind(ssm, sns, settings, 2)["sent"] is False
    assert mails(sqs, queue) == []


def test_within_the_alarm_days_the_mail_carries_a_fresh_single_use_link(env):
    sim, settings, ssm, sns, sqs, queue = env
    store_token(sim, ssm, settings, 1.5)
    key = Signer(link_key(ssm, settings, None))
    now = time.time()
    result = remind(ssm, sns, settings, 2, now=now)
    assert result["sent"] and result["link"] and "link=" not in json.dumps(result)
    [mail] = mails(sqs, queue)
    assert "runs out in 1.5 days" in mail["Subject"]
    link = next(w for w in mail["Message"].split() if w.startswith(PAGE + "?link="))
    verified = key.verify_link(link.partition("?link=")[2], now)
    assert verified.expires_at == int(now) + EMAIL_LINK_TTL


def test_without_a_link_key_the_mail_says_how_to_get_one(env):
    sim, settings, ssm, sns, sqs, queue = env
    store_token(sim, ssm, settings, 0.5)
    assert remind(ssm, sns, settings, 2)["link"] is False
    [mail] = mails(sqs, queue)
    assert "tickpipe login-link" in mail["Message"] and "?link=" not in mail["Message"]


def test_without_the_page_address_the_mail_says_that_and_still_goes(env):
    sim, settings, ssm, sns, sqs, queue = env
    store_token(sim, ssm, settings, 0.5)
    link_key(ssm, settings, None)
    ssm.delete_parameter(Name=settings.ssm_name(names.SSM_LOGIN_PAGE_URL))
    assert remind(ssm, sns, settings, 2)["link"] is False
    [mail] = mails(sqs, queue)
    assert settings.ssm_name(names.SSM_LOGIN_PAGE_URL) in mail["Message"] and "no link key" not in mail["Message"]


@pytest.mark.parametrize("error", ["AccessDeniedException", "no response"])
def test_when_ssm_refuses_the_link_key_the_mail_still_goes_without_a_link(env, error):
    """A role missing a grant (moto checks no IAM) or an SSM outage must not cost the reminder itself."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    sim, settings, ssm, sns, sqs, queue = env
    store_token(sim, ssm, settings, 0.5)
    link_key(ssm, settings, None)
    key_name = settings.ssm_name(names.SSM_LOGIN_KEY)

    def refuse(params, **_):
        if params["Name"] == key_name:
            if error == "no response":
                raise EndpointConnectionError(endpoint_url="https://ssm.ap-south-1.amazonaws.com")
            raise ClientError({"Error": {"Code": error, "Message": "not authorized"}}, "GetParameter")

    ssm.meta.events.register("provide-client-params.ssm.GetParameter", refuse)
    assert remind(ssm, sns, settings, 2)["link"] is False
    [mail] = mails(sqs, queue)
    assert "tickpipe login-link" in mail["Message"] and "?link=" not in mail["Message"]


def test_with_no_token_at_all_the_mail_is_sent(env):
    _, settings, ssm, sns, sqs, queue = env
    link_key(ssm, settings, None)
    assert remind(ssm, sns, settings, 2)["sent"]
    [mail] = mails(sqs, queue)
    assert "no usable Fyers token" in mail["Subject"]


def test_the_lambda_handler_runs_the_reminder_for_the_schedulers_event(env, monkeypatch):
    sim, settings, ssm, sns, sqs, queue = env
    store_token(sim, ssm, settings, 1)
    for key, value in settings.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TICKPIPE_LOGIN_REMIND_DAYS", "2")
    from tokens.login import handler

    assert handler({"remind": True}, None)["sent"] is True
    assert len(mails(sqs, queue)) == 1


# --- the morning refresh's result, for the status page --------------------------------------------


def last_refresh(ssm, settings):
    return json.loads(ssm.get_parameter(Name=settings.ssm_name(names.SSM_LAST_REFRESH))["Parameter"]["Value"])


def test_the_morning_refresh_records_success(env):
    sim, settings, ssm, *_ = env
    store_token(sim, ssm, settings, 10)
    TokenService(settings, ssm=ssm).run()
    record = last_refresh(ssm, settings)
    assert record["ok"] is True and "valid until" in record["message"] and record["at"] <= time.time()


def test_the_morning_refresh_records_failure_with_its_reason_and_no_secret(env):
    sim, settings, ssm, *_ = env
    store_token(sim, ssm, settings, 10)
    ssm.put_parameter(Name=settings.ssm_name(names.SSM_PIN), Value="0000" if sim.config.pin != "0000" else "1111",
                      Type="SecureString", Overwrite=True)
    with pytest.raises(TokenRefreshError):
        TokenService(settings, ssm=ssm).run()
    record = last_refresh(ssm, settings)
    assert record["ok"] is False and "PIN" in record["message"] and sim.config.pin not in record["message"]
