# One customer-managed key encrypts the stream, the lake, logs, the alarm topic, the failure queue
# and the SecureString parameters. A customer key (not the aws/* managed ones) because CloudWatch
# alarms can only publish to an encrypted topic whose key policy lets cloudwatch.amazonaws.com in.

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
}

resource "aws_kms_key" "main" {
  description             = "${local.prefix}: stream, lake, logs, alarms, parameters"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.main.key_id
}
