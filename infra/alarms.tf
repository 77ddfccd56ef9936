# Alarms → SNS topic → e-mail. Every alarm also notifies when it recovers.
#
# Custom metrics come from the code in the tickpipe namespace (tests/infra checks the code emits
# every metric named here).

locals {
  custom_metrics = {
    journal_depth           = "JournalDepth"         # producer gauge: journal entries waiting for Kinesis
    auth_failing            = "AuthFailing"          # producer gauge: 1 while the socket cannot authenticate
    gaps                    = "Gaps"                 # producer counter: intervals without data (state/gaps/)
    refresh_token_days_left = "RefreshTokenDaysLeft" # token function: days until a login is needed
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  # Budgets' ARNs (arn:aws:budgets::<account>:budget/<name>, Budgets API reference "Budget"): the
  # pattern the Budgets guide gives for the topic's and the key's conditions
  budgets_source_arn = "arn:${local.partition}:budgets::${local.account_id}:*"

  # NSE normal market 09:15-15:30 IST = 03:45-10:00 UTC; ten minutes of grace after the open.
  session_start_utc_minute = 3 * 60 + 55
  session_end_utc_minute   = 10 * 60
}

resource "aws_sns_topic" "alarms" {
  name              = local.alarm_topic_name
  kms_master_key_id = aws_kms_key.main.arn
}

# Who may publish: the topic policy replaces SNS's default one (which lets any principal of the
# account in), so it names the two services that notify the topic; the stack's own publisher, the
# login function's reminder, has sns:Publish in its role (login.tf). Each service also needs the
# topic's key (kms.tf).
data "aws_iam_policy_document" "alarm_topic" {
  # This stack's alarms: the Allow_Publish_Alarms statement with aws:SourceArn of AWS re:Post,
  # https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${var.region}:${local.account_id}:alarm:${local.prefix}-*"]
    }
  }

  # The monthly budget (ecr.tf), as AWS Cost Management user guide, "Creating an Amazon SNS topic for
  # budget notifications" (https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html)
  # writes it: budgets.amazonaws.com, sns:Publish, this account's budgets only.
  statement {
    sid       = "BudgetsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.budgets_source_arn]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- stream and bars ----------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "bars_iterator_age" {
  alarm_name          = "${local.bars_function_name}-iterator-age"
  alarm_description   = "The bars function is more than ${var.iterator_age_alarm_ms} ms behind the stream: bars are late. Check its errors, throttles and concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.bars.function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# No ticks reach the stream during the session: the producer is down, not authenticated, or the
# socket is stalled. Outside session hours (and at weekends) the expression is 1, so it stays OK.
# Exchange holidays are not known to CloudWatch: expect this alarm on a weekday holiday.
resource "aws_cloudwatch_metric_alarm" "no_ticks_in_session" {
  alarm_name          = "${local.stream_name}-no-ticks-in-session"
  alarm_description   = "No ticks reached ${local.stream_name} for 15 minutes during NSE market hours (03:55-10:00 UTC, Mon-Fri). Check the producer service, its logs and the Fyers token."
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id = "records"
    metric {
      namespace   = "AWS/Kinesis"
      metric_name = "IncomingRecords"
      dimensions  = { StreamName = aws_kinesis_stream.ticks.name }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id         = "clock"
    expression = "TIME_SERIES(1)"
  }

  metric_query {
    id          = "in_session_records"
    label       = "records in session (1 outside)"
    return_data = true
    expression  = "IF(DAY(clock) <= 5 AND HOUR(clock) * 60 + MINUTE(clock) >= ${local.session_start_utc_minute} AND HOUR(clock) * 60 + MINUTE(clock) < ${local.session_end_utc_minute}, FILL(records, 0), 1)"
  }
}

# Producer metrics carry the dimension ProducerId (producer/metrics.py), one alarm per slice.
resource "aws_cloudwatch_metric_alarm" "producer_auth" {
  for_each = local.producer_slices

  alarm_name          = "${each.value.service_name}-not-authenticating"
  alarm_description   = "Producer ${each.key} cannot log in to the Fyers socket (rejected or expired token) for 3 minutes. Renew the token (docs/deploy.md, first token)."
  namespace           = local.metric_namespace
  metric_name         = local.custom_metrics.auth_failing
  dimensions          = { ProducerId = each.value.environment.TICKPIPE_PRODUCER_ID }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "journal_depth" {
  for_each = local.producer_slices

  alarm_name          = "${each.value.service_name}-journal-depth"
  alarm_description   = "Producer ${each.key}'s journal holds more than ${var.journal_depth_alarm} entries Kinesis has not accepted: throttling or an outage. Raise stream capacity or check Kinesis errors."
  namespace           = local.metric_namespace
  metric_name         = local.custom_metrics.journal_depth
  dimensions          = { ProducerId = each.value.environment.TICKPIPE_PRODUCER_ID }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.journal_depth_alarm
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "gaps" {
  for_each = local.producer_slices

  alarm_name          = "${each.value.service_name}-gaps"
  alarm_description   = "Producer ${each.key} recorded gaps (intervals without data, listed under state/gaps/ in the lake). Backfill them."
  namespace           = local.metric_namespace
  metric_name         = local.custom_metrics.gaps
  dimensions          = { ProducerId = each.value.environment.TICKPIPE_PRODUCER_ID }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- functions -------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = {
    bars    = aws_lambda_function.bars.function_name
    compact = aws_lambda_function.compact.function_name
    token   = aws_lambda_function.token.function_name
  }

  alarm_name          = "${each.value}-errors"
  alarm_description   = "${each.value} failed invocations. Its log group /aws/lambda/${each.value} has the error."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# The refresh token lasts 15 days; only a person logging in renews it (docs/deploy.md, first token).
resource "aws_cloudwatch_metric_alarm" "refresh_token_expiring" {
  alarm_name          = "${local.token_function}-refresh-token-expiring"
  alarm_description   = "The Fyers refresh token expires in under ${var.refresh_token_alarm_days} days: log in again (docs/deploy.md, first token), or the morning refresh stops."
  namespace           = local.metric_namespace
  metric_name         = local.custom_metrics.refresh_token_days_left
  dimensions          = { service = "token" } # Powertools' service dimension (tokens/refresh.py SERVICE)
  statistic           = "Minimum"
  period              = 86400
  evaluation_periods  = 1
  threshold           = var.refresh_token_alarm_days
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching" # no refresh at all raises the errors alarm instead
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "failure_queue" {
  for_each = {
    bars    = aws_sqs_queue.bars_failures.name
    compact = aws_sqs_queue.compact_failures.name
  }

  alarm_name          = "${each.value}-not-empty"
  alarm_description   = "${each.value} holds failed work (bars: shard ranges that exhausted their retries; compact: failed runs). Inspect and replay."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- firehose ------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "firehose_delivery" {
  for_each = {
    raw  = aws_kinesis_firehose_delivery_stream.raw.name
    bars = aws_kinesis_firehose_delivery_stream.bars.name
  }

  alarm_name          = "${each.value}-delivery-failures"
  alarm_description   = "${each.value} failed to deliver to S3 (records go to raw/errors/). Check /aws/kinesisfirehose/${local.prefix}."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.Success"
  dimensions          = { DeliveryStreamName = each.value }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "firehose_freshness" {
  for_each = {
    raw  = aws_kinesis_firehose_delivery_stream.raw.name
    bars = aws_kinesis_firehose_delivery_stream.bars.name
  }

  alarm_name          = "${each.value}-data-freshness"
  alarm_description   = "The oldest record in ${each.value} has waited over 15 minutes for S3: delivery is stuck or failing."
  namespace           = "AWS/Firehose"
  metric_name         = "DeliveryToS3.DataFreshness"
  dimensions          = { DeliveryStreamName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 900
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
