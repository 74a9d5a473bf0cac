output "rds_endpoint" {
  description = "Host of the MLflow database (MLFLOW_DB_HOST in compose/.env); empty without enable_rds."
  value       = var.enable_rds ? aws_db_instance.mlflow[0].address : ""
}

output "rds_password_parameter" {
  description = "SSM name of the RDS-managed password (MLFLOW_DB_PASSWORD_PARAMETER in compose/.env)."
  value       = local.rds_password_parameter
}

output "batch_job_queue" {
  description = "invoke.yaml batch.job_queue; empty without enable_batch."
  value       = var.enable_batch ? aws_batch_job_queue.training[0].name : ""
}

output "batch_job_definition" {
  description = "invoke.yaml batch.job_definition; empty without enable_batch."
  value       = var.enable_batch ? aws_batch_job_definition.trainer[0].name : ""
}

output "batch_tracking_uri" {
  description = "invoke.yaml batch.tracking_uri: the MLflow server as the Batch jobs reach it."
  value       = "http://${aws_instance.host.private_ip}:${local.mlflow_port}"
}
