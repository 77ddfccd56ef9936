# History: exchange candles from the Fyers history API (docs/history.md).
#
# - Lambda "backfill" (consumers.history.backfill.handler): the job `tickpipe backfill` runs, invoked on
#   demand with {"symbols": [...], "from": "yyyy-MM-dd", "to": "yyyy-MM-dd", "resolutions": [...]}.
# - Lambda "reconcile" (consumers.history.reconcile.handler), scheduled after every session: the day's
#   5-minute candles against curated bars_5m, into curated/reconcile*/, with metrics and alarms.
# - Glue tables candles_1m, candles_5m, candles_1d, reconcile, reconcile_daily (sql/ddl/) and the
#   view bars_5m_final (sql/views/, as a saved query to run once).
#
# Each function has its own role allowed only its prefixes. Variables of this file live here.

# --- variables -----------------------------------------------------------------------------------

variable "reconcile_schedule" {
  description = "When the reconcile function runs (EventBridge Scheduler expression, in reconcile_schedule_timezone). After the close and compaction: the day's candles are final 30 minutes after 15:30 IST."
  type        = string
  default     = "cron(30 17 ? * MON-FRI *)"
}

variable "reconcile_schedule_timezone" {
  description = "Time zone of reconcile_schedule."
  type        = string
  default     = "Asia/Kolkata"
}

variable "reconcile_mismatch_rate_alarm_percent" {
  description = "Alarm when the day's share of compared 5-minute bars that differ from the exchange's candles passes this percent. With the Fyers socket's quote snapshots, bars differ at bucket edges on most days (docs/history.md); set it from a few days of reconcile_daily.mismatch_rate."
  type        = number
  default     = 98

  validation {
    condition     = var.reconcile_mismatch_rate_alarm_percent > 0 && var.reconcile_mismatch_rate_alarm_percent <= 100
    error_message = "reconcile_mismatch_rate_alarm_percent must be in (0, 100]."
  }
}

variable "reconcile_missing_bars_alarm" {
  description = "Alarm when more than this many 5-minute bars of a day have an exchange candle but no live bar and no gap record (data lost without a trace)."
  type        = number
  default     = 0

  validation {
    condition     = var.reconcile_missing_bars_alarm >= 0 && floor(var.reconcile_missing_bars_alarm) == var.reconcile_missing_bars_alarm
    error_message = "reconcile_missing_bars_alarm must be a whole number, 0 or more."
  }
}

variable "history_timeout_seconds" {
  description = "Timeout of the backfill and reconcile functions. Backfill stops a minute before it and reports pending chunks (invoke again to continue); 900 is Lambda's maximum."
  type        = number
  default     = 900

  validation {
    condition     = var.history_timeout_seconds >= 120 && var.history_timeout_seconds <= 900
    error_message = "history_timeout_seconds must be 120..900."
  }
}

variable "history_memory_mb" {
  description = "Memory of the backfill and reconcile functions (a flush holds up to 50 symbols of one chunk window of candles)."
  type        = number
  default     = 1024

  validation {
    condition     = var.history_memory_mb >= 256 && var.history_memory_mb <= 10240
    error_message = "history_memory_mb must be 256..10240."
  }
}

variable "history_reserved_concurrency" {
  description = "Reserved concurrency of backfill and reconcile, -1 for none. 1 is recommended where the account's quota allows: one run at a time keeps the Fyers request limits per Lambda container and a day's candle object free of concurrent merges."
  type        = number
  default     = -1

  validation {
    condition     = var.history_reserved_concurrency >= -1
    error_message = "history_reserved_concurrency must be -1 (none) or a positive count."
  }
}

# --- names, environment, tables -----------------------------------------------------------------

