"""Terraform's state, saved plans and variable files stay out of git, and the shipped backend example
keeps state in S3, encrypted and locked (issue 16; docs/deploy.md, "Deploy")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]

IGNORED = ("infra/terraform.tfstate", "infra/terraform.tfstate.backup", "infra/.terraform/providers/x",
           "infra/tickpipe.plan.tfplan", "infra/terraform.tfvars", "infra/prod.tfvars.json")
KEPT = ("infra/terraform.tfvars.example", "infra/backend.tf.example")


def ignored(path: str) -> bool:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: .gitignore cannot be asked")
    # --no-index: the answer for the path as if untracked, from .gitignore alone
    proc = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT)
    assert proc.returncode in (0, 1), f"git check-ignore failed for {path}"
    return proc.returncode == 0


@pytest.mark.parametrize("path", IGNORED)
def test_state_plans_and_variable_files_are_ignored(path):
    assert ignored(path), f"{path} would be committed: add it to .gitignore"


@pytest.mark.parametrize("path", KEPT)
def test_the_examples_are_not_ignored(path):
    assert not ignored(path)


def test_the_backend_example_keeps_state_in_s3_encrypted_and_locked():
    with (ROOT / "infra" / "backend.tf.example").open() as fh:
        doc = hcl2.load(fh)
    (backend,) = [b for t in doc["terraform"] for b in t.get("backend", [])]
    s3 = backend['"s3"']  # python-hcl2 keeps a block label in its quotes
    assert s3["encrypt"] is True and s3["use_lockfile"] is True
    assert s3["key"].strip('"').endswith(".tfstate") and s3["bucket"].strip('"')
