"""The real Terraform on infra/: fmt, init from the local provider mirror, validate, plan and apply
against the moto server (tests/infra/terraform_run.py). Skips, naming what is missing, where there
is no terraform binary or no provider mirror."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile

import pytest
import terraform_run  # tests/infra/terraform_run.py, loaded by conftest.py
from terraform_run import moto_client, state_resources

pytestmark = pytest.mark.timeout(1800)  # the first test to ask for the apply waits for it (~2-4 min)

# Every optional feature at once (none excludes another): the plan must accept them all.
EVERY_OPTION = {
    "producer_journal_efs": True,
    "producers": {
        "a": {"symbols": "s3://some-bucket/universe.txt", "slice": "1/2"},
        "b": {"symbols": "s3://some-bucket/universe.txt", "slice": "2/2"},
        "idx": {"symbols": "ssm:/tickpipe/dev/indices"},
    },
    "producer_market_hours_only": False,
    "producer_capacity_provider": "FARGATE_SPOT",
    "producer_assign_public_ip": False,
    "producer_cpu_architecture": "ARM64",
    "stream_mode": "PROVISIONED",
    "stream_shard_count": 4,
    "alarm_emails": ["ops@example.invalid"],
    "reserved_concurrency": {"bars": 4, "compact": 1, "token": 1},
    "session_overrides": "2026-11-08=18:00-19:15;2026-11-09=closed",  # Muhurat on a Sunday
}


@pytest.fixture(scope="module")
def tf_offline(terraform_ready, tmp_path_factory):
    """infra/ as shipped (no override), initialised from the mirror."""
    return terraform_run.workdir(tmp_path_factory.mktemp("terraform"))


def test_without_terraform_the_tests_skip_naming_the_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a laptop without Terraform
    assert "no terraform binary on PATH" in terraform_run.missing()


def test_without_a_provider_mirror_the_tests_skip_naming_the_mirror(monkeypatch, tmp_path):
    fake = tmp_path / "bin" / "terraform"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.setenv("TICKPIPE_TF_MIRROR", str(tmp_path / "empty"))
    reason = terraform_run.missing()
    assert "no hashicorp/aws provider mirror" in reason and "TICKPIPE_TF_MIRROR" in reason


def test_every_file_is_formatted(terraform_ready):
    proc = subprocess.run(["terraform", "fmt", "-check", "-diff", "-recursive", str(terraform_run.INFRA)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"run `terraform fmt infra`:\n{proc.stdout}{proc.stderr}"


def test_init_installs_only_the_aws_provider_from_the_mirror(tf_offline):
    lock = (tf_offline.path / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    assert lock.count('provider "') == 1, lock  # no archive (or any other) provider


def test_validate_accepts_the_configuration(tf_offline):
    out = json.loads(tf_offline.run("validate", "-json").stdout)
    assert out["valid"], out["diagnostics"]
    assert not out["diagnostics"], out["diagnostics"]  # no warnings either (deprecated arguments)


def test_the_deployable_configuration_names_no_endpoint():
    # the moto endpoints live only in the tests' override file
    for path in terraform_run.INFRA.glob("*.tf"):
        text = path.read_text()
        assert not re.search(r"^\s*endpoints\s*\{", text, re.M) , path.name
    assert not list(terraform_run.INFRA.glob("*override.tf*"))


def test_plan_with_every_option_on(tf_moto, tf_vars, tf_applied):
    var_file = tf_moto.var_file("every-option", {**tf_vars, **EVERY_OPTION})
    plan = tf_moto.plan_json(var_file, "every-option.tfplan", "-refresh=false")
    planned = {r["address"] for r in plan["planned_values"]["root_module"]["resources"]}
    assert {'aws_efs_file_system.journal[0]', 'aws_efs_access_point.journal["b"]',
            'aws_ecs_service.producer["idx"]', 'aws_sns_topic_subscription.alarm_email["ops@example.invalid"]'} <= planned


def test_apply_creates_every_resource_moto_supports(tf_moto, tf_applied):
    created = {address.split("[")[0] for address in state_resources(tf_applied)}
    configured = set()
    for path in terraform_run.INFRA.glob("*.tf"):
        for line in path.read_text().splitlines():
            if line.startswith('resource "'):
                rtype, name = line.split('"')[1], line.split('"')[3]
                configured.add(f"{rtype}.{name}")
    # optional resources (count/for_each off by default) are not expected in the default apply
    optional = {a for a in configured if a.startswith(("aws_efs_", "aws_sns_topic_subscription", "aws_security_group.journal",
                                                       "aws_appautoscaling_scheduled_action"))}
    optional.add("terraform_data.login_url_invoke")  # calls the real AWS CLI; off in tf_vars (conftest.py)
    missing = configured - created - set(terraform_run.MOTO_CANNOT) - optional
    assert not missing, f"configured but not created on moto, and not in MOTO_CANNOT: {sorted(missing)}"


def test_moto_cannot_list_names_only_resources_that_exist(tf):
    for address, (meta, why) in terraform_run.MOTO_CANNOT.items():
        rtype, name = address.split(".")
        assert name in tf.resources.get(rtype, {}), f"MOTO_CANNOT names {address}, which infra/ does not have"
        assert meta in ("count", "for_each") and len(why) > 40


def test_the_demo_provisions_what_terraform_creates(infra_moto, tf_applied):
    # local/provision.py (the demo's AWS) and infra/ agree on names and on the delivery settings.
    from local import provision
    from tickpipe import names

    state = state_resources(tf_applied)
    assert state["aws_kinesis_stream.ticks"]["name"] == names.stream("dev")
    assert state["aws_sns_topic.alarms"]["name"] == names.alarm_topic("dev")
    assert state["aws_iam_role.firehose"]["name"] == names.resource("dev", "firehose")
    firehose = moto_client(infra_moto, "firehose")
    expected = {
        names.raw_firehose("dev"): (provision.RAW_TICKS_PREFIX, provision.RAW_TICKS_ERROR_PREFIX),
        names.bars_firehose("dev"): (provision.RAW_BARS_PREFIX, provision.RAW_BARS_ERROR_PREFIX),
    }
    for stream, (prefix, error_prefix) in expected.items():
        desc = firehose.describe_delivery_stream(DeliveryStreamName=stream)["DeliveryStreamDescription"]
        s3 = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
        assert (s3["Prefix"], s3["ErrorOutputPrefix"], s3["CompressionFormat"]) == (prefix, error_prefix, "GZIP"), stream


def test_special_sessions_get_a_producer_start_and_stop_on_their_date(tf_offline):
    # Muhurat trading on a Sunday evening and a Saturday with normal hours; a closure needs nothing
    var_file = tf_offline.var_file("special", {
        "producer_image": "example.invalid/tickpipe:1", "producer_vpc_id": "vpc-0a", "producer_subnet_ids": ["subnet-0a"],
        "fyers_app_id": "AB12-100", "fyers_redirect_uri": "https://example.invalid/cb", "producers": {"a": {}, "b": {}},
        "session_overrides": "2026-11-08=18:00-19:15; 2026-11-09=closed;2026-12-05=normal",
    })
    env = {**tf_offline.env, "AWS_ACCESS_KEY_ID": "unused", "AWS_SECRET_ACCESS_KEY": "unused"}
    proc = subprocess.run(["terraform", "console", f"-var-file={var_file}"], input="jsonencode(local.special_schedules)\n",
                          cwd=tf_offline.path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    schedules = json.loads(json.loads(proc.stdout.strip()))
    assert schedules["a/2026-11-08"] == {"slice": "a", "start": "at(2026-11-08T17:25:00)", "stop": "at(2026-11-08T19:30:00)"}
    assert schedules["b/2026-12-05"]["start"] == "at(2026-12-05T08:40:00)"  # as on a weekday (producer_start_cron)
    assert not any("2026-11-09" in key for key in schedules)
    assert len(schedules) == 4


SECRETS = {  # what a user and the token service store after the apply (docs/deploy.md)
    "fyers/secret_key": "app-secret-Q7ZK2",
    "fyers/pin": "4821",
    "fyers/token": '{"access_token": "acc-tok-9f3e", "expires_at": 2000000000}',
    "fyers/refresh_token": '{"refresh_token": "ref-tok-77c1"}',
    "login/link_key": "link-key-5d2a90",
}


def test_no_secret_reaches_the_state_or_a_saved_plan(infra_moto, tf_moto, tf_applied):
    ssm = moto_client(infra_moto, "ssm")
    prefix = state_resources(tf_applied)["aws_ssm_parameter.fyers_app_id"]["name"].rpartition("fyers/")[0]
    for name, value in SECRETS.items():
        ssm.put_parameter(Name=prefix + name, Value=value, Type="SecureString", Overwrite=True)
    # a refresh reads every parameter back; a saved plan holds what the plan saw
    tf_moto.run("apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color", "-var-file=defaults.tfvars.json")
    plan = tf_moto.plan_json(tf_moto.path / "defaults.tfvars.json", "after-secrets.tfplan")
    texts = {
        "state file": (tf_moto.path / "terraform.tfstate").read_text(),
        "state (show -json)": json.dumps(tf_moto.state_json()),
        "plan (show -json)": json.dumps(plan),
        # a saved plan is a zip archive: every member, uncompressed
        "plan file": "".join(zipfile.ZipFile(tf_moto.path / "after-secrets.tfplan").read(n).decode("latin-1")
                             for n in zipfile.ZipFile(tf_moto.path / "after-secrets.tfplan").namelist()),
    }
    for where, text in texts.items():
        for name, value in SECRETS.items():
            for secret in {value, *re.findall(r'"(\w+-tok-\w+)"', value)}:
                assert secret not in text, f"{name}'s value is in the {where}"
