"""Least privilege, proven by running each component under the role Terraform made for it.

On the moto server Terraform applied (conftest.py tf_applied), IAM enforcement is switched on
(moto's reset-auth, the INITIAL_NO_AUTH_ACTION_COUNT switch), a test user assumes each role through
STS, and the component's real code runs with those credentials. moto resource-checks S3; for the
other services it compares every call with the resource "*", where ARN-scoped statements never
match, so a test-only policy grants the role's own non-S3 actions on "*" and every recorded call
is evaluated against Terraform's policy with AWS's rules in iam_eval.py (which also holds the
S3 403-for-a-missing-key rule and the KMS rule moto does not apply).
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import boto3
import iam_eval  # tests/infra/iam_eval.py, loaded by conftest.py
import pytest
import requests
from terraform_run import moto_client, state_resources

from market import tick as tickmod
from tickpipe import names

pytestmark = pytest.mark.timeout(1800)  # the first test waits for the session's apply

ADMIN = "tickpipe-test-admin"
ROLES = ("bars", "compact", "token", "producer_task")

# Actions a role grants that its code never calls, and who calls them instead.
PLATFORM: dict[str, dict[str, str]] = {
    "bars": {
        "kinesis:DescribeStream": "the Kinesis event source mapping polls with the function's role",
        "kinesis:DescribeStreamSummary": "the event source mapping",
        "kinesis:GetShardIterator": "the event source mapping",
        "kinesis:GetRecords": "the event source mapping",
        "sqs:SendMessage": "the event source mapping's on-failure destination",
        "logs:CreateLogStream": "the Lambda runtime ships the function's logs",
        "logs:PutLogEvents": "the Lambda runtime",
        "xray:PutTraceSegments": "active tracing: the Lambda runtime's X-Ray daemon",
        "xray:PutTelemetryRecords": "active tracing",
        "kms:Decrypt": "S3 SSE-KMS reads and Kinesis decryption (iam_eval KMS rule)",
        "kms:GenerateDataKey": "S3 SSE-KMS writes and Firehose encryption (iam_eval KMS rule)",
    },
    "compact": {
        "sqs:SendMessage": "the function's dead-letter queue (Lambda's async invoke)",
        "logs:CreateLogStream": "the Lambda runtime ships the function's logs",
        "logs:PutLogEvents": "the Lambda runtime",
        "xray:PutTraceSegments": "active tracing",
        "xray:PutTelemetryRecords": "active tracing",
        "kms:Decrypt": "S3 SSE-KMS reads (iam_eval KMS rule)",
        "kms:GenerateDataKey": "S3 SSE-KMS writes (iam_eval KMS rule)",
    },
}


# Actions each component's code calls (the runs below fail if a recorded call is missing here).
USED: dict[str, set[str]] = {
    "bars": {"kinesis:ListShards", "firehose:PutRecordBatch", "s3:GetObject", "s3:PutObject", "s3:ListBucket"},
    "compact": {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
    "producer_task": {"ssm:GetParameter", "kinesis:PutRecords", "kinesis:ListShards", "s3:GetObject", "s3:PutObject",
                      "cloudwatch:PutMetricData"},
}


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
    for role in ROLES:
        name = state[f"aws_iam_role.{role}"]["name"]
        document = state[f"aws_iam_role_policy.{role}"]["policy"]
        policy = iam_eval.Policy.of(document)
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
        found[role] = {"name": name, "policy": policy, "arn": state[f"aws_iam_role.{role}"]["arn"]}
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


def account(tf_applied) -> str:
    return state_resources(tf_applied)["aws_kms_key.main"]["arn"].split(":")[4]


def bucket(tf_applied) -> str:
    return state_resources(tf_applied)["aws_s3_bucket.lake"]["bucket"]


def assert_allowed_by_aws_rules(role: str, policy: iam_eval.Policy, recorder: iam_eval.Recorder) -> None:
    unlisted = {c.action for c in recorder.calls} - USED[role]
    assert not unlisted, f"{role} calls {sorted(unlisted)}: add them to USED"
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


def test_the_bars_function_runs_a_batch_as_its_role(roles, infra_moto, tf_applied, monkeypatch):
    from consumers.bars.handler import BarsConsumer
    from local.kinesis_runner import KinesisRunner
    from tickpipe.config import Settings

    state = state_resources(tf_applied)
    for k, v in state["aws_lambda_function.bars"]["environment"][0]["variables"].items():
        monkeypatch.setenv(k, v)
    admin_kinesis = roles["admin"]["session"].client("kinesis", endpoint_url=infra_moto.endpoint)
    stream = state["aws_kinesis_stream.ticks"]["name"]
    start = 1764301500  # 2025-11-28 09:15 IST
    for i in range(30):
        t = tickmod.make("NSE:SBIN-EQ", start + i * 20, 800.0 + i, ltt=start + i * 20, ltq=1, vol=100 + i)
        admin_kinesis.put_record(StreamName=stream, PartitionKey=t["sym"], Data=tickmod.encode(t))
    rec = iam_eval.Recorder(account(tf_applied), infra_moto.region)
    consumer = BarsConsumer(Settings.from_env(), s3=client(roles, infra_moto, "bars", "s3", rec),
                            firehose=client(roles, infra_moto, "bars", "firehose", rec),
                            kinesis=client(roles, infra_moto, "bars", "kinesis", rec))
    failures = []

    def invoke(event, context):
        out = consumer.handle(event, context)
        failures.extend(out.get("batchItemFailures", []))
        return out

    # the runner plays the event source mapping (Lambda's own poller), not the function's role
    KinesisRunner(stream, invoke, kinesis=admin_kinesis, batch_size=100, tumbling_window_s=300).drain()
    assert not failures and consumer.counters["ticks"] == 30
    assert {c.action for c in rec.calls} >= {"firehose:PutRecordBatch", "s3:GetObject", "s3:PutObject"}
    assert_allowed_by_aws_rules("bars", roles["bars"]["policy"], rec)


# --- compact --------------------------------------------------------------------------------------


def test_compaction_runs_as_its_role(roles, infra_moto, tf_applied, monkeypatch):
    from consumers.lake import compact
    from local.firehose_pump import evaluate_prefix, object_suffix
    from local.provision import RAW_TICKS_PREFIX

    state = state_resources(tf_applied)
    for k, v in state["aws_lambda_function.compact"]["environment"][0]["variables"].items():
        monkeypatch.setenv(k, v)
    now = datetime.now(UTC)
    ticks = [tickmod.make("NSE:SBIN-EQ", int(now.timestamp()) - 600 + i, 800.0 + i, ltt=int(now.timestamp()) - 600 + i,
                          ltq=1, vol=100 + i) for i in range(20)]
    key = evaluate_prefix(RAW_TICKS_PREFIX, now) + object_suffix(names.raw_firehose("dev"), "1", now, "GZIP")
    roles["admin"]["session"].client("s3", endpoint_url=infra_moto.endpoint).put_object(
        Bucket=bucket(tf_applied), Key=key, Body=gzip.compress(b"".join(tickmod.encode(t) for t in ticks)))
    rec = iam_eval.Recorder(account(tf_applied), infra_moto.region)
    creds = roles["compact"]["session"].get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds.token)
    monkeypatch.setenv("AWS_ENDPOINT_URL", infra_moto.endpoint)
    # the handler makes its clients with boto3's default session: record through it
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session(region_name=infra_moto.region)
    boto3.DEFAULT_SESSION._session.register("before-parameter-build", rec._before)
    boto3.DEFAULT_SESSION._session.register("after-call", rec._after)
    result = compact.handler({}, None)
    by_table = {t["table"]: t for t in result["tables"]}
    assert by_table["ticks"]["rows_out"] == len(ticks)
    assert_allowed_by_aws_rules("compact", roles["compact"]["policy"], rec)


# --- every grant is used ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["bars", "compact"])
def test_every_action_a_role_grants_is_used_by_its_code_or_the_platform(roles, role):
    # the component runs above recorded what the code calls; PLATFORM says who calls the rest
    policy = roles[role]["policy"]
    unused = policy.actions() - USED[role] - set(PLATFORM[role])
    assert not unused, f"{role} grants {sorted(unused)}, which neither its code nor the platform uses"
    assert "cloudwatch:PutMetricData" not in policy.actions(), f"{role} emits EMF; it needs no PutMetricData"


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
    for name in (names.SSM_PIN, names.SSM_SECRET_KEY, names.SSM_TOKEN, names.SSM_APP_ID):
        assert policy.allows(iam_eval.Call("ssm:GetParameter", arn + name)), name
    assert policy.allows(iam_eval.Call("ssm:GetParameters", arn + names.SSM_REFRESH_TOKEN))
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
