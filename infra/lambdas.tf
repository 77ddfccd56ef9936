# The three functions: bars (Kinesis → 5-minute bars → Firehose "bars"), compact (raw → curated
# Parquet, on a schedule) and token (the Fyers access token refreshed in SSM every morning). All run
# the repository's own packages over one dependency layer: `make lambda-layer` builds the layer
# (infra/build_layer.py), `make package` zips both (infra/package.py).

locals {
  lambda_runtime = "python3.12"
  # Zips built by `make package` (infra/package.py; its APP_PACKAGES says what the code zip holds).
  package_dir = startswith(var.package_dir, "/") ? var.package_dir : "${path.module}/${var.package_dir}"
  app_zip     = "${local.package_dir}/app.zip"
  layer_zip   = "${local.package_dir}/layer.zip"
  layer_json  = "${local.package_dir}/layer.json"
  # try(): a missing zip is reported by the preconditions below, not as a function error.
  app_hash   = try(filebase64sha256(local.app_zip), "")
  layer_hash = try(filebase64sha256(local.layer_zip), "")
  layer_info = try(jsondecode(file(local.layer_json)), {})
}

# The zips must exist and the layer must match the functions' CPU and Python before anything uploads.
resource "terraform_data" "package" {
  input = { app = local.app_hash, layer = local.layer_hash }

  lifecycle {
    precondition {
      condition     = local.app_hash != "" && local.layer_hash != ""
      error_message = "No Lambda zips in ${local.package_dir}: run `make lambda-layer ARCH=${var.lambda_architecture} package` first (docs/deploy.md)."
    }
    precondition {
      condition = local.layer_hash == "" || (
        try(local.layer_info.architecture, "") == var.lambda_architecture &&
        try(local.layer_info.runtime, "") == local.lambda_runtime
      )
      error_message = "The layer in ${local.package_dir} was built for another architecture or Python: rebuild with `make lambda-layer ARCH=${var.lambda_architecture} package`."
    }
  }
}

# The layer (pyarrow, orjson, ...) is larger than a direct upload allows, so it goes through S3.
resource "aws_s3_object" "layer" {
  bucket      = aws_s3_bucket.lake.id
  key         = "${local.artifacts_prefix}lambda/deps-${sha256(terraform_data.package.output.layer)}.zip"
  source      = local.layer_zip
  source_hash = terraform_data.package.output.layer
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "${local.prefix}-deps"
  description              = "tickpipe runtime dependencies (${var.lambda_architecture}, ${local.lambda_runtime})"
  s3_bucket                = aws_s3_object.layer.bucket
  s3_key                   = aws_s3_object.layer.key
  source_code_hash         = terraform_data.package.output.layer
  compatible_runtimes      = [local.lambda_runtime]
  compatible_architectures = [var.lambda_architecture]
}

# --- bars ----------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "bars" {
  name              = "/aws/lambda/${local.bars_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sqs_queue" "bars_failures" {
  name                      = "${local.prefix}-bars-failures"
  message_retention_seconds = 1209600 # 14 days: time to inspect and replay the shard ranges
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_lambda_function" "bars" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by the Kinesis event source mapping, where a function DLQ never applies; failed batches go to the mapping's on-failure queue (bars_failures).
  function_name                  = local.bars_function_name
  description                    = "Kinesis ticks → 5-minute bars → Firehose ${local.bars_firehose_name}"
  role                           = aws_iam_role.bars.arn
  handler                        = "consumers.bars.handler.handler"
  runtime                        = local.lambda_runtime
  architectures                  = [var.lambda_architecture]
  memory_size                    = var.bars_memory_mb
  timeout                        = var.bars_timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency.bars
  filename                       = local.app_zip
  source_code_hash               = terraform_data.package.output.app
  layers                         = [aws_lambda_layer_version.deps.arn]
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = local.lambda_env.bars
  }

  logging_config {
    log_format = "Text" # Powertools already writes JSON lines (and EMF metrics)
    log_group  = aws_cloudwatch_log_group.bars.name
  }

  tracing_config {
    mode = "Active"
  }
}

