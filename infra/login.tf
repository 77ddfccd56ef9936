# The token login page (tokens/login.py, docs/login.md): one function behind a Lambda Function URL.
# The URL is public (auth NONE) because Fyers redirects a browser to it; the function itself admits
# only a browser holding a signed, single-use login link (`tickpipe login-link`, or the reminder
# e-mail) and keeps its single-use OAuth states in SSM under the stack's key.
# Its variables live here, not in variables.tf, so this file is the whole feature.

variable "login_page" {
  description = "Build the hosted login page (Lambda Function URL). Without it, log in with `tickpipe login` from a terminal."
  type        = bool
  default     = true
}

variable "login_url_invoke_permission" {
  description = "During apply, add with the AWS CLI the lambda:InvokeFunction grant held to calls through the function URL (function URLs created since October 2025 need it; the 5.x provider cannot express its condition). false: you manage that grant yourself."
  type        = bool
  default     = true
}

variable "login_reserved_concurrency" {
  description = "Reserved concurrency of the login function. 1 makes its in-memory limit on failed attempts the whole function's (docs/login.md); -1 (unreserved) for accounts whose concurrency quota is still 10, where nothing can be reserved."
  type        = number
  default     = 1

  validation {
    condition     = var.login_reserved_concurrency == -1 || var.login_reserved_concurrency >= 1
    error_message = "login_reserved_concurrency is -1 (unreserved) or at least 1 (0 would disable the page)."
  }
}

variable "login_reminder_schedule" {
  description = "When the login function checks the refresh token and, if it runs out within refresh_token_alarm_days, e-mails a fresh login link to the alarm topic (EventBridge Scheduler expression)."
  type        = string
  default     = "cron(30 8 * * ? *)" # 08:30 IST, after the morning refresh (token_schedule)

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.login_reminder_schedule))
    error_message = "login_reminder_schedule must be a cron(...) or rate(...) expression."
  }
}

locals {
  login_count    = var.login_page ? 1 : 0
  login_function = "${local.prefix}-login"
  # tokens/login.py (Settings) and tokens/options.py TokenOptions, as on the token function.
  login_env = {
    TICKPIPE_ENV             = var.env
    TICKPIPE_REGION          = var.region
    TICKPIPE_SSM_PREFIX      = local.ssm_prefix
    TICKPIPE_FYERS_API_URL   = var.fyers_api_url
    TICKPIPE_ALARM_TOPIC_ARN = aws_sns_topic.alarms.arn
    TICKPIPE_TOKEN_KMS_KEY   = aws_kms_key.secrets.arn
    # tokens/options.py login_remind_days: the threshold the refresh-token alarm uses
    TICKPIPE_LOGIN_REMIND_DAYS = tostring(var.refresh_token_alarm_days)
  }
}

# The link key: a placeholder until `tickpipe login-link` puts 32 random bytes there (it never
# passes through Terraform, so it is in no state file or plan).
resource "aws_ssm_parameter" "login_link_key" {
  count       = local.login_count
  name        = "${local.ssm_prefix}login/link_key"
  description = "Key that signs login-page links and sessions (tickpipe login-link creates and rotates it)"
  type        = "SecureString"
  key_id      = aws_kms_key.secrets.arn
  # write-only, as the Fyers secrets (ssm.tf): the live key is never read back into state
  value_wo         = local.ssm_placeholder
  value_wo_version = 1

  lifecycle {
    ignore_changes = [key_id]
  }
}

# Where `tickpipe login-link` finds the page.
resource "aws_ssm_parameter" "login_page_url" {
  #checkov:skip=CKV2_AWS_34:The page's address is not a secret; the page admits only signed links.
  count       = local.login_count
  name        = "${local.ssm_prefix}login/page_url"
  description = "Address of the login page (Lambda Function URL)"
  type        = "String"
  value       = aws_lambda_function_url.login[0].function_url
}

