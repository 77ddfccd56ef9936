"""Least privilege, proven by running each component under the role Terraform made for it.

On the moto server Terraform applied (conftest.py tf_applied), IAM enforcement is switched on
(moto's reset-auth, the INITIAL_NO_AUTH_ACTION_COUNT switch), a test user assumes each role through
STS, and the component's real entry point runs with those credentials and the environment Terraform
gave its function or task (only the Fyers address points at the simulator, and the producer's
journal and health port at the test's own). moto resource-checks S3; for the other services it
compares every call with the resource "*", where ARN-scoped statements never match, so a test-only
policy grants the role's own non-S3 actions on "*" and every recorded call is evaluated against
Terraform's policy with AWS's rules in iam_eval.py (which also holds the S3 403-for-a-missing-key
rule). Each run is a module fixture: its tests check what it did, and the last test checks that
every grant of every role Terraform creates is used by a recorded call or by the platform.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import iam_eval  # tests/infra/iam_eval.py, loaded by conftest.py
import pytest
import requests
from terraform_run import moto_client, state_resources

from market import tick as tickmod
from tickpipe import names

pytestmark = pytest.mark.timeout(1800)  # the first test waits for the session's apply

ADMIN = "tickpipe-test-admin"

# Every role Terraform creates (the default configuration), by a short name. The first group runs
# code of ours and is run below; the second is assumed only by AWS services.
RUN_ROLES: dict[str, str] = {
    "bars": "aws_iam_role.bars",
    "compact": "aws_iam_role.compact",
    "token": "aws_iam_role.token",
    "producer_task": "aws_iam_role.producer_task",
    "login": "aws_iam_role.login[0]",
    "backfill": 'aws_iam_role.history["backfill"]',
    "reconcile": 'aws_iam_role.history["reconcile"]',
    "watermark_net": "aws_iam_role.watermark_net",
}
SERVICE_ROLES: dict[str, str] = {
    "firehose": "aws_iam_role.firehose",
    "producer_execution": "aws_iam_role.producer_execution",
    "scheduler": "aws_iam_role.scheduler",
    "login_scheduler": "aws_iam_role.login_scheduler[0]",
    "history_scheduler": "aws_iam_role.history_scheduler",
    "watermark_net_scheduler": "aws_iam_role.watermark_net_scheduler",
}
# What runs under each role of RUN_ROLES: its Lambda function or the producer's task definition.
WORKLOADS: dict[str, str] = {
    "bars": "aws_lambda_function.bars",
    "compact": "aws_lambda_function.compact",
    "token": "aws_lambda_function.token",
    "producer_task": 'aws_ecs_task_definition.producer["main"]',
    "login": "aws_lambda_function.login[0]",
    "backfill": 'aws_lambda_function.history["backfill"]',
    "reconcile": 'aws_lambda_function.history["reconcile"]',
    "watermark_net": "aws_lambda_function.watermark_net",
}

# Actions a role grants that no code of ours calls, who calls them instead, and where AWS says so.
LAMBDA_LOGS = "the Lambda runtime ships the function's logs with its role (Lambda guide, 'Lambda execution role')"
TRACING = "active tracing: the Lambda runtime sends trace data with the role (Lambda guide, 'Using AWS X-Ray')"
PLATFORM_LAMBDA = {"logs:CreateLogStream": LAMBDA_LOGS, "logs:PutLogEvents": LAMBDA_LOGS,
                   "xray:PutTraceSegments": TRACING, "xray:PutTelemetryRecords": TRACING}
# KMS: the services call it with the caller's permissions (iam_eval.py, with the AWS pages); the
# runs record those uses beside each S3, Kinesis, SSM and SNS call. Only where a service of AWS
# reads or writes with the role, outside our code, is a key use the platform's.
SSE_S3 = "S3 SSE-KMS under the lake key, with the caller's permissions"
SSE_KINESIS = "Kinesis server-side encryption of the stream, with the caller's permissions"
SCHEDULER_DLQ = "EventBridge Scheduler's dead-letter queue (Scheduler guide, 'Configuring a dead-letter queue')"
SCHEDULER_INVOKE = "EventBridge Scheduler invokes the target with this role (Scheduler guide, 'Set up the execution role')"
SCHEDULER_KMS = "Scheduler decrypts its schedule, encrypted with the stack's key (Scheduler guide, 'Data at rest')"
ESM = "the Kinesis event source mapping polls the stream with the function's role (Lambda guide, 'Lambda with Kinesis')"
PLATFORM: dict[str, dict[str, str]] = {
    "bars": {
        **PLATFORM_LAMBDA,
        "kinesis:DescribeStream": ESM, "kinesis:DescribeStreamSummary": ESM, "kinesis:GetShardIterator": ESM,
        "kinesis:GetRecords": ESM,
        "sqs:SendMessage": "the event source mapping's on-failure destination",
        "kms:Decrypt": f"{ESM}: {SSE_KINESIS} (Kinesis guide, 'Permissions to use user-generated KMS keys': "
                       "consumers need kms:Decrypt)",
    },
    "compact": {
        **PLATFORM_LAMBDA,
        "sqs:SendMessage": "the function's dead-letter queue (Lambda's asynchronous invocation)",
    },
    "token": dict(PLATFORM_LAMBDA),
    "login": dict(PLATFORM_LAMBDA),
    "producer_task": {},
    "backfill": {**PLATFORM_LAMBDA, "sqs:SendMessage": "the function's dead-letter queue (Lambda's asynchronous invocation)"},
    "reconcile": {**PLATFORM_LAMBDA, "sqs:SendMessage": "the function's dead-letter queue (Lambda's asynchronous invocation)"},
    "watermark_net": dict(PLATFORM_LAMBDA),
    # Roles only AWS services assume: every grant is the platform's.
    "firehose": {
        **{a: "Firehose reads its Kinesis source with this role (Firehose guide, 'Grant Firehose access to "
              "an Amazon Kinesis data stream')" for a in ("kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
                                                          "kinesis:GetShardIterator", "kinesis:GetRecords",
                                                          "kinesis:ListShards")},
        **{a: "Firehose delivers to S3 with this role (Firehose guide, 'Grant Firehose access to an Amazon S3 "
              "destination')" for a in ("s3:AbortMultipartUpload", "s3:PutObject", "s3:GetBucketLocation",
                                         "s3:ListBucket", "s3:ListBucketMultipartUploads")},
        "kms:Decrypt": f"{SSE_KINESIS} (the source stream)", "kms:GenerateDataKey": f"{SSE_S3} (delivery)",
        "logs:PutLogEvents": "Firehose's error logging (Firehose guide, 'Monitoring with CloudWatch Logs')",
    },
    "scheduler": {"lambda:InvokeFunction": SCHEDULER_INVOKE, "sqs:SendMessage": SCHEDULER_DLQ,
                  "kms:Decrypt": SCHEDULER_KMS, "kms:GenerateDataKey": SCHEDULER_KMS},
    "history_scheduler": {"lambda:InvokeFunction": SCHEDULER_INVOKE, "sqs:SendMessage": SCHEDULER_DLQ,
                          "kms:Decrypt": SCHEDULER_KMS, "kms:GenerateDataKey": SCHEDULER_KMS},
    "watermark_net_scheduler": {"lambda:InvokeFunction": SCHEDULER_INVOKE, "kms:Decrypt": SCHEDULER_KMS,
                                "kms:GenerateDataKey": SCHEDULER_KMS},
    "login_scheduler": {"lambda:InvokeFunction": SCHEDULER_INVOKE},
    "producer_execution": {},  # only AWS's managed policy: see MANAGED
}
# Managed policies a role attaches (their grants are AWS's, not ours), and who uses them.
MANAGED: dict[str, dict[str, str]] = {
    "producer_execution": {
        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy":
            "ECS pulls the image from ECR and ships the container's logs (ECS guide, 'Task execution IAM role')",
    },
}


def role_policy(state: dict[str, dict[str, Any]], role_name: str) -> iam_eval.Policy:
    """Every inline policy Terraform attaches to the role, as one policy."""
    docs = [v["policy"] for a, v in state.items() if a.startswith("aws_iam_role_policy.") and v["role"] == role_name]
    assert docs, f"no inline policy for {role_name}"
    return iam_eval.Policy.of(*docs)


@pytest.fixture(scope="module")
def roles(infra_moto, tf_applied):
    """role → its Terraform policy (iam_eval.Policy) and a boto3 Session under it; IAM enforced."""
    state = state_resources(tf_applied)
    iam = moto_client(infra_moto, "iam")
    user = iam.create_user(UserName=ADMIN)["User"]["Arn"]
    iam.put_user_policy(UserName=ADMIN, PolicyName="everything", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=ADMIN)["AccessKey"]
    admin = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    found = {}
    for role, address in RUN_ROLES.items():
        name = state[address]["name"]
        policy = role_policy(state, name)
        # the test user may assume the role. The trust policy is replaced, not extended: moto's
        # AssumeRole fails (HTTP 500) on a statement with a Service principal, which every role has;
        # the service trust itself is checked from the configuration (test_iam.py).
        trust = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Principal": {"AWS": user}, "Action": "sts:AssumeRole"}]}
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        star = sorted(a for a in policy.actions() if not a.startswith("s3:"))
        if star:
            iam.put_role_policy(RoleName=name, PolicyName="moto-resource-star", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": star, "Resource": "*"}]}))
        found[role] = {"name": name, "policy": policy, "arn": state[address]["arn"]}
    auth = f"{infra_moto.endpoint}/moto-api/reset-auth"
    requests.post(auth, data=b"0", timeout=10).raise_for_status()
    try:
        sts = moto_client(infra_moto, "sts", **admin)
        for role, info in found.items():
            creds = sts.assume_role(RoleArn=info["arn"], RoleSessionName=f"test-{role}")["Credentials"]
            info["session"] = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"], region_name=infra_moto.region)
        found["admin"] = {"session": boto3.session.Session(region_name=infra_moto.region, **admin)}
        yield found
    finally:
        requests.post(auth, data=b"inf", timeout=10).raise_for_status()


def client(roles, infra_moto, who: str, service: str, recorder: iam_eval.Recorder | None = None):
    c = roles[who]["session"].client(service, endpoint_url=infra_moto.endpoint)
    return recorder.attach(c) if recorder else c


def admin(roles, infra_moto, service: str):
    return roles["admin"]["session"].client(service, endpoint_url=infra_moto.endpoint)


def account(tf_applied) -> str:
    return state_resources(tf_applied)["aws_kms_key.main"]["arn"].split(":")[4]


def bucket(tf_applied) -> str:
    return state_resources(tf_applied)["aws_s3_bucket.lake"]["bucket"]


def ssm_prefix(tf_applied) -> str:
    return state_resources(tf_applied)["aws_ssm_parameter.fyers_app_id"]["name"].rpartition("fyers/")[0]


def workload_env(tf_applied, who: str) -> dict[str, str]:
    """The environment Terraform gives the function or the producer task run under ``who``'s role,
    after checking that Terraform runs it under that role."""
    state = state_resources(tf_applied)
    workload = state[WORKLOADS[who]]
    if WORKLOADS[who].startswith("aws_lambda_function."):
        assert workload["role"] == state[RUN_ROLES[who]]["arn"], f"{WORKLOADS[who]} runs under another role"
        return dict(workload["environment"][0]["variables"])
    assert workload["task_role_arn"] == state[RUN_ROLES[who]]["arn"], f"{WORKLOADS[who]} runs under another role"
    (container,) = json.loads(workload["container_definitions"])
    return {e["name"]: e["value"] for e in container["environment"]}


def kms_keys(roles, infra_moto, tf_applied) -> iam_eval.Keys:
    """What each KMS key encrypts in the applied stack, for the KMS rules of iam_eval.py."""
    state = state_resources(tf_applied)
    ssm = admin(roles, infra_moto, "ssm")
    region, acct = infra_moto.region, account(tf_applied)

    def key_arn(key_id: str | None) -> str | None:
        if not key_id or key_id.startswith("alias/aws/"):
            return None  # no key, or AWS's own key for SSM (its key policy admits the account's users)
        return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{region}:{acct}:key/{key_id}"

    def parameter(name: str) -> str | None:
        name = name.rstrip("/")
        found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
        if not found:  # a path (GetParametersByPath): the key of the parameters under it
            found = ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Values": [name]}])["Parameters"]
        keys = {key_arn(p.get("KeyId")) for p in found if p["Type"] == "SecureString"} - {None}
        return min(keys) if keys else None

    main = state["aws_kms_key.main"]["arn"]
    return iam_eval.Keys(buckets={bucket(tf_applied): main},
                         streams={state["aws_kinesis_stream.ticks"]["name"]: main},
                         topics={state["aws_sns_topic.alarms"]["arn"]: main}, parameter=parameter)


@contextmanager
def as_role(roles, infra_moto, tf_applied, who: str, env: dict[str, str]) -> Iterator[iam_eval.Recorder]:
    """Run code as Lambda or ECS would: ``env`` (and no other TICKPIPE_* variable) and the role's
    credentials in the environment, boto3's default session fresh. Every call through that session
    (each client the code makes) is recorded."""
    rec = iam_eval.Recorder(account(tf_applied), infra_moto.region, kms_keys(roles, infra_moto, tf_applied))
    creds = roles[who]["session"].get_credentials()
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("TICKPIPE_"):
                mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        mp.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
        mp.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
        mp.setenv("AWS_SESSION_TOKEN", creds.token)
        mp.setenv("AWS_ENDPOINT_URL", infra_moto.endpoint)
        mp.setenv("AWS_DEFAULT_REGION", infra_moto.region)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.setattr(boto3, "DEFAULT_SESSION", None)
        boto3.setup_default_session(region_name=infra_moto.region)
        boto3.DEFAULT_SESSION._session.register("before-parameter-build", rec._before)
        boto3.DEFAULT_SESSION._session.register("after-call", rec._after)
        yield rec


def assert_allowed_by_aws_rules(role: str, policy: iam_eval.Policy, recorder: iam_eval.Recorder) -> None:
    assert recorder.calls, f"{role}: no AWS call was recorded"
    denied = [c for c in recorder.calls if not policy.allows(c)]
    assert not denied, f"calls AWS would deny: {denied}"
    for bkt, key in recorder.misses:  # S3: a missing key is 404 only with ListBucket, else 403
        assert policy.allows(iam_eval.Call("s3:ListBucket", f"arn:aws:s3:::{bkt}")), \
            f"GET of missing s3://{bkt}/{key} would be 403 AccessDenied in AWS: the role lacks s3:ListBucket"


# --- the evaluator itself -------------------------------------------------------------------------


def test_the_evaluator_applies_deny_conditions_and_wildcards():
    policy = iam_eval.Policy([
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/state/bars/*"},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": "tickpipe"}}},
    ])
    tls = (("aws:SecureTransport", "true"),)
    assert policy.allows(iam_eval.Call("s3:GetObject", "arn:aws:s3:::b/state/bars/s/1.json", tls))
    assert not policy.allows(iam_eval.Call("s3:GetObject", "arn:aws:s3:::b/state/compact/x", tls))
    assert not policy.allows(iam_eval.Call("s3:GetObject", "arn:aws:s3:::b/state/bars/s/1.json",
                                           (("aws:SecureTransport", "false"),)))
    assert policy.allows(iam_eval.Call("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", "tickpipe"),)))
    assert not policy.allows(iam_eval.Call("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", "other"),)))


def test_the_lake_bucket_policy_denies_only_requests_without_tls(tf_applied):
    # moto would deny every object request under this policy (MOTO_CANNOT): the AWS rule, here
    data = {r["address"]: r["values"] for r in tf_applied["values"]["root_module"]["resources"] if r["mode"] == "data"}
    doc = json.loads(data["data.aws_iam_policy_document.lake"]["json"])
    policy = iam_eval.Policy(doc["Statement"] + [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    key = f"arn:aws:s3:::{bucket(tf_applied)}/raw/x"
    assert policy.allows(iam_eval.Call("s3:GetObject", key, (("aws:SecureTransport", "true"),)))
    assert not policy.allows(iam_eval.Call("s3:GetObject", key, (("aws:SecureTransport", "false"),)))


# --- bars -----------------------------------------------------------------------------------------


def test_bars_reads_a_missing_checkpoint_as_none_and_writes_its_own(roles, infra_moto, tf_applied):
    from consumers.bars.io import Lake

    rec = iam_eval.Recorder(account(tf_applied), infra_moto.region)
    lake = Lake(client(roles, infra_moto, "bars", "s3", rec), bucket(tf_applied), names.stream("dev"))
    assert lake.load_checkpoint("shardId-000000000009") is None
    lake.save_checkpoint("shardId-000000000009", b'{"v": 1}')
    assert lake.load_checkpoint("shardId-000000000009") == {"v": 1}
    assert rec.misses, "the first read should have met a missing key"
    assert_allowed_by_aws_rules("bars", roles["bars"]["policy"], rec)


def test_a_denied_checkpoint_fails_the_invocation_not_a_retry(roles, infra_moto, tf_applied):
    # compaction's role may not read the bars' checkpoints: the real denial, from moto's enforcement
    from consumers.bars.errors import AccessDeniedError, TransientError
    from consumers.bars.io import Lake

    lake = Lake(client(roles, infra_moto, "compact", "s3"), bucket(tf_applied), names.stream("dev"))
    with pytest.raises(AccessDeniedError, match="s3:ListBucket") as info:
        lake.load_checkpoint("shardId-000000000009")
    assert not isinstance(info.value, TransientError)


def test_bars_may_not_touch_compactions_state_or_raw(roles, infra_moto, tf_applied):
    s3 = client(roles, infra_moto, "bars", "s3")
    for key in ("state/compact/ticks/raw/dt=2026-11-27.json", "raw/ticks/x.gz", "state/symbols/main.txt"):
        with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
            s3.put_object(Bucket=bucket(tf_applied), Key=key, Body=b"x")


@pytest.fixture(scope="module")
def bars_run(roles, infra_moto, tf_applied):
    """A real batch of 30 ticks through the bars consumer, as the bars role: (recorder, consumer, failures)."""
    from consumers.bars.handler import BarsConsumer
    from local.kinesis_runner import KinesisRunner
    from tickpipe.config import Settings

    state = state_resources(tf_applied)
    admin_kinesis = admin(roles, infra_moto, "kinesis")
    stream = state["aws_kinesis_stream.ticks"]["name"]
    start = 1764301500  # 2025-11-28 09:15 IST
    for i in range(30):
        t = tickmod.make("NSE:SBIN-EQ", start + i * 20, 800.0 + i, ltt=start + i * 20, ltq=1, vol=100 + i)
        admin_kinesis.put_record(StreamName=stream, PartitionKey=t["sym"], Data=tickmod.encode(t))
    admin_kinesis.put_record(StreamName=stream, PartitionKey="NSE:SBIN-EQ", Data=b"not a tick")  # to the quarantine
    failures: list[dict[str, str]] = []
    sent: list[bytes] = []  # the bar lines, which Firehose would deliver to raw/bars/ (compact_run)
    with as_role(roles, infra_moto, tf_applied, "bars", workload_env(tf_applied, "bars")) as rec:
        firehose = boto3.client("firehose")
        firehose.meta.events.register("before-parameter-build.firehose.PutRecordBatch",
                                      lambda params, **_: sent.extend(r["Data"] for r in params["Records"]))
        consumer = BarsConsumer(Settings.from_env(), s3=boto3.client("s3"), firehose=firehose,
                                kinesis=boto3.client("kinesis"))

        def invoke(event, context):
            out = consumer.handle(event, context)
            failures.extend(out.get("batchItemFailures", []))
            return out

        # the runner plays the event source mapping (Lambda's own poller), not the function's role
        KinesisRunner(stream, invoke, kinesis=admin_kinesis, batch_size=100, tumbling_window_s=300).drain()
    return rec, consumer, failures, sent


def test_the_bars_function_runs_a_batch_as_its_role(roles, bars_run):
    rec, consumer, failures, sent = bars_run
    assert sent
    assert not failures and consumer.counters["ticks"] == 30 and consumer.counters["quarantined"] == 1
    assert {c.action for c in rec.calls} >= {"firehose:PutRecordBatch", "s3:GetObject", "s3:PutObject"}
    assert_allowed_by_aws_rules("bars", roles["bars"]["policy"], rec)


# --- compact --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compact_run(roles, infra_moto, tf_applied, bars_run):
    """The compact handler as the compact role, twice: over a raw object of 20 ticks and a bad line
    and the bars run's bar lines; then again after a second raw object of the same day arrived (the
    day is rewritten, the old generation deleted)."""
    from consumers.lake import compact
    from local.firehose_pump import evaluate_prefix, object_suffix
    from local.provision import RAW_BARS_PREFIX, RAW_TICKS_PREFIX

    now = datetime.now(UTC)
    ts = int(now.timestamp())
    ticks = [tickmod.make("NSE:SBIN-EQ", ts - 600 + i, 800.0 + i, ltt=ts - 600 + i, ltq=1, vol=100 + i)
             for i in range(20)]
    s3 = admin(roles, infra_moto, "s3")

    def raw(prefix: str, n: str, body: bytes) -> None:
        key = evaluate_prefix(prefix, now) + object_suffix(names.raw_firehose("dev"), n, now, "GZIP")
        s3.put_object(Bucket=bucket(tf_applied), Key=key, Body=gzip.compress(body))

    raw(RAW_TICKS_PREFIX, "1", b"".join(tickmod.encode(t) for t in ticks[:10]) + b"{not a tick\n")
    bars = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in bars_run[3])
    raw(RAW_BARS_PREFIX, "1", bars + b"{not a bar\n")
    with as_role(roles, infra_moto, tf_applied, "compact", workload_env(tf_applied, "compact")) as rec:
        first = compact.handler({}, None)
        raw(RAW_TICKS_PREFIX, "2", b"".join(tickmod.encode(t) for t in ticks[10:]))
        raw(RAW_BARS_PREFIX, "2", bars)  # Firehose delivers a batch twice: the day is rewritten, deduplicated
        second = compact.handler({}, None)
    return rec, first, second, ticks


def test_compaction_runs_as_its_role(roles, compact_run):
    rec, first, second, ticks = compact_run
    tables = {t["table"]: t for t in first["tables"]}
    assert tables["ticks"]["rows_out"] == 10 and tables["bars_5m"]["rows_out"] > 0
    assert {t["table"]: t for t in second["tables"]}["ticks"]["rows_out"] == len(ticks)
    assert {c.action for c in rec.calls} >= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    assert_allowed_by_aws_rules("compact", roles["compact"]["policy"], rec)


# --- producer -------------------------------------------------------------------------------------


def test_the_producer_reads_the_access_token_and_never_the_pin_or_the_refresh_token(roles, infra_moto, tf_applied):
    from fyers.token_store import FyersToken, TokenStore

    state = state_resources(tf_applied)
    prefix = state["aws_ssm_parameter.fyers_app_id"]["name"].rpartition("fyers/")[0]
    admin_ssm = roles["admin"]["session"].client("ssm", endpoint_url=infra_moto.endpoint)
    TokenStore(admin_ssm, prefix).save(FyersToken("acc-tok", "ref-tok", 1.0, 2e9, 2e9))
    rec = iam_eval.Recorder(account(tf_applied), infra_moto.region)
    # producer/service.py reads its token exactly so
    producer_store = TokenStore(client(roles, infra_moto, "producer_task", "ssm", rec), prefix)
    assert producer_store.load_access_token() == "acc-tok"
    assert_allowed_by_aws_rules("producer_task", roles["producer_task"]["policy"], rec)
    arn = f"arn:aws:ssm:{infra_moto.region}:{account(tf_applied)}:parameter{prefix}"
    for name in (names.SSM_PIN, names.SSM_SECRET_KEY, names.SSM_REFRESH_TOKEN, "login/link_key"):
        for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"):
            assert not roles["producer_task"]["policy"].allows(iam_eval.Call(action, arn + name)), (action, name)


def test_the_producer_role_is_denied_the_refresh_token_and_the_pin_it_asks_for(roles, infra_moto, tf_applied):
    from botocore.exceptions import ClientError

    from fyers.token_store import FyersToken, TokenStore

    prefix = state_resources(tf_applied)["aws_ssm_parameter.fyers_app_id"]["name"].rpartition("fyers/")[0]
    admin_ssm = roles["admin"]["session"].client("ssm", endpoint_url=infra_moto.endpoint)
    TokenStore(admin_ssm, prefix).save(FyersToken("acc-tok", "ref-tok", 1.0, 2e9, 2e9))
    admin_ssm.put_parameter(Name=prefix + names.SSM_PIN, Value="4821", Type="SecureString", Overwrite=True)
    ssm = client(roles, infra_moto, "producer_task", "ssm")
    with pytest.raises(ClientError, match="AccessDenied"):  # the role has no ssm:GetParameters at all
        TokenStore(ssm, prefix).load()  # the whole token, refresh token included: the token function's read
    # moto authorizes ssm:GetParameter without the parameter's ARN, so it answers these; AWS evaluates
    # the ARN (Deny NeverTheCredentials): the recorded calls are checked with AWS's rules instead
    rec = iam_eval.Recorder(account(tf_applied), infra_moto.region)
    ssm = client(roles, infra_moto, "producer_task", "ssm", rec)
    for name in (names.SSM_TOKEN, names.SSM_REFRESH_TOKEN, names.SSM_PIN):
        ssm.get_parameter(Name=prefix + name, WithDecryption=True)
    denied = {c.resource.rpartition(prefix)[2] for c in rec.calls if not roles["producer_task"]["policy"].allows(c)}
    assert denied == {names.SSM_REFRESH_TOKEN, names.SSM_PIN}


def test_the_token_function_may_read_the_credentials_and_write_only_the_token(roles, infra_moto, tf_applied):
    policy = roles["token"]["policy"]
    prefix = state_resources(tf_applied)["aws_ssm_parameter.fyers_app_id"]["name"].rpartition("fyers/")[0]
    arn = f"arn:aws:ssm:{infra_moto.region}:{account(tf_applied)}:parameter{prefix}"
    for name in (names.SSM_PIN, names.SSM_SECRET_KEY, names.SSM_TOKEN, names.SSM_APP_ID, names.SSM_REFRESH_TOKEN):
        assert policy.allows(iam_eval.Call("ssm:GetParameters", arn + name)), name
    for name in (names.SSM_REDIRECT_URI, names.SSM_LOGIN_KEY):  # the login page's, not the refresh's
        assert not policy.allows(iam_eval.Call("ssm:GetParameters", arn + name)), name
    for name in (names.SSM_TOKEN, names.SSM_REFRESH_TOKEN):
        assert policy.allows(iam_eval.Call("ssm:PutParameter", arn + name)), name
    for name in (names.SSM_PIN, names.SSM_SECRET_KEY, names.SSM_APP_ID):
        assert not policy.allows(iam_eval.Call("ssm:PutParameter", arn + name)), name


def test_a_symbols_object_the_producer_may_not_read_says_missing_or_denied(roles, infra_moto, tf_applied):
    from tickpipe.errors import UniverseError
    from tickpipe.universe import read_source

    # outside state/symbols/: moto denies it, as AWS would (and AWS says 403 for a missing key too)
    s3 = client(roles, infra_moto, "producer_task", "s3")
    with pytest.raises(UniverseError, match="does not exist, or this task's role may not read it"):
        read_source(f"s3://{bucket(tf_applied)}/raw/symbols.txt", s3=s3)


# --- the producer, end to end: tickpipe-produce as the task role ---------------------------------


@pytest.fixture(scope="module")
def live_sim(tf_applied):
    """A Fyers simulator in session, whose app id is the one Terraform stored."""
    from fyers.sim.config import SimConfig
    from fyers.sim.simulator import Simulator

    app_id = state_resources(tf_applied)["aws_ssm_parameter.fyers_app_id"]["value"]
    sim = Simulator(SimConfig(app_id=app_id, speed=20, snapshot_interval=0.5)).start()
    yield sim
    sim.stop()


def store_token(roles, infra_moto, tf_applied, sim, refresh_days: float = 15) -> Any:
    """What a login leaves in SSM (docs/deploy.md, 'First token'), written by the operator."""
    from fyers.auth import read_access_token
    from fyers.token_store import FyersToken, TokenStore

    state = state_resources(tf_applied)
    issued = sim.issue_tokens()
    now = int(time.time())
    token = FyersToken(issued["access_token"], issued["refresh_token"], now - 60,
                       read_access_token(issued["access_token"]).exp, now + int(refresh_days * 86400))
    TokenStore(admin(roles, infra_moto, "ssm"), ssm_prefix(tf_applied),
               key_id=state["aws_kms_key.secrets"]["arn"]).save(token)
    return token


def store_credentials(roles, infra_moto, tf_applied, sim, redirect_uri: str | None = None) -> None:
    """The app secret and the PIN, as `tickpipe login --set-credentials` stores them (the app id is Terraform's)."""
    secrets = state_resources(tf_applied)["aws_kms_key.secrets"]["arn"]
    ssm = admin(roles, infra_moto, "ssm")
    prefix = ssm_prefix(tf_applied)
    for key, value in ((names.SSM_SECRET_KEY, sim.config.secret_key), (names.SSM_PIN, sim.config.pin)):
        ssm.put_parameter(Name=prefix + key, Value=value, Type="SecureString", KeyId=secrets, Overwrite=True)
    if redirect_uri:  # docs/deploy.md, 'The login page': the page's callback registered as the redirect URI
        ssm.put_parameter(Name=prefix + names.SSM_REDIRECT_URI, Value=redirect_uri, Type="String", Overwrite=True)


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout:.0f} s: {what}")


