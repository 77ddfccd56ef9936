"""Running the real Terraform binary on infra/: find it and the provider mirror, write the CLI
config, copy the configuration into a scratch folder, and add the test-only moto endpoints.

The deployable configuration (infra/*.tf) never names an endpoint: the override file below exists
only in the scratch copy the tests run. Terraform merges ``*_override.tf`` files into the blocks
they name (https://developer.hashicorp.com/terraform/language/files/override), so the provider block
keeps its region and default tags and gains the endpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PROVIDER = "registry.terraform.io/hashicorp/aws"
# Where a provider mirror is looked for, first match wins (TICKPIPE_TF_MIRROR overrides).
MIRROR_CANDIDATES = ("/opt/tf-plugins", "~/.terraform.d/plugins", "/usr/share/terraform/plugins",
                     "/usr/local/share/terraform/plugins")

# Every AWS service infra/ uses, for the provider's endpoints block (provider argument names).
ENDPOINT_SERVICES = (
    "appautoscaling", "athena", "budgets", "cloudwatch", "ecr", "ecs", "ec2", "efs", "firehose", "glue", "iam",
    "kinesis", "kms", "lambda", "logs", "s3", "scheduler", "sns", "sqs", "ssm", "sts",
)


# Resources moto (5.2) cannot create, each with the reason. The test override gives them no
# instances (for_each = {} / count = 0); `terraform validate` and the plans still cover their
# configuration, and docs/deploy.md lists them as proven only in AWS.
MOTO_CANNOT: dict[str, tuple[str, str]] = {
    # address: (meta-argument the override empties, why)
    "aws_appautoscaling_target.producer": (
        "for_each", "moto has no Application Auto Scaling ListTagsForResource, which the provider calls after "
        "creating a scalable target (HTTP 500); the scheduled start/stop actions hang on the target"),
    "aws_budgets_budget.monthly": (
        "count", "moto's Budgets has no DescribeSubscribersForNotification (moto/budgets/responses.py), which "
        "the provider calls to read a budget's notifications back; test_budget.py checks the configuration, "
        "and the applied topic and key policies that let Budgets publish"),
    "aws_s3_bucket_policy.lake": (
        "count", "moto treats a Deny statement whose condition does not match as a deny "
        "(moto/iam/access_control.py IAMPolicyStatement), so the TLS-only policy would refuse every object "
        "request; in AWS a statement applies only when its conditions match. test_roles.py checks the "
        "policy with the AWS rule"),
}


class TerraformError(RuntimeError):
    """A terraform command failed; the message carries its output."""


def find_terraform() -> str | None:
    return shutil.which("terraform")


def find_mirror() -> Path | None:
    """A filesystem mirror holding hashicorp/aws for this platform, or None."""
    explicit = os.environ.get("TICKPIPE_TF_MIRROR")
    for candidate in ([explicit] if explicit else MIRROR_CANDIDATES):
        base = Path(candidate).expanduser()
        if any((base / PROVIDER).glob("*/*/terraform-provider-aws_*")):
            return base
    return None


def missing() -> str | None:
    """Why Terraform cannot run here (for a pytest skip), or None."""
    if find_terraform() is None:
        return "no terraform binary on PATH (install Terraform >= 1.11 to run infra/ in the tests)"
    if find_mirror() is None:
        return (f"no hashicorp/aws provider mirror in {', '.join(MIRROR_CANDIDATES)} "
                "(set TICKPIPE_TF_MIRROR to a `terraform providers mirror` folder)")
    return None


def cli_config(mirror: Path, folder: Path) -> Path:
    """A CLI config that installs hashicorp/* only from the mirror (never the network)."""
    path = folder / "terraform.tfrc"
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        "}\n"
    )
    return path


def moto_override(endpoint: str) -> str:
    """The test-only provider settings that point every service at the moto server."""
    endpoints = "\n".join(f'    {s:<14} = "{endpoint}"' for s in ENDPOINT_SERVICES)
    return (
        "# Test-only (tests/infra/terraform_run.py): every AWS call goes to the moto server.\n"
        'provider "aws" {\n'
        '  access_key                  = "testing"\n'
        '  secret_key                  = "testing"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        "  max_retries                 = 1\n"
        "  s3_use_path_style           = true\n"
        f"  endpoints {{\n{endpoints}\n  }}\n"
        "}\n"
        + "".join(f'\n# {why}\nresource "{address.split(".")[0]}" "{address.split(".")[1]}" {{\n'
                  f'  {meta} = {"{}" if meta == "for_each" else "0"}\n}}\n'
                  for address, (meta, why) in MOTO_CANNOT.items())
    )


@dataclass
class Workdir:
    """A scratch copy of infra/*.tf where terraform runs (state, lock file and plans stay there)."""

    path: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["terraform", *args], cwd=self.path, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode:
            raise TerraformError(f"terraform {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
        return proc

    def var_file(self, name: str, values: dict) -> Path:
        path = self.path / f"{name}.tfvars.json"
        path.write_text(json.dumps(values, indent=2))
        return path

    def plan_json(self, var_file: Path, plan: str, *options: str) -> dict:
        """`terraform plan` saved to ``plan``, returned as `terraform show -json` sees it."""
        self.run("plan", "-input=false", "-lock=false", "-no-color", f"-var-file={var_file}", f"-out={plan}", *options)
        return json.loads(self.run("show", "-json", plan).stdout)

    def state_json(self) -> dict:
        return json.loads(self.run("show", "-json").stdout)


def workdir(folder: Path, endpoint: str | None = None) -> Workdir:
    """Copy infra/*.tf into ``folder``/infra, add the moto override when ``endpoint`` is given, init.
    The repository's other folders are linked beside it, for the files infra/ reads (sql/views)."""
    mirror = find_mirror()
    assert mirror is not None, missing()
    work = folder / "infra"
    work.mkdir(parents=True, exist_ok=True)
    for tf_file in INFRA.glob("*.tf"):
        shutil.copy2(tf_file, work / tf_file.name)
    for sibling in ("sql",):
        if not (folder / sibling).exists():
            (folder / sibling).symlink_to(ROOT / sibling)
    if endpoint:
        (work / "moto_override.tf").write_text(moto_override(endpoint))
    folder = work
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    env.update({
        "TF_CLI_CONFIG_FILE": str(cli_config(mirror, folder)),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",  # no version check over the network
    })
    wd = Workdir(folder, env)
    wd.run("init", "-backend=false", "-input=false", "-no-color")
    return wd


def moto_client(server: Any, service: str, **credentials: str) -> Any:
    """A boto3 client for the moto server (``credentials``: another principal's keys)."""
    import boto3

    creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", **credentials}
    return boto3.client(service, endpoint_url=server.endpoint, region_name=server.region, **creds)


def state_resources(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """address → values for every managed resource in a `terraform show -json` state or plan."""
    found: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for r in module.get("resources", []):
            if r["mode"] == "managed":
                found[r["address"]] = r["values"]
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", state.get("planned_values", {})).get("root_module", {}))
    return found
