# Shared facts for every other file: names, lake prefixes, the environment each process reads.
# Names follow tickpipe/names.py (tickpipe-<env>-<role>); tests/infra checks that they agree.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      project     = "tickpipe"
      environment = var.env
    })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  prefix     = "tickpipe-${var.env}"

  # Resource names (tickpipe/names.py).
  stream_name        = "${local.prefix}-ticks"
  raw_firehose_name  = "${local.prefix}-raw"
  bars_firehose_name = "${local.prefix}-bars"
  alarm_topic_name   = "${local.prefix}-alarms"
  bars_function_name = "${local.prefix}-bars"
  compact_function   = "${local.prefix}-compact"
  token_function     = "${local.prefix}-token"
  cluster_name       = "${local.prefix}-producer"
  # S3 bucket names are global: the account id keeps them unique (names.bucket() is the local default).
  bucket_name    = "${local.prefix}-lake-${local.account_id}"
  ssm_prefix     = "/tickpipe/${var.env}/"
  ssm_prefix_arn = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.ssm_prefix}"

  # Lake prefixes (tickpipe/names.py: RAW_TICKS, RAW_BARS, RAW_ERRORS, CURATED_*, QUARANTINE, STATE).
  raw_ticks_prefix     = "raw/ticks/"
  raw_bars_prefix      = "raw/bars/"
  raw_errors_prefix    = "raw/errors/"
  curated_ticks_prefix = "curated/ticks/"
  curated_bars_prefix  = "curated/bars_5m/"
  quarantine_prefix    = "quarantine/"
  state_prefix         = "state/"
  # consumers/bars/io.py CHECKPOINTS / QUARANTINE, consumers/lake/schema.py state_prefix
  bars_state_prefix      = "${local.state_prefix}bars/"
  bars_quarantine_prefix = "${local.quarantine_prefix}bars/"
  compact_state_prefix   = "${local.state_prefix}compact/"
  # Terraform-only: Lambda layer zips (too big for a direct upload) and Athena query results.
  artifacts_prefix      = "artifacts/"
  athena_results_prefix = "athena-results/"

  # The CloudWatch namespace the producer and handlers publish to (names.METRIC_NAMESPACE).
  metric_namespace = "tickpipe"

  # TICKPIPE_* variables (tickpipe/config.py ENV_VARS) per process. Keep each one a literal map:
  # tests/infra reads them to prove every variable a handler reads is set here, and nothing else.
  lambda_env = {
    bars = {
      TICKPIPE_ENV               = var.env
      TICKPIPE_REGION            = var.region
      TICKPIPE_STREAM            = aws_kinesis_stream.ticks.name
      TICKPIPE_BARS_FIREHOSE     = aws_kinesis_firehose_delivery_stream.bars.name
      TICKPIPE_BUCKET            = aws_s3_bucket.lake.bucket
      TICKPIPE_SESSION_OVERRIDES = var.session_overrides
      # consumers/bars/options.py BarsOptions
      TICKPIPE_BARS_GRACE_S      = tostring(var.bars_grace_seconds)
      TICKPIPE_BARS_AMEND_BARS   = tostring(var.bars_amend_bars)
      TICKPIPE_BARS_STATE_BUDGET = tostring(var.bars_state_budget_bytes)
    }
    compact = {
      TICKPIPE_ENV    = var.env
      TICKPIPE_BUCKET = aws_s3_bucket.lake.bucket
    }
    token = {
      TICKPIPE_ENV           = var.env
      TICKPIPE_REGION        = var.region
      TICKPIPE_SSM_PREFIX    = local.ssm_prefix
      TICKPIPE_FYERS_API_URL = var.fyers_api_url
      # tokens/options.py TokenOptions: the token is written under the secrets' key, as Terraform made it
      TICKPIPE_TOKEN_KMS_KEY = aws_kms_key.secrets.arn
    }
  }

  # Per slice, producer.tf adds TICKPIPE_SYMBOLS and TICKPIPE_PRODUCER_ID.
  producer_env = {
    TICKPIPE_ENV               = var.env
    TICKPIPE_REGION            = var.region
    TICKPIPE_STREAM            = aws_kinesis_stream.ticks.name
    TICKPIPE_BUCKET            = aws_s3_bucket.lake.bucket
    TICKPIPE_SSM_PREFIX        = local.ssm_prefix
    TICKPIPE_FYERS_API_URL     = var.fyers_api_url
    TICKPIPE_FYERS_WS_URL      = var.fyers_ws_url
    TICKPIPE_SESSION_OVERRIDES = var.session_overrides
  }
}
