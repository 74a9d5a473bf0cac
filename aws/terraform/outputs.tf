output "instance_id" {
  description = "The training host; invoke.yaml aws.instance_id (INVOKE_AWS_INSTANCE_ID) and the AWS_INSTANCE_ID Actions variable."
  value       = aws_instance.host.id
}

output "artifact_bucket" {
  description = "S3 bucket that the MLflow server stores artifacts in."
  value       = aws_s3_bucket.artifacts.bucket
}

output "github_actions_role_arn" {
  description = "Role that GitHub Actions assumes on main; the AWS_ROLE_ARN Actions variable."
  value       = aws_iam_role.github_deploy.arn
}

output "mlflow_url" {
  description = "MLflow UI, reachable from var.allowed_cidrs."
  value       = "http://${aws_eip.host.public_dns}:${local.mlflow_port}"
}

output "data_volume_id" {
  description = "EBS volume mounted at /opt/mlflow on the host."
  value       = aws_ebs_volume.mlflow_data.id
}

output "ssm_log_group" {
  description = "CloudWatch log group for SSM command output; invoke.yaml aws.log_group."
  value       = aws_cloudwatch_log_group.ssm.name
}

output "store_replica_url" {
  description = "Litestream's replica of the MLflow store; invoke.yaml store.replica_url (INVOKE_STORE_REPLICA_URL)."
  value       = "s3://${aws_s3_bucket.artifacts.bucket}/${local.store_replica_prefix}/mlruns.db"
}