locals {
  backfill_function  = "${local.prefix}-backfill"
  reconcile_function = "${local.prefix}-reconcile"

  # consumers/history/candles.py and consumers/history/reconcile.py prefixes.
  candles_5m_prefix = "curated/candles_5m/"
  candles_prefixes  = ["curated/candles_1m/", local.candles_5m_prefix, "curated/candles_1d/"]
  history_candles   = { backfill = local.candles_prefixes, reconcile = [local.candles_5m_prefix] }
  reconcile_prefix  = "curated/reconcile/"
  reconcile_daily   = "curated/reconcile_daily/"
  backfill_state    = "${local.state_prefix}backfill/"
  gaps_state        = "${local.state_prefix}gaps/"
  bars_manifests    = "${local.state_prefix}compact/bars_5m/"
  fyers_limiter_tmp = "/tmp/fyers-requests.json" # fyers/shared_limiter.py: one container's requests

  # Every producer's universe (producer.tf producer_symbols), so reconcile also checks a symbol without a single bar
  # or gap record (tickpipe/universe.py load_universes: comma separated). A path inside the producer's
  # image is not readable from Lambda: such a universe is left out (docs/history.md).
  reconcile_universes = distinct([for u in values(local.producer_symbols) : u if !startswith(u, "/")])
  reconcile_universe_objects = [for u in local.reconcile_universes : "arn:${local.partition}:s3:::${trimprefix(u, "s3://")}"
  if startswith(u, "s3://")]
  reconcile_universe_parameters = [for u in local.reconcile_universes :
    "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter/${trimprefix(trimprefix(u, "ssm:"), "/")}"
  if startswith(u, "ssm:")]

  history_env = {
    backfill = {
      TICKPIPE_ENV           = var.env
      TICKPIPE_REGION        = var.region
      TICKPIPE_BUCKET        = aws_s3_bucket.lake.bucket
      TICKPIPE_SSM_PREFIX    = local.ssm_prefix
      TICKPIPE_FYERS_API_URL = var.fyers_api_url
      TICKPIPE_FYERS_LIMITER = local.fyers_limiter_tmp
    }
    reconcile = {
      TICKPIPE_ENV               = var.env
      TICKPIPE_REGION            = var.region
      TICKPIPE_BUCKET            = aws_s3_bucket.lake.bucket
      TICKPIPE_SSM_PREFIX        = local.ssm_prefix
      TICKPIPE_FYERS_API_URL     = var.fyers_api_url
      TICKPIPE_FYERS_LIMITER     = local.fyers_limiter_tmp
      TICKPIPE_SESSION_OVERRIDES = var.session_overrides
      TICKPIPE_SYMBOLS           = join(",", local.reconcile_universes)
    }
  }

  candle_price_columns = [
    { name = "o", type = "double" },
    { name = "h", type = "double" },
    { name = "l", type = "double" },
    { name = "c", type = "double" },
    { name = "vol", type = "bigint" },
    { name = "src", type = "string" },
    { name = "v", type = "bigint" },
  ]
  intraday_candle_columns = concat([
    { name = "sym", type = "string" },
    { name = "start", type = "bigint" },
    { name = "res", type = "bigint" },
  ], local.candle_price_columns)
  daily_candle_columns = concat([
    { name = "sym", type = "string" },
    { name = "start", type = "bigint" },
    { name = "day", type = "string" },
  ], local.candle_price_columns)
  reconcile_columns = [
    { name = "sym", type = "string" },
    { name = "start", type = "bigint" },
    { name = "status", type = "string" },
    { name = "cause", type = "string" },
    { name = "fields", type = "string" },
    { name = "bar_vol", type = "bigint" },
    { name = "candle_vol", type = "bigint" },
    { name = "d_o", type = "double" },
    { name = "d_h", type = "double" },
    { name = "d_l", type = "double" },
    { name = "d_c", type = "double" },
    { name = "d_vol", type = "bigint" },
  ]
  reconcile_daily_columns = [
    { name = "day", type = "string" },
    { name = "symbols", type = "bigint" },
    { name = "candles", type = "bigint" },
    { name = "bars", type = "bigint" },
    { name = "compared", type = "bigint" },
    { name = "matched", type = "bigint" },
    { name = "differing", type = "bigint" },
    { name = "missing_bars", type = "bigint" },
    { name = "gap_bars", type = "bigint" },
    { name = "bars_without_candle", type = "bigint" },
    { name = "mismatch_rate", type = "double" },
    { name = "volume_bars", type = "bigint" },
    { name = "volume_candles", type = "bigint" },
    { name = "causes", type = "string" },
  ]

  # table => prefix, columns, first projected day (sql/ddl/<table>.sql).
  history_tables = {
    candles_1m      = { prefix = "curated/candles_1m/", columns = local.intraday_candle_columns, since = "2017-01-01" }
    candles_5m      = { prefix = "curated/candles_5m/", columns = local.intraday_candle_columns, since = "2017-01-01" }
    candles_1d      = { prefix = "curated/candles_1d/", columns = local.daily_candle_columns, since = "2017-01-01" }
    reconcile       = { prefix = local.reconcile_prefix, columns = local.reconcile_columns, since = "2024-01-01" }
    reconcile_daily = { prefix = local.reconcile_daily, columns = local.reconcile_daily_columns, since = "2024-01-01" }
  }
}