@pytest.fixture(scope="module")
def producer_task_run(roles, infra_moto, tf_applied, live_sim, tmp_path_factory):
    """`tickpipe-produce` (the container's command, producer/cli.py) with the task definition's
    environment, as the task role, against the simulator: it reads its universe from the symbols
    object and its token from SSM, streams, quarantines a malformed frame, records the gap of a
    dropped connection, publishes metrics, and stops on SIGTERM as ECS stops it."""
    from local.moto_server import free_port
    from producer.cli import main

    state = state_resources(tf_applied)
    env = workload_env(tf_applied, "producer_task")
    symbols_url = env["TICKPIPE_SYMBOLS"]
    assert symbols_url == f"s3://{bucket(tf_applied)}/state/symbols/main.txt", symbols_url
    symbols = live_sim.symbols[:6]
    admin(roles, infra_moto, "s3").put_object(Bucket=bucket(tf_applied), Key=symbols_url.split("/", 3)[3],
                                              Body="\n".join(symbols).encode())
    store_token(roles, infra_moto, tf_applied, live_sim)
    port = free_port()
    # Test-only differences from the task definition: the simulator instead of Fyers, a journal and a
    # health port of the test's own, the session always open (the simulator's market is not NSE's
    # wall-clock hours), metrics every second.
    for key in ("TICKPIPE_FYERS_API_URL", "TICKPIPE_FYERS_WS_URL", "TICKPIPE_PRODUCER_JOURNAL_DIR",
                "TICKPIPE_PRODUCER_HEALTH_PORT", "TICKPIPE_PRODUCER_HEALTH_HOST"):
        assert key in env, f"the task definition no longer sets {key}"
    env |= {"TICKPIPE_FYERS_API_URL": live_sim.api_url, "TICKPIPE_FYERS_WS_URL": live_sim.ws_url,
            "TICKPIPE_PRODUCER_JOURNAL_DIR": str(tmp_path_factory.mktemp("journal")),
            "TICKPIPE_PRODUCER_HEALTH_PORT": str(port), "TICKPIPE_PRODUCER_HEALTH_HOST": "127.0.0.1",
            "TICKPIPE_PRODUCER_SESSION": "always", "TICKPIPE_PRODUCER_METRICS_INTERVAL": "1"}
    command = json.loads(state[WORKLOADS["producer_task"]]["container_definitions"])[0]["entryPoint"]
    assert command[0] == "tickpipe-produce", command
    health = f"http://127.0.0.1:{port}/health"

    def status() -> dict[str, Any]:
        try:
            return requests.get(health, timeout=2).json()
        except (requests.RequestException, ValueError):
            return {}

    done = threading.Event()
    problems: list[str] = []

    def drive() -> None:
        """What happens to a producer in a day: a bad frame, a dropped connection, then ECS stops the task."""
        try:
            wait_for(lambda: status().get("ticks_sent", 0) >= 100 or done.is_set(), "ticks reach the stream")
            live_sim.faults.malformed_frame()
            sent = status().get("ticks_sent", 0)  # the simulator sends the bad frame before its next ticks
            wait_for(lambda: status().get("ticks_sent", 0) > sent + 20 or done.is_set(), "ticks after the bad frame")
            live_sim.faults.drop_connections()
            # the gap is recorded once the socket is back (a reconnect can be quicker than any poll)
            gaps = names.partition(names.GAPS, datetime.now(UTC).date().isoformat())
            wait_for(lambda: done.is_set() or admin(roles, infra_moto, "s3").list_objects_v2(
                Bucket=bucket(tf_applied), Prefix=gaps).get("KeyCount", 0) > 0, "the dropped connection's gap record")
            sent = status().get("ticks_sent", 0)
            wait_for(lambda: status().get("ticks_sent", 0) > sent + 20 or done.is_set(), "ticks after the reconnect")
        except AssertionError as exc:
            problems.append(str(exc))
        finally:
            if not done.is_set():
                os.kill(os.getpid(), signal.SIGTERM)  # what ECS sends; the CLI's handler sets its stop event

    # A SIGTERM that arrives after the CLI restored the previous handler must not stop pytest.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    driver = threading.Thread(target=drive, name="ecs", daemon=True)
    root = logging.getLogger()
    handlers = root.handlers[:]  # --json-logs replaces the root handlers, as in the container
    try:
        with as_role(roles, infra_moto, tf_applied, "producer_task", env) as rec:
            driver.start()
            code = main(command[1:])
            done.set()
            driver.join(timeout=150)
    finally:
        root.handlers[:] = handlers
        signal.signal(signal.SIGTERM, previous)
    assert not problems, problems
    return rec, code, symbols


