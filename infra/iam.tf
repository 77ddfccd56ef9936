# One role per process, each allowed only what that process does, on only its resources.
# Actions without resource-level permissions (PutMetricData, X-Ray) are the only "*" resources,
# and PutMetricData is held to the tickpipe namespace.

locals {
  lake_arn = aws_s3_bucket.lake.arn
  kms_use  = ["kms:Decrypt", "kms:GenerateDataKey"]
}

# Confused-deputy guards where the service documents one: Firehose passes sts:ExternalId = the
# account id; Scheduler and ECS tasks pass aws:SourceAccount. Lambda's role is only usable by
# functions someone with iam:PassRole in this account created, so it carries no condition.
locals {
  assume = {
    firehose  = { service = "firehose.amazonaws.com", condition_key = "sts:ExternalId" }
    lambda    = { service = "lambda.amazonaws.com", condition_key = "" }
    scheduler = { service = "scheduler.amazonaws.com", condition_key = "aws:SourceAccount" }
    ecs_tasks = { service = "ecs-tasks.amazonaws.com", condition_key = "aws:SourceAccount" }
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = local.assume

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value.service]
    }
    dynamic "condition" {
      for_each = each.value.condition_key == "" ? [] : [each.value.condition_key]
      content {
        test     = "StringEquals"
        variable = condition.value
        values   = [local.account_id]
      }
    }
  }
}

# Shared statement: publish custom metrics, only into our namespace (the producer's PutMetricData;
# the functions write EMF to their logs instead).
data "aws_iam_policy_document" "metrics" {
  statement {
    sid       = "PutTickpipeMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metric_namespace]
    }
  }
}

# --- firehose ------------------------------------------------------------------------------------

resource "aws_iam_role" "firehose" {
  name               = "${local.prefix}-firehose"
  assume_role_policy = data.aws_iam_policy_document.assume["firehose"].json
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid       = "ReadTicksStream"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"]
    resources = [aws_kinesis_stream.ticks.arn]
  }
  statement {
    sid       = "WriteRawPrefixes"
    actions   = ["s3:AbortMultipartUpload", "s3:PutObject"]
    resources = ["${local.lake_arn}/raw/*"]
  }
  statement {
    sid       = "LocateBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [local.lake_arn]
  }
  statement {
    sid       = "UseKey"
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "DeliveryLogs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "delivery"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

# --- bars function -------------------------------------------------------------------------------

resource "aws_iam_role" "bars" {
  name               = "${local.prefix}-bars"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "bars" {
  # No PutMetricData: the function's metrics are EMF lines in its log (Powertools), which CloudWatch
  # turns into metrics without an API call.
  statement {
    sid = "ReadTicksStream" # the event source mapping polls with these; the code lists shards
    # No SubscribeToShard: that is enhanced fan-out, which the mapping does not use.
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"]
    resources = [aws_kinesis_stream.ticks.arn]
  }
  statement {
    sid       = "WriteBars" # consumers/bars/io.py BarSink: PutRecordBatch only
    actions   = ["firehose:PutRecordBatch"]
    resources = [aws_kinesis_firehose_delivery_stream.bars.arn]
  }
  statement {
    sid       = "Checkpoints"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.lake_arn}/${local.bars_state_prefix}*"]
  }
  statement {
    # Without ListBucket, S3 answers a GET of a missing key with 403 instead of 404
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"): the
    # first window of a shard, which has no checkpoint yet, must read as "none", not "denied".
    sid       = "TellMissingCheckpoints"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]
  }
  statement {
    sid       = "Quarantine"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.bars_quarantine_prefix}*"]
  }
  statement {
    sid       = "FailedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.bars_failures.arn]
  }
  statement {
    sid       = "UseKey"
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.bars.arn}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "bars" {
  name   = "bars"
  role   = aws_iam_role.bars.id
  policy = data.aws_iam_policy_document.bars.json
}

# --- compact function ----------------------------------------------------------------------------

resource "aws_iam_role" "compact" {
  name               = "${local.prefix}-compact"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "compact" {
  # No PutMetricData: compaction's metrics are EMF lines in its log (consumers/lake/compact.py emit_metrics).
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_arn]
  }
  statement {
    sid     = "ReadRaw"
    actions = ["s3:GetObject"]
    resources = [
      "${local.lake_arn}/${local.raw_ticks_prefix}*",
      "${local.lake_arn}/${local.raw_bars_prefix}*",
    ]
  }
  statement {
    sid     = "WriteCuratedAndState"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    # Its own tables only (consumers/lake/schema.py: curated/<table>/, state/compact/<table>/), not
    # the bars' checkpoints. A day is read, rewritten and its old generation deleted; the manifest
    # and the lease live under state/compact/.
    resources = [
      "${local.lake_arn}/${local.curated_ticks_prefix}*",
      "${local.lake_arn}/${local.curated_bars_prefix}*",
      "${local.lake_arn}/${local.compact_state_prefix}*",
    ]
  }
  statement {
    sid     = "Quarantine" # bad lines and unreadable objects are written there, never read back
    actions = ["s3:PutObject"]
    resources = [
      "${local.lake_arn}/${local.quarantine_prefix}ticks/*",
      "${local.lake_arn}/${local.quarantine_prefix}bars_5m/*",
    ]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.compact_failures.arn]
  }
  statement {
    sid       = "UseKey"
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.compact.arn}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "compact" {
  name   = "compact"
  role   = aws_iam_role.compact.id
  policy = data.aws_iam_policy_document.compact.json
}

