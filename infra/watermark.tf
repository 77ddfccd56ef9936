# The bars' watermark safety net (docs/bars.md "When a bar is final"). Each producer sends a closing
# watermark to its shards when its session ends; one that died before that would leave its symbols'
# last bars open until the next session. After the close, the function watermark-net
# (consumers/bars/watermark_net.py) writes one end-of-session watermark for every producer into every
# open shard (ExplicitHashKey = the shard's starting hash key), and the bars function closes what is
# left. When that closed any bar, the bars function counts them (SafetyNetBars) and the alarm below
# says so: a producer did not finish its session.

variable "watermark_net_schedule" {
  description = "EventBridge Scheduler expression (in watermark_net_schedule_timezone) for the end-of-session watermark: after the close plus the producer's margin_after (5 min). The function does nothing while a session is in progress."
  type        = string
  default     = "cron(45 15 ? * MON-FRI *)" # 15:45 IST, weekdays

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.watermark_net_schedule))
    error_message = "watermark_net_schedule must be cron(...) or rate(...)."
  }
}

variable "watermark_net_schedule_timezone" {
  description = "IANA time zone of watermark_net_schedule."
  type        = string
  default     = "Asia/Kolkata"
}

locals {
  watermark_net_function = "${local.prefix}-watermark-net"
  watermark_net_env = {
    TICKPIPE_ENV               = var.env
    TICKPIPE_REGION            = var.region
    TICKPIPE_STREAM            = aws_kinesis_stream.ticks.name
    TICKPIPE_SESSION_OVERRIDES = var.session_overrides
  }
  # consumers/bars/handler.py SAFETY_NET_BARS, emitted by the bars function (Powertools service "bars")
  safety_net_bars_metric = "SafetyNetBars"
}

resource "aws_cloudwatch_log_group" "watermark_net" {
  name              = "/aws/lambda/${local.watermark_net_function}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_iam_role" "watermark_net" {
  name               = local.watermark_net_function
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "watermark_net" {
  # No PutMetricData: its ShardsWritten metric is an EMF line in its log (Powertools).
  statement {
    sid       = "WriteWatermarks"
    actions   = ["kinesis:ListShards", "kinesis:PutRecords"]
    resources = [aws_kinesis_stream.ticks.arn]
  }
  statement {
    sid       = "UseKey" # a producer of an encrypted stream needs GenerateDataKey only (no reads)
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.watermark_net.arn}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "watermark_net" {
  name   = "watermark-net"
  role   = aws_iam_role.watermark_net.id
  policy = data.aws_iam_policy_document.watermark_net.json
}

resource "aws_lambda_function" "watermark_net" {
  #checkov:skip=CKV_AWS_116:A failed run is retried by the scheduler and raises the errors alarm; a dead-letter queue would hold an empty event.
  #checkov:skip=CKV_AWS_117:It only calls Kinesis; outside a VPC it needs no endpoints.
  #checkov:skip=CKV_AWS_115:It runs once a day and writes one record per shard; no reserved concurrency needed.
  function_name    = local.watermark_net_function
  description      = "End-of-session watermark into every shard, so the bars of a producer that died close"
  role             = aws_iam_role.watermark_net.arn
  handler          = "consumers.bars.watermark_net.handler"
  runtime          = local.lambda_runtime
  architectures    = [var.lambda_architecture]
  memory_size      = 256
  timeout          = 60
  filename         = local.app_zip
  source_code_hash = terraform_data.package.output.app
  layers           = [aws_lambda_layer_version.deps.arn]
  kms_key_arn      = aws_kms_key.main.arn

  environment {
    variables = local.watermark_net_env
  }

  logging_config {
    log_format = "Text" # Powertools already writes JSON lines (and EMF metrics)
    log_group  = aws_cloudwatch_log_group.watermark_net.name
  }

  tracing_config {
    mode = "Active"
  }
}

# Its own scheduler role, so that this file stands alone beside iam.tf's.
resource "aws_iam_role" "watermark_net_scheduler" {
  name               = "${local.watermark_net_function}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
}

data "aws_iam_policy_document" "watermark_net_scheduler" {
  statement {
    sid       = "InvokeWatermarkNet"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.watermark_net.arn]
  }
  statement {
    sid       = "UseKey"
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "watermark_net_scheduler" {
  name   = "invoke-watermark-net"
  role   = aws_iam_role.watermark_net_scheduler.id
  policy = data.aws_iam_policy_document.watermark_net_scheduler.json
}

resource "aws_scheduler_schedule" "watermark_net" {
  name                         = local.watermark_net_function
  description                  = "End-of-session watermark into every shard of the ticks stream"
  schedule_expression          = var.watermark_net_schedule
  schedule_expression_timezone = var.watermark_net_schedule_timezone
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.watermark_net.arn
    role_arn = aws_iam_role.watermark_net_scheduler.arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 1800
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "watermark_net_errors" {
  alarm_name          = "${local.watermark_net_function}-errors"
  alarm_description   = "The end-of-session watermark function failed: the last bars of a producer that died stay open until the next session. Check its log group."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.watermark_net.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "safety_net_closed_bars" {
  alarm_name          = "${local.watermark_net_function}-closed-bars"
  alarm_description   = "The end-of-session safety net closed bars: a producer did not send its closing watermark (it stopped or crashed before the session ended). Check the producer's logs and gaps; those bars arrived late."
  namespace           = local.metric_namespace
  metric_name         = local.safety_net_bars_metric
  dimensions          = { service = "bars" } # Powertools' service dimension (consumers/bars/handler.py SERVICE)
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
