"""infra/login.tf: the login page's function, URL, role, parameters and reminder agree with the code."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tickpipe import names
from tokens.options import KMS_KEY_VAR, REMIND_DAYS_VAR

INFRA = Path(__file__).resolve().parents[2] / "infra"


def login_statements(tf):
    return tf.data["aws_iam_policy_document"]["login"]["statement"]


def resources_for(tf, action):
    return {r for st in login_statements(tf) if action in st["actions"] for r in st["resources"]}


@pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on PATH (Terraform >= 1.11)")
def test_login_tf_is_terraform_fmt_clean():
    proc = subprocess.run(["terraform", "fmt", "-check", "-diff", str(INFRA / "login.tf")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_function_runs_the_login_handler_with_its_own_role(tf):
    fn = tf.resource("aws_lambda_function", "login")
    assert fn["handler"] == "tokens.login.handler"
    assert fn["role"] == "${aws_iam_role.login[0].arn}"
    assert fn["role"] != tf.resource("aws_lambda_function", "token")["role"]
    # the token function's package and layer, however lambdas.tf builds them
    assert fn["filename"] == "${aws_lambda_function.token.filename}"
    assert fn["layers"] == "${aws_lambda_function.token.layers}"


def test_the_url_is_public_because_the_function_authenticates(tf):
    url = tf.resource("aws_lambda_function_url", "login")
    assert url["authorization_type"] == "NONE"
    perm = tf.resource("aws_lambda_permission", "login_url")
    assert perm["action"] == "lambda:InvokeFunctionUrl" and perm["function_url_auth_type"] == "NONE"
    # the InvokeFunction grant is held to calls through the URL, never the bare Invoke API
    exec_ = tf.resource("terraform_data", "login_url_invoke")["provisioner"][0]["local-exec"]
    assert "--action lambda:InvokeFunction" in exec_["command"] and "--invoked-via-function-url" in exec_["command"]


def test_the_role_has_no_wildcard_actions_and_star_only_for_xray(tf):
    for st in login_statements(tf):
        assert not any("*" in a for a in st["actions"]), st["actions"]
        if "*" in st["resources"]:
            assert set(st["actions"]) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_role_writes_only_the_token_and_its_own_records(tf):
    prefix = "${local.ssm_prefix_arn}"
    assert resources_for(tf, "ssm:PutParameter") == {
        prefix + names.SSM_TOKEN, prefix + names.SSM_REFRESH_TOKEN,
        prefix + names.SSM_LOGIN_STATES + "*", prefix + names.SSM_LOGIN_USED + "*"}
    assert resources_for(tf, "ssm:DeleteParameter") == {
        prefix + names.SSM_LOGIN_STATES + "*", prefix + names.SSM_LOGIN_USED + "*"}


def test_the_page_cannot_read_the_pin_or_write_the_link_key(tf):
    readable = " ".join(str(st["resources"]) for st in login_statements(tf) if "ssm:GetParameter" in st["actions"])
    assert names.SSM_PIN not in readable and names.SSM_LOGIN_KEY in readable
    assert not any(names.SSM_LOGIN_KEY in r for r in resources_for(tf, "ssm:PutParameter"))


def test_the_token_is_written_under_the_stacks_key_as_the_refresh_does(tf):
    env = tf.locals["login_env"]
    assert env[KMS_KEY_VAR] == tf.locals["lambda_env"]["token"][KMS_KEY_VAR] == "${aws_kms_key.secrets.arn}"


def test_parameter_names_are_the_codes(tf):
    key = tf.resource("aws_ssm_parameter", "login_link_key")
    assert key["name"] == "${local.ssm_prefix}" + names.SSM_LOGIN_KEY and key["type"] == "SecureString"
    assert key["key_id"] == "${aws_kms_key.secrets.arn}"
    # `tickpipe login-link` owns the value: Terraform only sends a placeholder once (write-only)
    assert "value" not in key and key["value_wo"] == "${local.ssm_placeholder}" and key["value_wo_version"] == 1
    url = tf.resource("aws_ssm_parameter", "login_page_url")
    assert url["name"] == "${local.ssm_prefix}" + names.SSM_LOGIN_PAGE_URL


def test_the_refresh_may_record_its_result_for_the_status_page(tf):
    policy = tf.resource("aws_iam_role_policy", "token_records_result")
    assert policy["role"] == "${aws_iam_role.token.id}"
    assert "fyers/last_refresh" in str(policy["policy"]) and names.SSM_LAST_REFRESH == "fyers/last_refresh"


def test_the_reminder_runs_after_the_refresh_with_the_alarms_threshold(tf):
    schedule = tf.resource("aws_scheduler_schedule", "login_reminder")
    target = tf.block(schedule, "target")
    assert re.sub(r"\s", "", target["input"]) == "${jsonencode({remind=true})}"
    assert target["role_arn"] == "${aws_iam_role.login_scheduler[0].arn}"
    assert tf.locals["login_env"][REMIND_DAYS_VAR] == "${tostring(var.refresh_token_alarm_days)}"
    refresh = re.match(r"cron\((\d+) (\d+) ", tf.default("token_schedule")).groups()
    remind = re.match(r"cron\((\d+) (\d+) ", tf.default("login_reminder_schedule")).groups()
    assert (int(remind[1]), int(remind[0])) > (int(refresh[1]), int(refresh[0]))


def test_the_login_function_has_an_errors_alarm(tf):
    alarm = tf.resource("aws_cloudwatch_metric_alarm", "login_errors")
    assert alarm["metric_name"] == "Errors" and alarm["alarm_actions"] == "${local.alarm_actions}"


def test_the_page_url_is_an_output(tf):
    assert "aws_lambda_function_url.login[0].function_url" in tf.outputs["login_page_url"]["value"]


def test_the_role_may_read_every_parameter_the_page_and_the_reminder_read(tf, aws, fyers_sim):
    """moto checks no IAM: record what the function really reads (a whole browser login, then the
    reminder e-mail) and compare it with what the role grants."""
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tokens"))
    from login_helpers import browser_with_session, fyers_login, start_login, start_page

    from tokens.login_reminder import remind

    read: set[str] = set()
    ssm = aws.client("ssm")
    ssm.meta.events.register("provide-client-params.ssm.GetParameter", lambda params, **_: read.add(params["Name"]))
    page = start_page(fyers_sim(), ssm)
    try:
        browser = browser_with_session(page)
        assert browser.get(fyers_login(page, start_login(page, browser)), timeout=10).status_code == 200
        topic = aws.client("sns").create_topic(Name="alarms")["TopicArn"]
        settings = page.settings.__class__(env=page.settings.env, fyers_api_url=page.sim.api_url,
                                           alarm_topic_arn=topic)
        assert remind(ssm, aws.client("sns"), settings, threshold_days=30, now=time.time())["link"] is True
    finally:
        page.server.stop()
    granted = readable_parameters(tf)
    prefix = page.settings.ssm_prefix
    for name in sorted(read):
        relative = name.removeprefix(prefix)
        assert relative in granted or relative.rsplit("/", 1)[0] + "/*" in granted, \
            f"the login role cannot read {name}"


def readable_parameters(tf) -> set[str]:
    """Parameter names (relative to the stack's prefix) the login role may GetParameter, with the
    statement written either as a list or as `[for name in [...] : "${local.ssm_prefix_arn}${name}"]`."""
    out: set[str] = set()
    for st in login_statements(tf):
        if "ssm:GetParameter" not in st["actions"]:
            continue
        resources = st["resources"]
        if isinstance(resources, str):
            listed = re.match(r'\$\{\[for name in \[(.*)\] : "\$\{local.ssm_prefix_arn\}\$\{name\}"\]\}$', resources)
            assert listed, resources
            out |= set(re.findall(r'"([^"]+)"', listed.group(1)))
        else:
            out |= {r.removeprefix("${local.ssm_prefix_arn}") for r in resources}
    return out