# --- token function ------------------------------------------------------------------------------

resource "aws_iam_role" "token" {
  name               = "${local.prefix}-token"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "token" {
  statement {
    # tokens/refresh.py read_credentials and TokenStore.load: two GetParameters calls, nothing else
    sid     = "ReadFyersCredentials"
    actions = ["ssm:GetParameters"]
    resources = [for name in ["app_id", "secret_key", "pin", "token", "refresh_token"] :
    "${local.ssm_prefix_arn}fyers/${name}"]
  }
  statement {
    sid       = "WriteTheToken"
    actions   = ["ssm:PutParameter"]
    resources = ["${local.ssm_prefix_arn}fyers/token", "${local.ssm_prefix_arn}fyers/refresh_token"]
  }
  statement {
    # Its parameters are all under the secrets' key; SSM encrypts and decrypts a standard
    # SecureString with the key directly (Encrypt, Decrypt), no data key.
    sid       = "UseSecretsKey"
    actions   = ["kms:Decrypt", "kms:Encrypt"]
    resources = [aws_kms_key.secrets.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.token.arn}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "token" {
  name   = "token"
  role   = aws_iam_role.token.id
  policy = data.aws_iam_policy_document.token.json
}

# --- scheduler (invokes compact and token) -------------------------------------------------------

resource "aws_iam_role" "scheduler" {
  name               = "${local.prefix}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeScheduledFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.compact.arn, aws_lambda_function.token.arn]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.compact_failures.arn]
  }
  statement {
    sid       = "UseKey"
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-scheduled-functions"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# --- producer ------------------------------------------------------------------------------------

# Execution role: ECS itself pulls the image and ships logs.
resource "aws_iam_role" "producer_execution" {
  name               = "${local.prefix}-producer-execution"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs_tasks"].json
}

resource "aws_iam_role_policy_attachment" "producer_execution" {
  role       = aws_iam_role.producer_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# Task role: what the producer code does.
resource "aws_iam_role" "producer_task" {
  name               = "${local.prefix}-producer-task"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs_tasks"].json
}

data "aws_iam_policy_document" "producer_task" {
  source_policy_documents = [data.aws_iam_policy_document.metrics.json]

  statement {
    sid       = "PutTicks" # producer/sender.py PutRecords; producer/shards.py ListShards (the shard map)
    actions   = ["kinesis:PutRecords", "kinesis:ListShards"]
    resources = [aws_kinesis_stream.ticks.arn]
  }
  statement {
    # the access token (fyers/token_store.py TokenStore.load_access_token) and ssm:/ symbol universes under the prefix
    sid       = "ReadTokenAndUniverses"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.ssm_prefix_arn}*"]
  }
  statement {
    # never the credentials that buy tokens (app secret, PIN, refresh token): only the token
    # function and the login page use them
    sid     = "NeverTheCredentials"
    effect  = "Deny"
    actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = ["${local.ssm_prefix_arn}fyers/secret_key", "${local.ssm_prefix_arn}fyers/pin",
    "${local.ssm_prefix_arn}fyers/refresh_token", "${local.ssm_prefix_arn}login/*"]
  }
  statement {
    sid       = "ReadSymbolLists"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake_arn}/${local.state_prefix}symbols/*"]
  }
  statement {
    sid       = "RecordGaps"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.state_prefix}gaps/*"]
  }
  statement {
    sid       = "QuarantineFrames"
    actions   = ["s3:PutObject"]
    resources = ["${local.lake_arn}/${local.quarantine_prefix}frames/*"]
  }
  statement {
    sid       = "UseKey" # the symbols object and gap records (S3), the stream (Kinesis)
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "ReadTheAccessToken" # the secrets' key: decrypt, and only the access token (kms.tf)
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]
  }
}

resource "aws_iam_role_policy" "producer_task" {
  name   = "producer"
  role   = aws_iam_role.producer_task.id
  policy = data.aws_iam_policy_document.producer_task.json
}
