variable "app" {
  description = "Name prefix of every resource and the App tag that maintenance looks for."
  type        = string
  default     = "ai-drug"
}

variable "region" {
  description = "AWS region of the host, its volume and the artifact bucket (invoke.yaml aws.region)."
  type        = string
  default     = "eu-west-1"
}

variable "github_repository" {
  description = "OWNER/REPO whose main branch may assume the deploy role through GitHub OIDC."
  type        = string
  default     = "ai-drug/ai-drug"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be OWNER/REPO."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing GitHub OIDC provider; empty creates one (an account holds only one)."
  type        = string
  default     = ""
}

variable "allowed_cidrs" {
  description = "CIDR blocks allowed to reach the MLflow UI on 5000/tcp (your office or VPN), never 0.0.0.0/0."
  type        = list(string)

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : can(cidrhost(cidr, 0)) && cidr != "0.0.0.0/0"])
    error_message = "allowed_cidrs must be valid CIDR blocks and must not open the UI to the whole internet."
  }
}

variable "subnet_id" {
  description = "Subnet with outbound internet access for the host; empty picks one of the default VPC's."
  type        = string
  default     = ""
}

variable "instance_type" {
  description = "EC2 instance type of the training host (Nitro, so the data volume appears as NVMe)."
  type        = string
  default     = "t3.xlarge"
}

variable "root_volume_size" {
  description = "Root volume size in GiB: the OS, Docker and its images."
  type        = number
  default     = 40
}

variable "data_volume_size" {
  description = "Size in GiB of the EBS volume mounted at /opt/mlflow (MLflow's SQLite store and its backups)."
  type        = number
  default     = 20
}

variable "artifact_bucket_name" {
  description = "Name of the S3 artifact bucket; empty derives a unique one from the app name and account id."
  type        = string
  default     = ""
}

variable "ghcr_token_parameter" {
  description = "SSM parameter holding the read-only GHCR token (invoke.yaml aws.token_parameter)."
  type        = string
  default     = "/ghcr/ro-token"
}

variable "ssm_log_retention_days" {
  description = "Days CloudWatch keeps the output of SSM commands (dispatch and maintenance)."
  type        = number
  default     = 90
}
