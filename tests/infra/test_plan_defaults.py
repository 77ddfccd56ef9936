"""tickpipe plan prices the stack Terraform deploys: its constants are infra/'s defaults, its tfvars valid."""

from __future__ import annotations

import re

import hcl2
import pytest

from producer.options import ProducerOptions
from tickpipe.plan import model
from tickpipe.plan.figures import load
from tickpipe.plan.model import Universe, plan
from tickpipe.plan.prices import prices_for
from tickpipe.plan.render import tfvars


def _clean(node):
    """python-hcl2 keeps string literals in their quotes; unquote them."""
    if isinstance(node, dict):
        return {_clean(k): _clean(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def _cron_minutes(expr: str) -> int:
    minute, hour = re.fullmatch(r"cron\((\d+) (\d+) .*\)", expr).groups()
    return int(hour) * 60 + int(minute)


def test_the_planner_uses_the_stack_defaults(tf):
    assert tf.default("bars_memory_mb") == model.BARS_MEMORY_MB
    assert tf.default("bars_batching_window_seconds") == model.BARS_BATCHING_WINDOW_S
    assert tf.default("bars_state_budget_bytes") == model.BARS_STATE_BUDGET
    assert tf.default("compact_memory_mb") == model.COMPACT_MEMORY_MB
    assert tf.default("raw_transition_days") == model.RAW_STANDARD_DAYS
    assert len(tf.default("stream_shard_level_metrics")) == model.SHARD_LEVEL_METRICS
    hours = (_cron_minutes(tf.default("producer_stop_cron")) - _cron_minutes(tf.default("producer_start_cron"))) / 60
    assert hours == pytest.approx(model.PRODUCER_HOURS_PER_DAY)
    assert ProducerOptions().max_buffer_ms / 1000 == model.PRODUCER_MAX_BUFFER_S


def test_the_planner_counts_the_alarms_infra_creates(tf):
    alarms = tf.resources["aws_cloudwatch_metric_alarm"]
    per_slice = [n for n, body in alarms.items() if "local.producer_slices" in str(body.get("for_each"))]

    def instances(body: dict) -> int:
        each, count = body.get("for_each"), body.get("count")
        if isinstance(each, dict):
            return len(each)
        if isinstance(each, str) and (m := re.fullmatch(r"\$\{aws_lambda_function\.(\w+)\}", each)):
            return len(tf.resource("aws_lambda_function", m.group(1))["for_each"])
        if count is not None:  # the optional login page: counted when its variable's default enables it
            assert "login_count" in str(count), count
            return 1 if tf.default("login_page") else 0
        assert each is None, each
        return 1

    fixed = sum(instances(body) for n, body in alarms.items() if n not in per_slice)
    assert (len(per_slice), fixed) == (model.ALARMS_PER_PRODUCER, model.ALARMS_FIXED)


@pytest.mark.parametrize("symbols", [50, 5000, 12_000])
def test_the_printed_tfvars_are_variables_with_valid_values(tf, symbols):
    p = plan(Universe(symbols), load(), prices_for("ap-south-1"), "ap-south-1")
    values = {k: v for k, v in _clean(hcl2.loads(tfvars(p))).items() if not k.startswith("__")}
    assert set(values) <= set(tf.variables)
    assert values["producer_cpu"] in model.FARGATE_SIZES
    lo, hi = model.FARGATE_SIZES[values["producer_cpu"]]
    assert lo <= values["producer_memory_mb"] <= hi and values["producer_memory_mb"] % 512 == 0
    producers = values["producers"]
    assert len(producers) == -(-symbols // 5000)
    for name, entry in producers.items():
        assert re.fullmatch(r"[a-z0-9-]{1,16}", name)
        if entry.get("slice"):
            assert re.fullmatch(r"[1-9][0-9]*/[1-9][0-9]*", entry["slice"])
    if values.get("stream_shard_count") is not None:
        assert 1 <= values["stream_shard_count"] <= 500
