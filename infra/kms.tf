# One customer-managed key encrypts the stream, the lake, logs, the alarm topic and the failure
# queues; the SecureString parameters have their own key (below). A customer key (not the aws/* managed ones) because CloudWatch
# alarms and Budgets can only publish to an encrypted topic whose key policy lets their service in.

data "aws_iam_policy_document" "key" {
  # A key policy, not an identity policy: "*" as the resource means this key only, and the account
  # statement is the standard one that lets IAM policies grant use of the key.
  #checkov:skip=CKV_AWS_111:Key policy: the resource "*" is this key.
  #checkov:skip=CKV_AWS_356:Key policy: the resource "*" is this key.
  #checkov:skip=CKV_AWS_109:Key policy: the account root statement is what lets IAM grant the key.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*${local.prefix}*"]
    }
  }

  # CloudWatch alarms publishing to the encrypted alarm topic (SNS "compatibility with AWS services").
  # CloudWatch passes aws:SourceAccount to KMS; EventBridge would not, so it is not granted here.
  statement {
    sid       = "AlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # The monthly budget (ecr.tf) publishing to the same topic: AWS Cost Management user guide,
  # "Creating an Amazon SNS topic for budget notifications", "Protecting your Amazon SNS budget
  # alerts data with SSE and AWS KMS" (https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html):
  # kms:GenerateDataKey* and kms:Decrypt for budgets.amazonaws.com. No source conditions here, as in
  # the guide's key statement: whether Budgets' publish carries aws:SourceAccount/SourceArn through
  # SNS to KMS is not documented, and a condition KMS never sees would drop every alert silently.
  # The confused-deputy check is the topic policy's (alarms.tf: this account's budgets only), and a
  # data key for this topic is all the grant yields.
  statement {
    sid       = "BudgetsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${local.prefix}: stream, lake, logs, alarms"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.main.key_id
}

# --- the secrets' own key ------------------------------------------------------------------------

# The Fyers secrets (app secret, PIN, both tokens) and the login link key use a second key. Its
# policy lets the account administer the key but not use it: only the principals named here may
# encrypt or decrypt, so no IAM grant (a lake reader's kms:Decrypt, even on "*") opens a secret.
# The producer and the backfill functions may decrypt only the access token: SSM passes the
# parameter's ARN as the encryption context (docs: "How AWS Systems Manager Parameter Store uses
# AWS KMS", encryption context), and the condition below names fyers/token alone.
data "aws_iam_session_context" "deployer" {
  arn = data.aws_caller_identity.current.arn # an assumed role's session becomes the role's ARN
}

locals {
  # Terraform itself encrypts the placeholders and, on refresh, reads the parameters back (the
  # provider asks for decryption); tickpipe login --set-credentials runs as secrets_key_users.
  secrets_key_users = distinct(concat(
    [aws_iam_role.token.arn, data.aws_iam_session_context.deployer.issuer_arn],
    aws_iam_role.login[*].arn, var.secrets_key_users,
  ))
  access_token_readers = concat([aws_iam_role.producer_task.arn], [for r in aws_iam_role.history : r.arn])
}

data "aws_iam_policy_document" "secrets_key" {
  #checkov:skip=CKV_AWS_111:Key policy: the resource "*" is this key.
  #checkov:skip=CKV_AWS_356:Key policy: the resource "*" is this key.
  #checkov:skip=CKV_AWS_109:Key policy: the account administers the key (no use of it), so that it can never be locked out.
  statement {
    sid = "AccountAdministersButCannotUse"
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
      "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
      "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    ]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "TokenWritersUseIt" # Encrypt: SSM encrypts a standard SecureString with the key directly
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = local.secrets_key_users
    }
  }

  statement {
    sid       = "ReadersDecryptOnlyTheAccessToken"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = local.access_token_readers
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["${local.ssm_prefix_arn}fyers/token"]
    }
  }
}

resource "aws_kms_key" "secrets" {
  description             = "${local.prefix}: Fyers secrets and tokens, login link key"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.secrets_key.json
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${local.prefix}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}