resource "aws_glue_catalog_table" "history" {
  for_each = local.history_tables

  name          = each.key
  database_name = aws_glue_catalog_database.lake.name
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL                      = "TRUE"
    classification                = "parquet"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${each.value.since},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "storage.location.template"   = "${local.lake_s3}${each.value.prefix}dt=$${dt}/"
    "parquet.compression"         = "ZSTD"
  }

  partition_keys {
    name = "dt"
    type = "string"
  }

  storage_descriptor {
    location      = "${local.lake_s3}${each.value.prefix}"
    input_format  = local.formats.parquet.input
    output_format = local.formats.parquet.output

    ser_de_info {
      serialization_library = local.formats.parquet.serde
      parameters            = local.formats.parquet.serde_parameters
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

# Athena views live in the Glue catalog as encoded Presto plans: Terraform saves the view's SQL
# (sql/views/bars_5m_final.sql, the file DuckDB runs in the tests) and docs/history.md says to run
# it once in the workgroup.
resource "aws_athena_named_query" "bars_5m_final" {
  name        = "${local.prefix}-create-bars_5m_final"
  description = "Creates the view bars_5m_final: the exchange candle where one exists, else the live bar (run once)"
  workgroup   = aws_athena_workgroup.lake.id
  database    = aws_glue_catalog_database.lake.name
  query       = file("${path.module}/../sql/views/bars_5m_final.sql")
}

# --- functions -----------------------------------------------------------------------------------

resource "aws_sqs_queue" "history_failures" {
  name                      = "${local.prefix}-history-failures"
  message_retention_seconds = 1209600 # 14 days: the failed events, to invoke again
  kms_master_key_id         = aws_kms_key.main.arn
}

resource "aws_cloudwatch_log_group" "history" {
  for_each = toset(["backfill", "reconcile"])

  name              = "/aws/lambda/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_function" "history" {
  #checkov:skip=CKV_AWS_117:It calls the Fyers API on the internet; outside a VPC it needs no NAT gateway.
  for_each = {
    backfill  = { handler = "consumers.history.backfill.handler", description = "Fyers history candles → curated candles_1m/_5m/_1d (resumable, on demand)" }
    reconcile = { handler = "consumers.history.reconcile.handler", description = "After each session: exchange 5-minute candles vs curated bars_5m → curated/reconcile" }
  }

  function_name                  = "${local.prefix}-${each.key}"
  description                    = each.value.description
  role                           = aws_iam_role.history[each.key].arn
  handler                        = each.value.handler
  runtime                        = local.lambda_runtime
  architectures                  = [var.lambda_architecture]
  memory_size                    = var.history_memory_mb
  timeout                        = var.history_timeout_seconds
  reserved_concurrent_executions = var.history_reserved_concurrency
  filename                       = local.app_zip
  source_code_hash               = terraform_data.package.output.app
  layers                         = [aws_lambda_layer_version.deps.arn]
  kms_key_arn                    = aws_kms_key.main.arn

  environment {
    variables = local.history_env[each.key]
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.history_failures.arn
  }

  logging_config {
    log_format = "Text" # Powertools already writes JSON lines (and EMF metrics)
    log_group  = aws_cloudwatch_log_group.history[each.key].name
  }

  tracing_config {
    mode = "Active"
  }
}

resource "aws_scheduler_schedule" "reconcile" {
  name                         = local.reconcile_function
  description                  = "Reconcile the day's live bars with the exchange's candles"
  schedule_expression          = var.reconcile_schedule
  schedule_expression_timezone = var.reconcile_schedule_timezone
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.history["reconcile"].arn
    role_arn = aws_iam_role.history_scheduler.arn
    # An empty event: the handler reconciles today (IST), if it was a trading day.
    input = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 3600
    }

    dead_letter_config {
      arn = aws_sqs_queue.history_failures.arn
    }
  }
}

# --- roles ---------------------------------------------------------------------------------------

resource "aws_iam_role" "history" {
  for_each = toset(["backfill", "reconcile"])

  name               = "${local.prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "history_common" {
  statement {
    sid       = "FyersCredentials"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.ssm_prefix_arn}fyers/app_id", "${local.ssm_prefix_arn}fyers/token"]
  }
  # Unconditional, as for compaction: without ListBucket on the whole bucket S3 answers a read of a
  # day object that does not exist yet with 403 instead of 404 (NoSuchKey), and the first write fails.
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]
  }
  # Done markers are written, never read: a run lists them (ListBucket) to skip fetched chunks.
  statement {
    sid       = "MarkFetchedChunks"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.backfill_state}*"]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.history_failures.arn]
  }
  statement {
    sid       = "UseKey" # the lake (S3)
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "ReadTheAccessToken" # the secrets' key: decrypt, and only the access token (kms.tf)
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

data "aws_iam_policy_document" "history" {
  for_each = toset(["backfill", "reconcile"])

  source_policy_documents = [data.aws_iam_policy_document.history_common.json]

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.history[each.key].arn}:*"]
  }
  # Each day's candle file is read, merged and written back. Backfill keeps every resolution;
  # reconcile fetches and keeps only the 5-minute candles it compares (consumers/history/reconcile.py).
  statement {
    sid       = "WriteCandles"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [for p in(each.key == "backfill" ? local.candles_prefixes : [local.candles_5m_prefix]) : "${local.lake_arn}/${p}*"]
  }

  # Reconcile also reads the day's curated bars (through their manifest) and gap records, and
  # writes its own two tables.
  dynamic "statement" {
    for_each = each.key == "reconcile" ? ["read"] : []
    content {
      sid     = "ReadBarsAndGaps"
      actions = ["s3:GetObject"]
      resources = [
        "${local.lake_arn}/${local.curated_bars_prefix}*",
        "${local.lake_arn}/${local.bars_manifests}*",
        "${local.lake_arn}/${local.gaps_state}*",
      ]
    }
  }
  # ... and the producers' symbol lists (only those objects and parameters).
  dynamic "statement" {
    for_each = each.key == "reconcile" && length(local.reconcile_universe_objects) > 0 ? ["objects"] : []
    content {
      sid       = "ReadUniverseObjects"
      actions   = ["s3:GetObject"]
      resources = local.reconcile_universe_objects
    }
  }
  dynamic "statement" {
    for_each = each.key == "reconcile" && length(local.reconcile_universe_parameters) > 0 ? ["parameters"] : []
    content {
      sid       = "ReadUniverseParameters"
      actions   = ["ssm:GetParameter"]
      resources = local.reconcile_universe_parameters
    }
  }
  dynamic "statement" {
    for_each = each.key == "reconcile" ? ["write"] : []
    content {
      sid       = "WriteReconcile"
      actions   = ["s3:PutObject"]
      resources = ["${local.lake_arn}/${local.reconcile_prefix}*", "${local.lake_arn}/${local.reconcile_daily}*"]
    }
  }
}