def test_the_producer_streams_its_symbols_object_into_the_stream_as_its_task_role(roles, infra_moto, tf_applied,
                                                                                   producer_task_run):
    import orjson

    from producer.testing import read_user_records

    rec, code, symbols = producer_task_run
    assert code == 0
    stream = state_resources(tf_applied)["aws_kinesis_stream.ticks"]["name"]
    # the stream also carries the other runs' records (the bars run's, the safety net's watermark)
    records = [orjson.loads(data) for _, _, data in read_user_records(admin(roles, infra_moto, "kinesis"), stream)
               if data.startswith(b"{")]
    ticks = [r for r in records if r.get("pid") == "dev-main" and "sym" in r]  # the task's producer id
    # the universe came from the symbols object
    assert len(ticks) >= 100 and {t["sym"] for t in ticks} <= set(symbols)
    assert {c.action for c in rec.calls} >= {"s3:GetObject", "ssm:GetParameter", "kinesis:ListShards",
                                             "kinesis:PutRecords", "cloudwatch:PutMetricData", "s3:PutObject"}
    assert_allowed_by_aws_rules("producer_task", roles["producer_task"]["policy"], rec)


def test_the_producer_records_its_gap_and_quarantines_a_bad_frame_as_its_task_role(roles, infra_moto, tf_applied,
                                                                                   producer_task_run):
    rec, _, _ = producer_task_run
    s3 = admin(roles, infra_moto, "s3")
    written = {c.resource.split("/", 1)[1].split("/dt=")[0] for c in rec.calls if c.action == "s3:PutObject"}
    assert written == {names.GAPS.rstrip("/"), names.QUARANTINE + "frames"}
    for prefix in (names.GAPS, names.QUARANTINE + "frames/"):
        assert s3.list_objects_v2(Bucket=bucket(tf_applied), Prefix=prefix).get("KeyCount", 0) >= 1, prefix


