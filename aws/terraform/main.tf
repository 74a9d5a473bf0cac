# The training host: one EC2 instance reached only through SSM, running the MLflow server from
# compose/docker-compose.yml, with MLflow's SQLite store on its own EBS volume and artifacts in S3.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_vpc" "default" {
  count   = var.subnet_id == "" ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = var.subnet_id == "" ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

data "aws_subnet" "host" {
  id = var.subnet_id != "" ? var.subnet_id : sort(data.aws_subnets.default[0].ids)[0]
}

locals {
  account_id      = data.aws_caller_identity.current.account_id
  partition       = data.aws_partition.current.partition
  artifact_bucket = var.artifact_bucket_name != "" ? var.artifact_bucket_name : "${var.app}-artifacts-${local.account_id}"
  # What the security group opens and what the MLflow URL names.
  mlflow_port = 5000
  # Where Litestream (compose service litestream) replicates the MLflow store, in the artifact bucket.
  store_replica_prefix = "litestream"
}
