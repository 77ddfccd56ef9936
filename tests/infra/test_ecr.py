"""The producer image: its ECR repository (immutable tags, scan on push) and tasks that run it by digest."""

from __future__ import annotations

import json

import pytest
from terraform_run import TerraformError, moto_client, state_resources


def test_the_repository_has_immutable_tags_and_scans_every_push(infra_moto, tf_applied):
    name = state_resources(tf_applied)["aws_ecr_repository.producer"]["name"]
    repo = moto_client(infra_moto, "ecr").describe_repositories(repositoryNames=[name])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfiguration"]["encryptionType"] == "KMS"


def test_every_producer_task_runs_the_repositorys_image_by_digest(tf_applied, tf_vars):
    state = state_resources(tf_applied)
    url = state["aws_ecr_repository.producer"]["repository_url"]
    tasks = [v for k, v in state.items() if k.startswith("aws_ecs_task_definition.producer")]
    assert tasks
    for task in tasks:
        (container,) = json.loads(task["container_definitions"])
        assert container["image"] == f"{url}@{tf_vars['producer_image_digest']}"


@pytest.mark.parametrize("images", [{}, {"producer_image": "ghcr.io/me/tickpipe:1.0"}])
def test_a_plan_needs_exactly_one_of_the_digest_and_an_outside_image(tf_moto, tf_vars, tf_applied, images):
    var_file = tf_moto.var_file("images", {k: v for k, v in tf_vars.items() if k != "producer_image_digest"}
                                | images | ({"producer_image_digest": tf_vars["producer_image_digest"]} if images else {}))
    with pytest.raises(TerraformError, match="Set producer_image_digest"):
        tf_moto.plan_json(var_file, "images.tfplan", "-refresh=false")