resource "aws_lambda_event_source_mapping" "bars" {
  event_source_arn                   = aws_kinesis_stream.ticks.arn
  function_name                      = aws_lambda_function.bars.arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.bars_batch_size
  maximum_batching_window_in_seconds = var.bars_batching_window_seconds
  tumbling_window_in_seconds         = var.bars_tumbling_window_seconds
  # One batch per shard at a time: bars keeps one state per shard (the window state and the
  # checkpoint state/bars/<stream>/<shard>.json); concurrent batches of a shard would race on it.
  # Scale with shards (on-demand streams add them by themselves) instead.
  parallelization_factor         = 1
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.bars_max_retry_attempts
  maximum_record_age_in_seconds  = var.bars_max_record_age_seconds
  function_response_types        = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.bars_failures.arn
    }
  }
}

# --- compact -------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "compact" {
  name              = "/aws/lambda/${local.compact_function}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sqs_queue" "compact_failures" {
  name                      = "${local.prefix}-compact-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_lambda_function" "compact" {
  function_name                  = local.compact_function
  description                    = "raw/ → curated/ Parquet for Athena (idempotent, scheduled)"
  role                           = aws_iam_role.compact.arn
  handler                        = "consumers.lake.compact.handler"
  runtime                        = local.lambda_runtime
  architectures                  = [var.lambda_architecture]
  memory_size                    = var.compact_memory_mb
  timeout                        = var.compact_timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency.compact
  filename                       = local.app_zip
  source_code_hash               = terraform_data.package.output.app
  layers                         = [aws_lambda_layer_version.deps.arn]
  kms_key_arn                    = aws_kms_key.main.arn

  ephemeral_storage {
    size = var.compact_ephemeral_storage_mb # the external sort spills a day's sorted runs here
  }

  environment {
    variables = local.lambda_env.compact
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.compact_failures.arn
  }

  logging_config {
    log_format = "Text" # Powertools already writes JSON lines (and EMF metrics)
    log_group  = aws_cloudwatch_log_group.compact.name
  }

  tracing_config {
    mode = "Active"
  }
}

resource "aws_scheduler_schedule" "compact" {
  name                         = local.compact_function
  description                  = "Compact raw/ into curated/ Parquet"
  schedule_expression          = var.compact_schedule
  schedule_expression_timezone = var.compact_schedule_timezone
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.compact.arn
    role_arn = aws_iam_role.scheduler.arn
    # An empty event: the handler compacts what is due (today's and yesterday's partitions).
    input = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }

    dead_letter_config {
      arn = aws_sqs_queue.compact_failures.arn
    }
  }
}

# --- token ---------------------------------------------------------------------------------------
# Every morning before the producer connects: the refresh token and PIN buy a new access token
# (tokens/refresh.py). Every 15 days a person logs in again (docs/deploy.md); the alarm
# "refresh-token-expiring" says when.

resource "aws_cloudwatch_log_group" "token" {
  name              = "/aws/lambda/${local.token_function}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "token" {
  #checkov:skip=CKV_AWS_116:A failed refresh is retried by the scheduler and raises the errors alarm; a dead-letter queue would hold an empty event.
  #checkov:skip=CKV_AWS_117:It calls the Fyers API on the internet; outside a VPC it needs no NAT gateway.
  function_name                  = local.token_function
  description                    = "Fyers access token refreshed in SSM every morning (refresh token + PIN)"
  role                           = aws_iam_role.token.arn
  handler                        = "tokens.refresh.handler"
  runtime                        = local.lambda_runtime
  architectures                  = [var.lambda_architecture]
  memory_size                    = 256
  timeout                        = 120 # the Fyers client's own retries take up to ~85 s
  reserved_concurrent_executions = var.reserved_concurrency.token
  filename                       = local.app_zip
  source_code_hash               = terraform_data.package.output.app
  layers                         = [aws_lambda_layer_version.deps.arn]
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = local.lambda_env.token
  }

  logging_config {
    log_format = "Text" # Powertools already writes JSON lines (and EMF metrics)
    log_group  = aws_cloudwatch_log_group.token.name
  }

  tracing_config {
    mode = "Active"
  }
}

# The scheduler invokes asynchronously, and Lambda would retry a failed run twice: a wrong PIN would
# reach Fyers three times a morning (accounts get locked for that). The REST client already retries
# what is transient (5xx, rate limits), so a failed run is final and raises the errors alarm.
resource "aws_lambda_function_event_invoke_config" "token" {
  function_name          = aws_lambda_function.token.function_name
  maximum_retry_attempts = 0
}

resource "aws_scheduler_schedule" "token" {
  name                         = local.token_function
  description                  = "Refresh the Fyers access token before the producer connects"
  schedule_expression          = var.token_schedule
  schedule_expression_timezone = var.token_schedule_timezone
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.token.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 1800
    }
  }
}
