"""infra/history.tf: the backfill and reconcile functions, their roles, schedule, alarms and Glue tables.

Terraform runs here (fmt, and validate against the AWS provider from the filesystem mirror at
/opt/tf-plugins): history.tf is validated alone, with the few names it takes from the other files
declared by a stub, so the file is checked whatever state the rest of infra/ is in.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tickpipe_package as package  # infra/package.py, loaded by conftest.py
from infra_modules import infra_module

from consumers.history.candles import CANDLE_TABLES
from consumers.history.reconcile import DIFF_SCHEMA, RECONCILE, RECONCILE_DAILY, SUMMARY_SCHEMA

from .conftest import INFRA, ROOT
from .test_lambdas import RUNTIME_PROVIDED
from .test_sql_ddl import ddl, ddl_columns, ddl_properties

HISTORY_TABLES = ["candles_1m", "candles_5m", "candles_1d", "reconcile", "reconcile_daily"]
MIRROR = Path("/opt/tf-plugins")
TERRAFORM = shutil.which("terraform")
FUNCTIONS = {"backfill": "consumers.history.backfill", "reconcile": "consumers.history.reconcile"}

# What history.tf uses from the other files, declared just enough for `terraform validate`.
STUBS = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
variable "env" { type = string }
variable "region" { type = string }
variable "fyers_api_url" { type = string }
variable "session_overrides" { type = string }
variable "log_retention_days" { type = number }
variable "lambda_architecture" { type = string }
locals {
  prefix              = "tickpipe-${var.env}"
  state_prefix        = "state/"
  curated_bars_prefix = "curated/bars_5m/"
  ssm_prefix          = "/tickpipe/${var.env}/"
  ssm_prefix_arn      = "arn:aws:ssm:${var.region}:123456789012:parameter/tickpipe/${var.env}/"
  lake_arn            = aws_s3_bucket.lake.arn
  lake_s3             = "s3://${aws_s3_bucket.lake.bucket}/"
  kms_use             = ["kms:Decrypt", "kms:GenerateDataKey"]
  lambda_runtime      = "python3.12"
  metric_namespace    = "tickpipe"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  stub_app_zip        = "app.zip"
  partition           = "aws"
  account_id          = "123456789012"
  producer_symbols = {
    main  = "s3://lake/state/symbols/main.txt"
    more  = "ssm:/tickpipe/dev/symbols"
    baked = "/app/symbols.txt"
  }
  formats = {
    parquet = { input = "i", output = "o", serde = "s", serde_parameters = {} }
  }
}
resource "aws_s3_bucket" "lake" { bucket = "lake" }
resource "aws_kms_key" "main" {}
resource "aws_kms_key" "secrets" {}
resource "aws_sns_topic" "alarms" { name = "alarms" }
resource "aws_glue_catalog_database" "lake" { name = "lake" }
resource "aws_athena_workgroup" "lake" { name = "lake" }
resource "aws_lambda_layer_version" "deps" { layer_name = "deps" }
data "aws_iam_policy_document" "assume" {
  for_each = toset(["lambda", "scheduler"])
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["${each.key}.amazonaws.com"]
    }
  }
}
"""