def test_the_producer_role_is_denied_what_the_producer_never_does(roles, infra_moto, tf_applied):
    from botocore.exceptions import ClientError

    s3 = client(roles, infra_moto, "producer_task", "s3")
    for key in ("state/bars/x.json", "raw/ticks/x.gz", "state/symbols/main.txt", "curated/ticks/x.parquet"):
        with pytest.raises(ClientError, match="AccessDenied"):  # moto's enforcement
            s3.put_object(Bucket=bucket(tf_applied), Key=key, Body=b"x")
    with pytest.raises(ClientError, match="AccessDenied"):  # no ssm:PutParameter at all
        client(roles, infra_moto, "producer_task", "ssm").put_parameter(
            Name=ssm_prefix(tf_applied) + names.SSM_TOKEN, Value="x", Type="SecureString", Overwrite=True)
    policy = roles["producer_task"]["policy"]
    other = f"arn:aws:kinesis:{infra_moto.region}:{account(tf_applied)}:stream/another"
    assert not policy.allows(iam_eval.Call("kinesis:PutRecords", other))
    assert not policy.allows(iam_eval.Call("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", "Other"),)))


# --- the token function: tokens.refresh.handler as its role -----------------------------------------


@pytest.fixture(scope="module")
def token_run(roles, infra_moto, tf_applied, live_sim):
    """The morning refresh through its Lambda entry point, with the function's environment, as its role."""
    from tokens.refresh import handler

    store_credentials(roles, infra_moto, tf_applied, live_sim)
    before = store_token(roles, infra_moto, tf_applied, live_sim)
    env = workload_env(tf_applied, "token")
    assert "TICKPIPE_FYERS_API_URL" in env
    with as_role(roles, infra_moto, tf_applied, "token", env | {"TICKPIPE_FYERS_API_URL": live_sim.api_url}) as rec:
        result = handler({}, None)
    return rec, result, before


