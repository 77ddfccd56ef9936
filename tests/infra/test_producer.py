"""The producer service: task definition, deployment, and the image it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "producer" / "Dockerfile"


@pytest.fixture(scope="module")
def container(tf) -> str:
    return tf.resource("aws_ecs_task_definition", "producer")["container_definitions"]


def test_task_has_health_check_stop_timeout_and_awslogs(container):
    for setting in ("healthCheck", "stopTimeout", 'logDriver = "awslogs"', "awslogs-group", "readonlyRootFilesystem = true"):
        assert setting in container, f"task definition lacks {setting}"


def test_one_task_per_slice_and_the_old_task_stops_before_the_new_one_starts(tf):
    service = tf.resource("aws_ecs_service", "producer")
    assert service["deployment_minimum_healthy_percent"] == 0
    assert service["deployment_maximum_percent"] == 100
    assert tf.block(service, "deployment_circuit_breaker")["rollback"] is True


def test_ec2_is_a_capacity_provider_away(tf):
    task = tf.resource("aws_ecs_task_definition", "producer")
    assert set(task["requires_compatibilities"]) == {"FARGATE", "EC2"}
    strategy = tf.block(tf.resource("aws_ecs_service", "producer"), "capacity_provider_strategy")
    assert strategy["capacity_provider"] == "${var.producer_capacity_provider}"


def test_market_hours_schedule_runs_in_ist_around_the_session(tf):
    start = tf.resource("aws_appautoscaling_scheduled_action", "producer_start")
    stop = tf.resource("aws_appautoscaling_scheduled_action", "producer_stop")
    assert start["timezone"] == stop["timezone"] == "Asia/Kolkata"
    h_start, m_start = map(int, re.match(r"cron\((\d+) (\d+)", tf.default("producer_start_cron")).groups()[::-1])
    h_stop, m_stop = map(int, re.match(r"cron\((\d+) (\d+)", tf.default("producer_stop_cron")).groups()[::-1])
    assert (h_start, m_start) < (9, 0)  # before the pre-open
    assert (h_stop, m_stop) > (15, 30)  # after the close


def dockerfile_entrypoint() -> list[str]:
    (line,) = [ln for ln in DOCKERFILE.read_text().splitlines() if ln.startswith("ENTRYPOINT ")]
    return json.loads(line[len("ENTRYPOINT "):])


def test_image_runs_the_command_terraform_sets(tf, container):
    # Terraform sets the entry point, not the command: a command would be appended to the image's
    # ENTRYPOINT as arguments.
    assert dockerfile_entrypoint() == tf.locals["producer_command"]
    assert "entryPoint" in container and "command " not in container.split("healthCheck")[0]


def test_image_holds_every_package_the_producer_imports(closure_of):
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE.read_text(), re.M))
    needed = {m.split(".")[0] for m in closure_of("producer.cli").files}
    assert needed <= copied, f"producer/Dockerfile does not copy {sorted(needed - copied)}"


def test_image_prepares_the_journal_directory(tf):
    assert f"mkdir -p {tf.locals['producer_journal']}" in DOCKERFILE.read_text()