def terraform(args: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    rc = tmp_path / "terraformrc"
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n'
                  '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
                  '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n')
    env = {"TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin:/usr/local/bin",
           "TF_DATA_DIR": str(tmp_path / ".terraform"), "HOME": str(tmp_path)}
    return subprocess.run([TERRAFORM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


needs_terraform = pytest.mark.skipif(TERRAFORM is None or not MIRROR.exists(),
                                     reason="terraform and the provider mirror at /opt/tf-plugins are needed")


@needs_terraform
def test_history_tf_is_terraform_fmt_clean(tmp_path):
    result = terraform(["fmt", "-check", "-diff", str(INFRA / "history.tf")], INFRA, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_terraform
def test_history_tf_validates_against_the_aws_provider(tmp_path):
    work = tmp_path / "infra"
    work.mkdir()
    text = (INFRA / "history.tf").read_text()
    text = text.replace("local.app_zip", "local.stub_app_zip")
    text = text.replace("terraform_data.package.output.app", "local.stub_app_zip")
    text = text.replace('file("${path.module}/../sql/views/bars_5m_final.sql")', 'file("${path.module}/view.sql")')
    (work / "history.tf").write_text(text)
    (work / "stubs.tf").write_text(STUBS)
    shutil.copy(ROOT / "sql" / "views" / "bars_5m_final.sql", work / "view.sql")
    init = terraform(["init", "-backend=false", "-input=false", "-no-color"], work, tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    result = terraform(["validate", "-no-color"], work, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_function_runs_its_handler_with_its_own_role(tf):
    fn = tf.resource("aws_lambda_function", "history")
    handlers = {k: v["handler"] for k, v in fn["for_each"].items()}
    assert handlers == {k: f"{m}.handler" for k, m in FUNCTIONS.items()}
    assert fn["role"] == "${aws_iam_role.history[each.key].arn}"
    assert tf.resource("aws_iam_role", "history")["for_each"] == '${toset(["backfill", "reconcile"])}'


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_variable_a_history_handler_reads_is_set(tf, closure_of, reads_of, known_of, name):
    module = FUNCTIONS[name]
    closure = closure_of(module)
    sets = tf.env_keys(tf.locals["history_env"][name])
    assert reads_of(closure) <= sets, f"{module} reads {sorted(reads_of(closure) - sets)} that history.tf does not set"
    assert sets <= known_of(closure), f"history.tf sets {sorted(sets - known_of(closure))} that {module} never reads"


def test_only_reconcile_reads_bars_and_gaps_and_writes_its_tables(tf):
    text = (INFRA / "history.tf").read_text()
    for sid in ("ReadBarsAndGaps", "WriteReconcile"):
        assert re.search(rf'each.key == "reconcile" \? \["\w+"\] : \[\]\s*content \{{\s*sid\s*=\s*"{sid}"', text), sid
    common = str(tf.data["aws_iam_policy_document"]["history_common"])
    assert "s3:DeleteObject" not in text and "reconcile" not in common.replace("history_failures", "")
    assert "ssm:PutParameter" not in text  # reads the token, never writes it


def test_reconcile_reads_every_producers_universe_and_only_those_objects(tf):
    """Reconcile gets the producers' TICKPIPE_SYMBOLS (producer.tf), comma separated, and may read just
    those symbol objects and parameters; a path inside the producer image is left out."""
    history = (INFRA / "history.tf").read_text()
    assert tf.locals["history_env"]["reconcile"]["TICKPIPE_SYMBOLS"] == '${join(",", local.reconcile_universes)}'
    assert "local.producer_symbols" in tf.locals["reconcile_universes"] and '!startswith(' in tf.locals[
        "reconcile_universes"]
    for sid, action, arns in (("ReadUniverseObjects", "s3:GetObject", "reconcile_universe_objects"),
                              ("ReadUniverseParameters", "ssm:GetParameter", "reconcile_universe_parameters")):
        assert re.search(rf'each.key == "reconcile" && length\(local.{arns}\) > 0 \? \["\w+"\] : \[\]\s*'
                         rf'content \{{\s*sid\s*=\s*"{sid}"\s*actions\s*=\s*\["{action}"\]\s*'
                         rf'resources\s*=\s*local.{arns}\s*\}}', history), sid


def test_listing_is_not_limited_to_prefixes_so_a_missing_day_reads_as_404(tf):
    # S3 answers GetObject of a missing key with 403 unless ListBucket is granted (a prefix condition
    # does not count: a GetObject has no prefix); CandleWriter.read_day and the manifests need the 404.
    listing = next(s for s in tf.data["aws_iam_policy_document"]["history_common"]["statement"]
                   if s["sid"] == "ListLake")
    assert listing["actions"] == ["s3:ListBucket"] and "condition" not in listing


def test_every_history_ddl_table_is_a_glue_table(tf):
    assert sorted(tf.locals["history_tables"]) == sorted(HISTORY_TABLES)


@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_history_glue_columns_match_the_ddl_and_the_parquet(tf, table):
    spec = tf.locals["history_tables"][table]
    ref = spec["columns"].removeprefix("${local.").removesuffix("}")
    columns = tf.locals[ref]
    if isinstance(columns, str):  # concat([...], local.candle_price_columns)
        head = re.findall(r'name = "(\w+)", type = "(\w+)"', str(columns))
        columns = [{"name": n, "type": t} for n, t in head] + tf.locals["candle_price_columns"]
    got = [(c["name"], c["type"]) for c in columns]
    assert got == ddl_columns(ddl(table))
    schema = CANDLE_TABLES[table].schema if table in CANDLE_TABLES else (
        DIFF_SCHEMA if table == "reconcile" else SUMMARY_SCHEMA)
    assert [n for n, _ in got] == schema.names
    prefix = CANDLE_TABLES[table].prefix if table in CANDLE_TABLES else (
        RECONCILE if table == "reconcile" else RECONCILE_DAILY)
    assert tf.render(spec["prefix"]) == prefix
    assert f"LOCATION 's3://{{{{bucket}}}}/{prefix}'" in ddl(table)
    props = ddl_properties(ddl(table))
    assert props["projection.dt.range"] == f"{spec['since']},NOW" and props["parquet.compression"] == "ZSTD"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_app_zip_and_the_layer_hold_what_a_history_handler_imports(tf, closure_of, name):
    closure = closure_of(FUNCTIONS[name])
    packaged = set(package.APP_PACKAGES)
    outside = {m for m in closure.files if m.split(".")[0] not in packaged}
    assert not outside, f"{name} imports {sorted(outside)}, which the zip (infra/package.py APP_PACKAGES) leaves out"
    missing = closure.third_party - set(sys.stdlib_module_names) - RUNTIME_PROVIDED - infra_module("build_layer").import_names()
    assert not missing, f"{name} imports {sorted(missing)}, which infra/build_layer.py does not install"