def test_the_token_function_refreshes_the_token_as_its_role(roles, infra_moto, tf_applied, token_run):
    from fyers.token_store import TokenStore

    rec, result, before = token_run
    after = TokenStore(admin(roles, infra_moto, "ssm"), ssm_prefix(tf_applied)).load()
    assert after.access_token != before.access_token and after.refresh_token == before.refresh_token
    assert result["refresh_token_days_left"] == pytest.approx(15, abs=0.1)
    written = {c.resource.rpartition(ssm_prefix(tf_applied))[2] for c in rec.calls if c.action == "ssm:PutParameter"}
    assert written == {names.SSM_TOKEN, names.SSM_REFRESH_TOKEN, names.SSM_LAST_REFRESH}
    assert_allowed_by_aws_rules("token", roles["token"]["policy"], rec)


def test_the_token_role_is_denied_what_the_refresh_never_does(roles, infra_moto, tf_applied):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="AccessDenied"):
        client(roles, infra_moto, "token", "s3").list_objects_v2(Bucket=bucket(tf_applied))
    with pytest.raises(ClientError, match="AccessDenied"):  # no DeleteParameter at all
        client(roles, infra_moto, "token", "ssm").delete_parameter(Name=ssm_prefix(tf_applied) + names.SSM_TOKEN)


