# Fyers credentials under /tickpipe/<env>/ (tickpipe/names.py SSM_*). Terraform creates the
# secrets with a placeholder and never touches or reads their value again (write-only): you set them
# with `aws ssm put-parameter --overwrite` (docs/deploy.md), and the token service rewrites the
# token every day. A `terraform apply` must never roll back a live token.

locals {
  ssm_placeholder = "UNSET: see docs/deploy.md (Fyers credentials)"
}

resource "aws_ssm_parameter" "fyers_app_id" {
  #checkov:skip=CKV2_AWS_34:The app id is not a secret (it is in every login URL); DESIGN.md makes it a String.
  name        = "${local.ssm_prefix}fyers/app_id"
  description = "Fyers API app id"
  type        = "String"
  value       = var.fyers_app_id
}

resource "aws_ssm_parameter" "fyers_redirect_uri" {
  #checkov:skip=CKV2_AWS_34:The redirect URI is public (registered with Fyers, sent in the login URL); DESIGN.md makes it a String.
  name        = "${local.ssm_prefix}fyers/redirect_uri"
  description = "Redirect URI registered with the Fyers app"
  type        = "String"
  value       = var.fyers_redirect_uri
}

resource "aws_ssm_parameter" "fyers_secret" {
  for_each = {
    secret_key = "Fyers API app secret"
    pin        = "Fyers login PIN (used by the daily token refresh)"
    token      = "Fyers access token as JSON: access_token, issued_at, expires_at, refresh_expires_at (the producer reads it)"
    # apart from the access token so that the producer's role can be denied it (infra/iam.tf)
    refresh_token = "Fyers 15-day refresh token as JSON: refresh_token (token and login functions only)"
  }

  name        = "${local.ssm_prefix}fyers/${each.key}"
  description = each.value
  type        = "SecureString"
  key_id      = aws_kms_key.secrets.arn # the secrets' own key (kms.tf)
  # Write-only (Terraform >= 1.11, provider >= 5.100): the placeholder is sent when the parameter is
  # created and is never stored in state or a plan, and the provider never reads the live secret
  # back into state (tests/infra/test_terraform.py checks both against moto). Bumping the version
  # would overwrite the live value with the placeholder: leave it at 1.
  value_wo         = local.ssm_placeholder
  value_wo_version = 1

  lifecycle {
    # a writer that stores the token without naming the key (aws/ssm) is not drift
    ignore_changes = [key_id]
  }
}