resource "aws_cloudwatch_log_group" "login" {
  count             = local.login_count
  name              = "/aws/lambda/${local.login_function}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# --- its role: only what the page does --------------------------------------------------------

resource "aws_iam_role" "login" {
  count              = local.login_count
  name               = local.login_function
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
}

data "aws_iam_policy_document" "login" {
  statement {
    sid     = "ReadAppSettingsKeyAndStatus" # login/page_url: the reminder e-mail's link
    actions = ["ssm:GetParameter"]
    resources = [for name in ["fyers/app_id", "fyers/redirect_uri", "fyers/secret_key", "fyers/last_refresh", "login/link_key", "login/page_url"] :
    "${local.ssm_prefix_arn}${name}"]
  }
  statement {
    sid     = "ReadTheToken" # fyers/token_store.py TokenStore.load: the token's two documents in one call
    actions = ["ssm:GetParameters"]
    resources = [for name in ["fyers/token", "fyers/refresh_token"] :
    "${local.ssm_prefix_arn}${name}"]
  }
  statement {
    sid       = "WriteTheToken"
    actions   = ["ssm:PutParameter"]
    resources = ["${local.ssm_prefix_arn}fyers/token", "${local.ssm_prefix_arn}fyers/refresh_token"]
  }
  statement {
    sid       = "SingleUseStates" # tokens/login_state.py: create, consume (read and delete), sweep
    actions   = ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"]
    resources = ["${local.ssm_prefix_arn}login/state/*"]
  }
  statement {
    sid       = "UsedLinks" # recorded once (PutParameter without overwrite), swept when expired
    actions   = ["ssm:PutParameter", "ssm:DeleteParameter"]
    resources = ["${local.ssm_prefix_arn}login/used/*"]
  }
  statement {
    sid       = "SweepExpiredStatesAndLinks" # GetParametersByPath is authorised on the path itself
    actions   = ["ssm:GetParametersByPath"]
    resources = ["${local.ssm_prefix_arn}login/state", "${local.ssm_prefix_arn}login/used"]
  }
  statement {
    sid       = "UseSecretsKey" # SSM encrypts and decrypts a standard SecureString with the key directly
    actions   = ["kms:Decrypt", "kms:Encrypt"]
    resources = [aws_kms_key.secrets.arn]
  }
  statement {
    sid       = "PublishToTheEncryptedTopic" # SNS: a publisher needs both on the topic's key
    actions   = local.kms_use
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "RemindByEmail"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/${local.login_function}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }
}

resource "aws_iam_role_policy" "login" {
  count  = local.login_count
  name   = "login"
  role   = aws_iam_role.login[0].id
  policy = data.aws_iam_policy_document.login.json
}

# The morning refresh records its outcome for the status page (tokens/refresh.py record_result).
# Granted here, beside the page that reads it, so iam.tf's token policy stays as it is.
resource "aws_iam_role_policy" "token_records_result" {
  name = "record-refresh-result"
  role = aws_iam_role.token.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "RecordRefreshResult"
      Effect   = "Allow"
      Action   = ["ssm:PutParameter"]
      Resource = "${local.ssm_prefix_arn}fyers/last_refresh"
    }]
  })
}

# --- the function and its URL -----------------------------------------------------------------

resource "aws_lambda_function" "login" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously through its URL (a person waits for the page); the reminder is retried by the scheduler.
  #checkov:skip=CKV_AWS_117:It calls the Fyers API on the internet; outside a VPC it needs no NAT gateway.
  count                          = local.login_count
  function_name                  = local.login_function
  description                    = "Fyers token login page (Function URL): status, login, callback; refresh-token reminder"
  role                           = aws_iam_role.login[0].arn
  handler                        = "tokens.login.handler"
  runtime                        = local.lambda_runtime
  architectures                  = [var.lambda_architecture]
  memory_size                    = 256
  timeout                        = 30 # Fyers' validate-authcode, with two retries
  reserved_concurrent_executions = var.login_reserved_concurrency
  # The token function's package and layer, whichever way lambdas.tf builds them.
  filename         = aws_lambda_function.token.filename
  source_code_hash = aws_lambda_function.token.source_code_hash
  layers           = aws_lambda_function.token.layers
  kms_key_arn      = aws_kms_key.main.arn

  environment {
    variables = local.login_env
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.login[0].name
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_iam_role_policy.login]
}

