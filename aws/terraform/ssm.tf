# The read-only GHCR token (read:packages) that the host reads at run time to pull training images.
# Terraform declares it; the value is set outside Terraform and never written in this code:
#   aws ssm put-parameter --name /ghcr/ro-token --type SecureString --overwrite --value "$(cat token-file)"
resource "aws_ssm_parameter" "ghcr_token" {
  #checkov:skip=CKV_AWS_337:encrypted with the AWS managed key aws/ssm; a customer key adds cost and key policy upkeep
  name        = var.ghcr_token_parameter
  description = "Read-only GHCR token (read:packages) for pulling training images; value set outside Terraform"
  type        = "SecureString"
  value       = "placeholder, replaced with aws ssm put-parameter --overwrite"

  lifecycle {
    ignore_changes = [value]
  }
}

# Full output of dispatch and maintenance commands (SSM keeps only the first 24,000 characters).
resource "aws_cloudwatch_log_group" "ssm" {
  #checkov:skip=CKV_AWS_158:command output holds no secrets; the default CloudWatch encryption is enough
  #checkov:skip=CKV_AWS_338:training logs are useful for weeks, not a year; results live in MLflow
  name              = "/${var.app}/ssm"
  retention_in_days = var.ssm_log_retention_days
}
