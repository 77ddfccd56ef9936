"""The producer service: task definition, deployment, and the image it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from infra_modules import infra_module

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "producer" / "Dockerfile"


@pytest.fixture(scope="module")
def container(tf) -> str:
    return tf.resource("aws_ecs_task_definition", "producer")["container_definitions"]


def test_task_has_health_check_stop_timeout_and_awslogs(container):
    for setting in ("healthCheck", "stopTimeout", 'logDriver = "awslogs"', "awslogs-group", "readonlyRootFilesystem = true"):
        assert setting in container, f"task definition lacks {setting}"


def test_the_container_drops_every_linux_capability(container):
    # the producer binds port >= 1024 (producer_health_port's validation) and needs no capability
    assert 'linuxParameters={capabilities={drop=["ALL"]}}' in "".join(container.split())


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


def test_image_holds_every_module_the_producer_imports(closure_of):
    # the image's wheel is the `producer` artifact of infra/artifacts.py (tests/ship/ builds it)
    assert re.search(r"^ENV TICKPIPE_ARTIFACT=producer$", DOCKERFILE.read_text(), re.M)
    artifacts = infra_module("artifacts")
    missing = sorted(m for m in closure_of("producer.cli").files if not artifacts.ARTIFACTS["producer"].ships(m))
    assert not missing, f"the producer artifact leaves out {missing}"


def test_image_prepares_the_journal_directory(tf):
    assert f"mkdir -p {tf.locals['producer_journal']}" in DOCKERFILE.read_text()


# --- the journal on EFS (producer_journal_efs) -------------------------------------------------

def test_the_journal_stays_on_task_storage_unless_efs_is_asked_for(tf):
    assert tf.default("producer_journal_efs") is False
    for rtype, name in (("aws_efs_file_system", "journal"), ("aws_efs_file_system_policy", "journal"),
                        ("aws_security_group", "journal")):
        assert tf.resource(rtype, name)["count"] == "${local.journal_efs ? 1 : 0}"


def test_on_efs_each_slice_mounts_its_own_encrypted_directory_as_the_image_user(tf):
    fs = tf.resource("aws_efs_file_system", "journal")
    assert fs["encrypted"] is True and fs["kms_key_id"] == "${aws_kms_key.main.arn}"
    ap = tf.resource("aws_efs_access_point", "journal")
    assert ap["for_each"] == "${local.journal_efs ? local.producer_slices : {}}"
    user = tf.block(ap, "posix_user")
    image_user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(), re.M).groups()
    assert (str(user["uid"]), str(user["gid"])) == image_user
    assert tf.block(ap, "root_directory")["path"] == "/journal/${each.key}"
    volume = next(v for v in tf.resource("aws_ecs_task_definition", "producer")["volume"] if v["name"] == "journal")
    efs = volume["dynamic"][0]["efs_volume_configuration"]
    assert efs["for_each"] == "${local.journal_efs ? [aws_efs_access_point.journal[each.key].id] : []}"
    content = efs["content"][0]
    assert content["transit_encryption"] == "ENABLED"
    assert content["authorization_config"][0] == {"access_point_id": "${efs_volume_configuration.value}",
                                                  "iam": "ENABLED"}


def test_on_efs_only_tls_and_only_the_producer_role_through_a_mount_target(tf):
    doc = tf.data["aws_iam_policy_document"]["journal"]
    deny, allow = doc["statement"]
    assert deny["effect"] == "Deny" and deny["condition"][0]["variable"] == "aws:SecureTransport"
    assert allow["principals"][0]["identifiers"] == ["${aws_iam_role.producer_task.arn}"]
    assert set(allow["actions"]) == {"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"}
    nfs_in = tf.block(tf.resource("aws_security_group", "journal"), "ingress")
    assert (nfs_in["from_port"], nfs_in["to_port"]) == (2049, 2049)
    assert nfs_in["security_groups"] == ["${aws_security_group.producer.id}"]