resource "aws_lambda_function_url" "login" {
  #checkov:skip=CKV_AWS_258:Fyers redirects the user's browser here, which cannot sign IAM requests; the function admits only signed single-use links (docs/login.md, threat model).
  count              = local.login_count
  function_name      = aws_lambda_function.login[0].function_name
  authorization_type = "NONE" # the function authenticates: signed single-use links (docs/login.md)
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "login_url" {
  #checkov:skip=CKV_AWS_301:The login page must be reachable by a browser; invoking the URL only runs the page, which authenticates every request itself (docs/login.md).
  count                  = local.login_count
  statement_id           = "FunctionURLAllowPublicAccess"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.login[0].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# Since October 2025 a new function URL also needs lambda:InvokeFunction, limited to calls that come
# through the URL (InvokedViaFunctionUrl; AWS Lambda guide, "Control access to Lambda function URLs").
# aws_lambda_permission in the 5.x provider cannot express that condition, and without it the grant
# would let anyone invoke the function directly, so the AWS CLI (a prerequisite, docs/deploy.md) adds it.
resource "terraform_data" "login_url_invoke" {
  count            = var.login_page && var.login_url_invoke_permission ? 1 : 0
  triggers_replace = [aws_lambda_function.login[0].arn]

  provisioner "local-exec" {
    command = <<-EOT
      command -v aws >/dev/null || { echo "infra/login.tf needs the AWS CLI v2 (docs/login.md), or set login_url_invoke_permission = false" >&2; exit 1; }
      aws lambda remove-permission --region ${var.region} --function-name ${local.login_function} --statement-id FunctionURLInvokeViaUrl >/dev/null 2>&1 || true
      aws lambda add-permission --region ${var.region} --function-name ${local.login_function} --statement-id FunctionURLInvokeViaUrl --action lambda:InvokeFunction --principal '*' --invoked-via-function-url >/dev/null
    EOT
  }
}

# --- the reminder e-mail ----------------------------------------------------------------------
# Each morning after the refresh: if the refresh token runs out within refresh_token_alarm_days,
# the function publishes a fresh single-use login link to the alarm topic, beside the
# "refresh-token-expiring" alarm (whose fixed text cannot carry a link that expires).

resource "aws_iam_role" "login_scheduler" {
  count              = local.login_count
  name               = "${local.login_function}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
}

resource "aws_iam_role_policy" "login_scheduler" {
  count = local.login_count
  name  = "invoke-login-reminder"
  role  = aws_iam_role.login_scheduler[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "InvokeLoginFunction"
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = aws_lambda_function.login[0].arn
    }]
  })
}

resource "aws_scheduler_schedule" "login_reminder" {
  count                        = local.login_count
  name                         = "${local.login_function}-reminder"
  description                  = "E-mail a fresh login link when the Fyers refresh token is about to run out"
  schedule_expression          = var.login_reminder_schedule
  schedule_expression_timezone = var.token_schedule_timezone
  kms_key_arn                  = aws_kms_key.main.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.login[0].arn
    role_arn = aws_iam_role.login_scheduler[0].arn
    input    = jsonencode({ remind = true })

    retry_policy {
      maximum_retry_attempts       = 2
      maximum_event_age_in_seconds = 1800
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "login_errors" {
  count               = local.login_count
  alarm_name          = "${local.login_function}-errors"
  alarm_description   = "${local.login_function} failed invocations (the page or the reminder). Its log group /aws/lambda/${local.login_function} has the error."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.login[0].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

output "login_page_url" {
  description = "The hosted login page. Open it with a link from `tickpipe login-link`; register <this URL>callback as the Fyers app's redirect URI (docs/login.md)."
  value       = var.login_page ? aws_lambda_function_url.login[0].function_url : null
}