resource "aws_iam_role_policy" "history" {
  for_each = toset(["backfill", "reconcile"])

  name   = each.key
  role   = aws_iam_role.history[each.key].id
  policy = data.aws_iam_policy_document.history[each.key].json
}

resource "aws_iam_role" "history_scheduler" {
  name               = "${local.prefix}-reconcile-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
}

data "aws_iam_policy_document" "history_scheduler" {
  statement {
    sid       = "InvokeReconcile"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.history["reconcile"].arn]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.history_failures.arn]
  }
  statement {
    sid       = "UseKey"
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "history_scheduler" {
  name   = "invoke-reconcile"
  role   = aws_iam_role.history_scheduler.id
  policy = data.aws_iam_policy_document.history_scheduler.json
}

# --- alarms --------------------------------------------------------------------------------------
# consumers/history/reconcile.py emits these once a day (EMF, namespace tickpipe, no dimensions).

resource "aws_cloudwatch_metric_alarm" "reconcile_mismatch_rate" {
  alarm_name          = "${local.reconcile_function}-mismatch-rate"
  alarm_description   = "More than ${var.reconcile_mismatch_rate_alarm_percent}% of the day's compared 5-minute bars differ from the exchange's candles. Query reconcile for the causes (sql/queries/reconcile_causes.sql)."
  namespace           = local.metric_namespace
  metric_name         = "ReconcileMismatchRate"
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.reconcile_mismatch_rate_alarm_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "reconcile_missing_bars" {
  alarm_name          = "${local.reconcile_function}-missing-bars"
  alarm_description   = "More than ${var.reconcile_missing_bars_alarm} bars of the day have an exchange candle but no live bar and no gap record: data was lost without a trace. bars_5m_final serves the candles; find the cause."
  namespace           = local.metric_namespace
  metric_name         = "ReconcileMissingBars"
  statistic           = "Maximum"
  period              = 86400
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.reconcile_missing_bars_alarm
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "history_errors" {
  for_each = aws_lambda_function.history

  alarm_name          = "${each.value.function_name}-errors"
  alarm_description   = "The ${each.key} function failed. Its log group says why; a failed event is in ${aws_sqs_queue.history_failures.name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
