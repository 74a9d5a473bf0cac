# MLflow's store on RDS PostgreSQL (enable_rds): encrypted, in private subnets, never public, protected from
# deletion, backed up with point-in-time recovery, its master password generated and kept by RDS in Secrets
# Manager. Reached on 5432 from the host's security group and the Batch jobs' only.

locals {
  rds_count = var.enable_rds ? 1 : 0
}

resource "aws_db_subnet_group" "mlflow" {
  count       = local.rds_count
  name        = "${var.app}-mlflow"
  description = "Private subnets of the MLflow database"
  subnet_ids  = var.rds_subnet_ids

  lifecycle {
    precondition {
      condition     = length(var.rds_subnet_ids) >= 2
      error_message = "enable_rds needs rds_subnet_ids: two or more private subnets in different availability zones."
    }
  }
}

resource "aws_security_group" "rds" {
  count       = local.rds_count
  name        = "${var.app}-rds"
  description = "MLflow database: PostgreSQL from the tracking host and the Batch jobs only"
  vpc_id      = data.aws_subnet.host.vpc_id

  tags = {
    Name = "${var.app}-rds"
  }
}

resource "aws_vpc_security_group_ingress_rule" "rds_from_host" {
  count                        = local.rds_count
  security_group_id            = aws_security_group.rds[0].id
  description                  = "PostgreSQL from the MLflow server on the tracking host"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.host.id
}

resource "aws_vpc_security_group_ingress_rule" "rds_from_batch" {
  count                        = var.enable_rds && var.enable_batch ? 1 : 0
  security_group_id            = aws_security_group.rds[0].id
  description                  = "PostgreSQL from the Batch training jobs"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.batch[0].id
}

resource "aws_vpc_security_group_egress_rule" "host_to_rds" {
  count                        = local.rds_count
  security_group_id            = aws_security_group.host.id
  description                  = "PostgreSQL to the MLflow database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.rds[0].id
}

resource "aws_db_parameter_group" "mlflow" {
  count       = local.rds_count
  name        = "${var.app}-mlflow-postgres15"
  family      = "postgres15"
  description = "MLflow database: TLS required, slow statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }
}

resource "aws_db_instance" "mlflow" {
  #checkov:skip=CKV_AWS_118:enhanced monitoring needs its own role; CloudWatch metrics and Performance Insights suffice
  #checkov:skip=CKV_AWS_157:rds_multi_az chooses: a standby doubles the cost of a store that backups can restore
  count          = local.rds_count
  identifier     = "${var.app}-mlflow"
  engine         = "postgres"
  engine_version = "15"
  instance_class = var.rds_instance_class

  allocated_storage     = var.rds_allocated_storage
  max_allocated_storage = var.rds_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name                     = "mlflow"
  username                    = "mlflow"
  manage_master_user_password = true

  db_subnet_group_name   = aws_db_subnet_group.mlflow[0].name
  vpc_security_group_ids = [aws_security_group.rds[0].id]
  parameter_group_name   = aws_db_parameter_group.mlflow[0].name
  publicly_accessible    = false
  multi_az               = var.rds_multi_az

  backup_retention_period   = var.rds_backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = true
  delete_automated_backups  = false
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.app}-mlflow-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.rds[0].arn
  kms_key_id                          = aws_kms_key.rds[0].arn

  tags = {
    Role = "mlflow-store"
  }
}

resource "aws_kms_key" "rds" {
  count                   = local.rds_count
  description             = "${var.app} MLflow database storage and Performance Insights"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.rds_key[0].json
}

data "aws_iam_policy_document" "rds_key" {
  count = local.rds_count

  # The account administers the key; RDS uses it through the grants it creates for the instance.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

# The server reads the RDS-managed secret at start through Parameter Store's Secrets Manager reference
# (compose/postgres/entrypoint.py); nothing else may read it.
data "aws_iam_policy_document" "host_rds_secret" {
  count = local.rds_count

  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_db_instance.mlflow[0].master_user_secret[0].secret_arn]
  }

  statement {
    sid       = "ReadDatabaseSecretThroughSsm"
    actions   = ["ssm:GetParameter"]
    resources = [local.rds_password_parameter_arn]
  }
}

locals {
  rds_password_parameter     = var.enable_rds ? "/aws/reference/secretsmanager/${aws_db_instance.mlflow[0].master_user_secret[0].secret_arn}" : ""
  rds_password_parameter_arn = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter/aws/reference/secretsmanager/*"
}

resource "aws_iam_role_policy" "host_rds_secret" {
  count  = local.rds_count
  name   = "${var.app}-host-rds-secret"
  role   = aws_iam_role.host.id
  policy = data.aws_iam_policy_document.host_rds_secret[0].json
}
