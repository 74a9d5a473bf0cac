# Past one host (opt-in): PostgreSQL on RDS behind the same MLflow server, and AWS Batch for many trainings.

variable "enable_rds" {
  description = "Create an RDS PostgreSQL instance for MLflow's store (compose/docker-compose.postgres.yml)."
  type        = bool
  default     = false
}

variable "rds_subnet_ids" {
  description = "At least two private subnets (in two availability zones) of the host's VPC for the database."
  type        = list(string)
  default     = []
}

variable "rds_instance_class" {
  description = "RDS instance class of the MLflow database."
  type        = string
  default     = "db.t4g.micro"
}

variable "rds_allocated_storage" {
  description = "Initial storage in GiB; RDS grows it up to rds_max_allocated_storage."
  type        = number
  default     = 20
}

variable "rds_max_allocated_storage" {
  description = "Upper bound in GiB of storage autoscaling."
  type        = number
  default     = 100
}

variable "rds_backup_retention_days" {
  description = "Days of automated backups, and so of point-in-time recovery (1 to 35)."
  type        = number
  default     = 14

  validation {
    condition     = var.rds_backup_retention_days >= 1 && var.rds_backup_retention_days <= 35
    error_message = "rds_backup_retention_days must be from 1 to 35: 0 would turn off backups and point-in-time recovery."
  }
}

variable "rds_multi_az" {
  description = "A standby in a second availability zone (about twice the cost)."
  type        = bool
  default     = false
}

variable "enable_batch" {
  description = "Create an AWS Batch compute environment, queue and job definition for invoke dispatch --target batch."
  type        = bool
  default     = false
}

variable "batch_subnet_ids" {
  description = "Subnets with outbound HTTPS (NAT) for Batch instances, in the host's VPC."
  type        = list(string)
  default     = []
}

variable "batch_gpu" {
  description = "GPU instances (batch_gpu_instance_types, the ECS GPU AMI) and one GPU per job, for the transformer."
  type        = bool
  default     = false
}

variable "batch_instance_types" {
  description = "Instance types of the CPU compute environment."
  type        = list(string)
  default     = ["c6i.large", "c6i.xlarge"]
}

variable "batch_gpu_instance_types" {
  description = "Instance types of the GPU compute environment."
  type        = list(string)
  default     = ["g4dn.xlarge"]
}

variable "batch_max_vcpus" {
  description = "Most vCPUs the compute environment runs at once: jobs in parallel = this / batch_job_vcpus."
  type        = number
  default     = 32
}

variable "batch_job_vcpus" {
  description = "vCPUs of each training job; the trainer sizes its threads from them."
  type        = number
  default     = 2
}

variable "batch_job_memory" {
  description = "Memory in MiB of each training job."
  type        = number
  default     = 4096
}

variable "batch_job_timeout" {
  description = "Seconds a job may run before Batch stops it (invoke.yaml batch.job_timeout overrides per job)."
  type        = number
  default     = 14400
}

variable "batch_registry_secret_arn" {
  description = "Secrets Manager secret ({\"username\", \"password\"}) for pulling the private GHCR image; empty for a public image."
  type        = string
  default     = ""
}

variable "batch_log_retention_days" {
  description = "Days CloudWatch keeps the trainers' logs."
  type        = number
  default     = 90
}