# --- the login page: tokens.login as its role ---------------------------------------------------------


@pytest.fixture(scope="module")
def login_run(roles, infra_moto, tf_applied, live_sim):
    """The hosted login page as its role: the status page through the Lambda entry point, a whole
    login (link, Fyers, callback) through the page the handler builds, and the reminder e-mail."""
    sys_path_helpers()
    from login_helpers import csrf_of, fyers_login  # tests/tokens

    from tokens import login
    from tokens.login_link_cli import link_key, mint
    from tokens.login_server import LoginServer

    env = workload_env(tf_applied, "login")
    env["TICKPIPE_FYERS_API_URL"] = live_sim.api_url
    store_token(roles, infra_moto, tf_applied, live_sim, refresh_days=1)  # due for the reminder
    # a used link's marker, expired long ago: the page's sweep deletes it
    expired = ssm_prefix(tf_applied) + names.SSM_LOGIN_USED + "0" * 32
    admin(roles, infra_moto, "ssm").put_parameter(Name=expired, Value="1000", Type="SecureString", Overwrite=True)
    out: dict[str, Any] = {}
    with as_role(roles, infra_moto, tf_applied, "login", env) as rec:
        from tickpipe.config import Settings

        # the handler's own page (tokens/login.py handler), served on 127.0.0.1 instead of a Function URL
        app = login.LoginApp(Settings.from_env(), boto3.client("ssm"), limiter=login.FailureLimiter())
        with LoginServer(app) as server:
            store_credentials(roles, infra_moto, tf_applied, live_sim, redirect_uri=server.callback_url)
            operator = admin(roles, infra_moto, "ssm")  # `tickpipe login-link`, run by the operator
            settings = Settings.from_env()
            link_key(operator, settings, state_resources(tf_applied)["aws_kms_key.secrets"]["arn"])
            operator.put_parameter(Name=settings.ssm_name(names.SSM_LOGIN_PAGE_URL), Value=server.url, Type="String",
                                   Overwrite=True)
            out["remind"] = login.handler({"remind": True}, None)  # the refresh token is due: a link by e-mail
            browser = requests.Session()
            assert browser.get(mint(operator, settings, None, 15), allow_redirects=False, timeout=10).status_code == 303
            status = browser.get(server.url + "/", timeout=10)
            r = browser.post(server.url + "/login", data={"csrf": csrf_of(status.text)},
                             headers={"Origin": server.url}, allow_redirects=False, timeout=10)
            assert r.status_code == 303, r.text
            callback = fyers_login(SimpleNamespace(sim=live_sim), r.headers["Location"])  # the Fyers login form
            out["callback"] = browser.get(callback, allow_redirects=False, timeout=10)
        # the Lambda entry point with Function URL events: a fresh link, then the status page
        link = mint(operator, settings, "https://login.invalid", 15)

        def get(query: str, cookies: list[str]) -> dict[str, Any]:
            return login.handler({"version": "2.0", "rawPath": "/", "rawQueryString": query, "cookies": cookies,
                                  "headers": {"host": "login.invalid"},
                                  "requestContext": {"http": {"method": "GET", "sourceIp": "192.0.2.1"}}}, None)

        out["redeem"] = get(link.partition("?")[2], [])
        out["status"] = get("", [c.split(";")[0] for c in out["redeem"].get("cookies", [])])
    return rec, out


