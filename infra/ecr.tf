# The producer image's repository. Tags are immutable (a tag names one build for good) and every
# push is scanned for known vulnerabilities; tasks run the image by its digest
# (var.producer_image_digest), so what runs is exactly what was pushed and tested.

resource "aws_ecr_repository" "producer" {
  name                 = "${local.prefix}-producer"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "producer" {
  repository = aws_ecr_repository.producer.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "untagged images (superseded pushes) after 14 days"
      selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 14 }
      action       = { type = "expire" }
    }]
  })
}

locals {
  # by digest from the stack's repository, else producer_image as given (another registry)
  producer_image = var.producer_image_digest != null ? "${aws_ecr_repository.producer.repository_url}@${var.producer_image_digest}" : var.producer_image
}

# --- spending guardrail -----------------------------------------------------------------------

# A monthly cost budget for the account that notifies the alarm topic, and so everyone subscribed to
# it (alarm_emails), when the forecast passes 80 % of monthly_budget_usd and when the actual spend
# passes it. The topic is KMS-encrypted: its policy (alarms.tf) and its key's policy (kms.tf) let
# budgets.amazonaws.com publish. A notification takes one SNS topic and up to 10 e-mail addresses
# (AWS::Budgets::Budget NotificationWithSubscribers); e-mail comes from the topic's subscriptions.
resource "aws_budgets_budget" "monthly" {
  name         = "${local.prefix}-monthly"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.alarms.arn]
  }

  # Budgets refuses a topic it may not publish to ("Invalid SNS topic", same guide, Troubleshooting):
  # the topic policy first (the key's policy is in place before the topic exists)
  depends_on = [aws_sns_topic_policy.alarms]
}
