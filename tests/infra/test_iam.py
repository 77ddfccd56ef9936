"""IAM: one role per process, no wildcard actions, "*" resources only where AWS allows nothing else."""

from __future__ import annotations

import pytest

# Actions without resource-level permissions.
UNSCOPABLE = {"cloudwatch:PutMetricData", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
ROLE_DOCS = ["firehose", "bars", "compact", "scheduler", "producer_task", "metrics", "token", "login", "history",
             "history_common", "history_scheduler", "watermark_net", "watermark_net_scheduler"]
# Resource policies (who may assume a role, use a key, reach the bucket or the journal, publish to the
# alarm topic: tests/infra/test_alarms.py, test_budget.py), not roles' grants.
RESOURCE_DOCS = {"assume", "key", "secrets_key", "lake", "journal", "alarm_topic"}


def test_every_identity_policy_is_checked(tf):
    assert set(tf.data["aws_iam_policy_document"]) == set(ROLE_DOCS) | RESOURCE_DOCS


def statements(tf, doc):
    body = tf.data["aws_iam_policy_document"][doc]
    dynamic = [d["content"][0] for block in body.get("dynamic", []) for d in block.values()]
    return body.get("statement", []) + dynamic


@pytest.mark.parametrize("doc", ROLE_DOCS)
def test_no_wildcard_actions(tf, doc):
    for st in statements(tf, doc):
        for action in st["actions"]:
            assert "*" not in action, f"{doc}: {action}"


@pytest.mark.parametrize("doc", ROLE_DOCS)
def test_star_resources_only_for_actions_that_cannot_be_scoped(tf, doc):
    for st in statements(tf, doc):
        resources = st["resources"] if isinstance(st["resources"], list) else [st["resources"]]  # or a for expression
        if "*" in resources:
            assert set(st["actions"]) <= UNSCOPABLE, f"{doc}: {st['actions']} on *"


def test_put_metric_data_is_held_to_the_tickpipe_namespace(tf):
    (st,) = statements(tf, "metrics")
    cond = st["condition"][0]
    assert cond["variable"] == "cloudwatch:namespace" and cond["values"] == ["${local.metric_namespace}"]


def test_each_process_has_its_own_role(tf):
    roles = tf.resources["aws_iam_role"]
    assert {"firehose", "bars", "compact", "scheduler", "producer_execution", "producer_task"} <= set(roles)
    assert tf.resource("aws_lambda_function", "bars")["role"] != tf.resource("aws_lambda_function", "compact")["role"]


def test_writers_touch_only_their_prefixes(tf):
    firehose = {r for st in statements(tf, "firehose") if "s3:PutObject" in st["actions"] for r in st["resources"]}
    assert firehose == {"${local.lake_arn}/raw/*"}
    bars = {r for st in statements(tf, "bars") if "s3:PutObject" in st["actions"] for r in st["resources"]}
    assert all("quarantine_prefix" in r or "state_prefix" in r for r in bars), bars