def sys_path_helpers() -> None:
    import sys
    from pathlib import Path

    helpers = str(Path(__file__).resolve().parents[1] / "tokens")
    if helpers not in sys.path:
        sys.path.insert(0, helpers)


def test_the_login_page_logs_in_and_reminds_as_its_role(roles, infra_moto, tf_applied, login_run):
    from fyers.token_store import TokenStore

    rec, out = login_run
    assert out["callback"].status_code in (200, 303), out["callback"].text
    assert out["redeem"]["statusCode"] == 303 and out["status"]["statusCode"] == 200, out["status"]["body"]
    assert out["remind"]["sent"] is True and out["remind"]["link"] is True
    stored = TokenStore(admin(roles, infra_moto, "ssm"), ssm_prefix(tf_applied)).load()
    assert stored.refresh_expires_at > time.time() + 14 * 86400  # the login's new refresh token
    assert {c.action for c in rec.calls} >= {"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter",
                                             "sns:Publish"}
    deleted = {c.resource.rpartition(ssm_prefix(tf_applied))[2].rpartition("/")[0]
               for c in rec.calls if c.action == "ssm:DeleteParameter"}
    assert deleted == {names.SSM_LOGIN_STATES.rstrip("/"), names.SSM_LOGIN_USED.rstrip("/")}  # consumed, swept
    assert_allowed_by_aws_rules("login", roles["login"]["policy"], rec)


def test_the_login_role_is_denied_the_pin_and_everything_else(roles, infra_moto, tf_applied):
    from botocore.exceptions import ClientError

    policy = roles["login"]["policy"]
    arn = f"arn:aws:ssm:{infra_moto.region}:{account(tf_applied)}:parameter{ssm_prefix(tf_applied)}"
    assert not policy.allows(iam_eval.Call("ssm:GetParameter", arn + names.SSM_PIN))
    assert not policy.allows(iam_eval.Call("ssm:PutParameter", arn + names.SSM_SECRET_KEY))
    with pytest.raises(ClientError, match="AccessDenied"):
        client(roles, infra_moto, "login", "s3").list_objects_v2(Bucket=bucket(tf_applied))


# --- the history functions: backfill and reconcile handlers as their roles -------------------------

SBIN, TCS = "NSE:SBIN-EQ", "NSE:TCS-EQ"
HISTORY_DAY = dt.date(2026, 11, 27)  # the simulated day (a Friday); the backfill covers the week before


class Context:
    """What the handlers ask of Lambda's context: the time left."""

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


@pytest.fixture(scope="module")
def history_sim(tf_applied):
    """A simulator after the close of HISTORY_DAY, with Fyers' rate limits, serving candles."""
    from fyers.sim.config import SimConfig
    from fyers.sim.simulator import Simulator

    app_id = state_resources(tf_applied)["aws_ssm_parameter.fyers_app_id"]["value"]
    sim = Simulator(SimConfig(app_id=app_id, speed=1, day=HISTORY_DAY, start_time=dt.time(16, 0), rate_limits=True,
                              symbols=[SBIN, TCS])).start()
    yield sim
    sim.stop()


def history_env(tf_applied, who: str, sim, tmp_path) -> dict[str, str]:
    env = workload_env(tf_applied, who)
    assert {"TICKPIPE_FYERS_API_URL", "TICKPIPE_FYERS_LIMITER"} <= set(env)
    # the simulator instead of Fyers; the shared request log in the test's folder, not /tmp
    return env | {"TICKPIPE_FYERS_API_URL": sim.api_url, "TICKPIPE_FYERS_LIMITER": str(tmp_path / "fyers.json")}


@pytest.fixture(scope="module")
def backfill_run(roles, infra_moto, tf_applied, history_sim, tmp_path_factory):
    from consumers.history.backfill import handler

    store_token(roles, infra_moto, tf_applied, history_sim)
    event = {"symbols": [SBIN, TCS], "from": "2026-11-16", "to": "2026-11-20"}  # every resolution
    env = history_env(tf_applied, "backfill", history_sim, tmp_path_factory.mktemp("backfill"))
    with as_role(roles, infra_moto, tf_applied, "backfill", env) as rec:
        first = handler(event, Context())
        again = handler(event, Context())
    return rec, first, again


def test_the_backfill_function_fetches_candles_into_the_lake_as_its_role(roles, backfill_run):
    rec, first, again = backfill_run
    assert first["fetched"] > 2 and first["failed"] == [] and first["pending"] == 0  # 1m, 5m and 1d chunks
    assert again["already_done"] == first["fetched"] and again["requests"] == 0
    assert {c.action for c in rec.calls} >= {"ssm:GetParameter", "s3:PutObject", "s3:GetObject"}
    assert_allowed_by_aws_rules("backfill", roles["backfill"]["policy"], rec)


@pytest.fixture(scope="module")
def reconcile_run(roles, infra_moto, tf_applied, history_sim, tmp_path_factory):
    from consumers.history.reconcile import handler

    store_token(roles, infra_moto, tf_applied, history_sim)
    env = history_env(tf_applied, "reconcile", history_sim, tmp_path_factory.mktemp("reconcile"))
    (universe,) = env["TICKPIPE_SYMBOLS"].split(",")  # the producer's symbols object (infra/history.tf)
    s3 = admin(roles, infra_moto, "s3")
    s3.put_object(Bucket=bucket(tf_applied), Key=universe.split("/", 3)[3], Body=f"{SBIN}\n{TCS}\n".encode())
    seed_the_days_bars_and_gaps(s3, bucket(tf_applied))
    with as_role(roles, infra_moto, tf_applied, "reconcile", env) as rec:
        out = handler({"day": RECONCILE_DAY.isoformat(), "symbols": [SBIN]}, Context())
    return rec, out


RECONCILE_DAY = dt.date(2026, 11, 18)


def seed_the_days_bars_and_gaps(s3, bkt: str) -> None:
    """What compaction and the producer leave for a day: one curated 5-minute bar of SBIN (through
    the compaction manifest) and a gap record of TCS."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from consumers.lake.schema import BARS
    from market.session import epoch

    day = RECONCILE_DAY.isoformat()
    start = epoch(RECONCILE_DAY, dt.time(9, 15))
    key = f"curated/bars_5m/dt={day}/seed.parquet"
    body = io.BytesIO()
    pq.write_table(pa.table({"sym": [SBIN], "start": [start], "o": [800.0], "h": [801.0], "l": [799.0], "c": [800.5],
                             "vol": [1000]}), body)
    s3.put_object(Bucket=bkt, Key=key, Body=body.getvalue())
    s3.put_object(Bucket=bkt, Key=f"{BARS.state_prefix}dt={day}/manifest.json",
                  Body=json.dumps({"files": [{"key": key}]}).encode())
    gap = {"symbols": [TCS], "from": start + 3600, "to": start + 4200, "reason": "disconnect", "pid": "dev-main"}
    s3.put_object(Bucket=bkt, Key=f"{names.partition(names.GAPS, day)}dev-main-{start + 3600}-disconnect-0.json",
                  Body=json.dumps(gap).encode())


def test_the_reconcile_function_compares_a_day_as_its_role(roles, reconcile_run):
    rec, out = reconcile_run
    # 75 candles a symbol: SBIN's one curated bar is compared, TCS's gap explains two of its bars
    summary = out["summary"]
    assert (summary["candles"], summary["bars"], summary["compared"], summary["gap_bars"]) == (150, 1, 1, 2)
    assert summary["missing_bars"] == 147
    read = {c.resource.split("/", 1)[1].split("/dt=")[0] for c in rec.calls if c.action == "s3:GetObject"}
    assert {"curated/bars_5m", "state/gaps", "state/compact/bars_5m", "state/symbols/main.txt"} <= read, read
    assert_allowed_by_aws_rules("reconcile", roles["reconcile"]["policy"], rec)


def test_the_history_roles_may_not_write_the_live_pipelines_state(roles, infra_moto, tf_applied):
    from botocore.exceptions import ClientError

    for who in ("backfill", "reconcile"):
        s3 = client(roles, infra_moto, who, "s3")
        for key in ("state/bars/x.json", "curated/ticks/x.parquet", "state/symbols/main.txt"):
            with pytest.raises(ClientError, match="AccessDenied"):
                s3.put_object(Bucket=bucket(tf_applied), Key=key, Body=b"x")


# --- the watermark safety net: its handler as its role ---------------------------------------------


@pytest.fixture(scope="module")
def watermark_net_run(roles, infra_moto, tf_applied):
    from consumers.bars.watermark_net import handler
    from market.session import IST

    env = workload_env(tf_applied, "watermark_net")
    # The handler refuses to run while a session is in progress (by the wall clock): today is declared
    # closed, so that the test does not depend on the hour it runs at.
    today = datetime.now(IST).date().isoformat()
    with as_role(roles, infra_moto, tf_applied, "watermark_net",
                 env | {"TICKPIPE_SESSION_OVERRIDES": f"{today}=closed"}) as rec:
        out = handler({}, None)
    return rec, out


def test_the_watermark_function_writes_every_shard_as_its_role(roles, infra_moto, tf_applied, watermark_net_run):
    rec, out = watermark_net_run
    stream = state_resources(tf_applied)["aws_kinesis_stream.ticks"]["name"]
    shards = admin(roles, infra_moto, "kinesis").list_shards(StreamName=stream)["Shards"]
    assert out["written"] == len([s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]) > 0
    assert_allowed_by_aws_rules("watermark_net", roles["watermark_net"]["policy"], rec)
    policy = roles["watermark_net"]["policy"]
    assert not policy.allows(iam_eval.Call("kinesis:GetRecords", f"arn:aws:kinesis:{infra_moto.region}:"
                                           f"{account(tf_applied)}:stream/{stream}"))


# --- every grant of every role is used ------------------------------------------------------------


def test_the_role_lists_name_every_role_terraform_creates(tf_applied):
    created = {a for a in state_resources(tf_applied) if a.startswith("aws_iam_role.")}
    assert created == set(RUN_ROLES.values()) | set(SERVICE_ROLES.values())
    assert set(PLATFORM) == set(RUN_ROLES) | set(SERVICE_ROLES)


@pytest.mark.parametrize("role", sorted(RUN_ROLES) + sorted(SERVICE_ROLES))
def test_every_grant_of_a_role_is_used_by_its_code_or_the_platform(request, tf_applied, role):
    """Each (action, resource) an Allow statement grants is used by a call recorded while the code ran
    as the role, or its action is one the platform calls (PLATFORM, with the AWS page that says so)."""
    state = state_resources(tf_applied)
    address = RUN_ROLES.get(role) or SERVICE_ROLES[role]
    name = state[address]["name"]
    attached = {v["policy_arn"] for a, v in state.items()
                if a.startswith("aws_iam_role_policy_attachment.") and v["role"] == name}
    assert attached == set(MANAGED.get(role, {})), f"{role} attaches {sorted(attached)}"
    inline = [a for a, v in state.items() if a.startswith("aws_iam_role_policy.") and v["role"] == name]
    if not inline:
        assert attached, f"{role} has no policy at all"
        return
    policy = role_policy(state, name)
    calls = request.getfixturevalue(f"{role}_run")[0].calls if role in RUN_ROLES else []
    platform = PLATFORM[role]
    stale = set(platform) - policy.actions()
    assert not stale, f"PLATFORM lists {sorted(stale)} for {role}, which the role does not grant"
    unused = [(action, resource) for action, resource in policy.grants()
              if action not in platform and not any(iam_eval.Policy.grant_matches(action, resource, c) for c in calls)]
    assert not unused, f"{role} grants {unused}, which neither its code nor the platform uses"


def test_the_functions_that_emit_emf_need_no_put_metric_data(roles):
    for role in ("bars", "compact", "token", "login", "backfill", "reconcile", "watermark_net"):
        assert "cloudwatch:PutMetricData" not in roles[role]["policy"].actions(), role
