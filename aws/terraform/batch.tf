# AWS Batch for many trainings at once (enable_batch): a managed EC2 compute environment (GPU instances with
# batch_gpu), one queue, one job definition whose image each dispatch replaces with the commit's (a new
# revision), a job role with no permissions (artifacts go through the MLflow server's proxy), the trainers' log
# group, and the GitHub deploy role's right to submit to and follow this queue only.

locals {
  batch_count      = var.enable_batch ? 1 : 0
  batch_queue_name = "${var.app}-training"
  batch_definition = "${var.app}-trainer"
  batch_log_group  = "/aws/batch/${var.app}-trainer"
  batch_resources = concat(
    [
      { type = "VCPU", value = tostring(var.batch_job_vcpus) },
      { type = "MEMORY", value = tostring(var.batch_job_memory) },
    ],
    var.batch_gpu ? [{ type = "GPU", value = "1" }] : [],
  )
}

resource "aws_security_group" "batch" {
  count       = local.batch_count
  name        = "${var.app}-batch"
  description = "Batch training jobs: no inbound; HTTPS out (image, AWS APIs) and MLflow on the host"
  vpc_id      = data.aws_subnet.host.vpc_id

  tags = {
    Name = "${var.app}-batch"
  }
}

resource "aws_vpc_security_group_egress_rule" "batch_https" {
  count             = local.batch_count
  security_group_id = aws_security_group.batch[0].id
  description       = "HTTPS to GHCR, ECS and CloudWatch"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "batch_to_mlflow" {
  count                        = local.batch_count
  security_group_id            = aws_security_group.batch[0].id
  description                  = "MLflow server on the tracking host"
  ip_protocol                  = "tcp"
  from_port                    = local.mlflow_port
  to_port                      = local.mlflow_port
  referenced_security_group_id = aws_security_group.host.id
}

resource "aws_vpc_security_group_ingress_rule" "mlflow_from_batch" {
  count                        = local.batch_count
  security_group_id            = aws_security_group.host.id
  description                  = "MLflow API from the Batch training jobs"
  ip_protocol                  = "tcp"
  from_port                    = local.mlflow_port
  to_port                      = local.mlflow_port
  referenced_security_group_id = aws_security_group.batch[0].id
}

data "aws_iam_policy_document" "batch_instance_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "batch_instance" {
  count              = local.batch_count
  name               = "${var.app}-batch-instance"
  assume_role_policy = data.aws_iam_policy_document.batch_instance_assume.json
}

resource "aws_iam_role_policy_attachment" "batch_instance_ecs" {
  count      = local.batch_count
  role       = aws_iam_role.batch_instance[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
}

resource "aws_iam_instance_profile" "batch_instance" {
  count = local.batch_count
  name  = "${var.app}-batch-instance"
  role  = aws_iam_role.batch_instance[0].name
}

resource "aws_launch_template" "batch" {
  count = local.batch_count
  name  = "${var.app}-batch"

  # IMDSv2 only; a hop limit of 2 lets the ECS agent's containers reach it.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size = 60
      volume_type = "gp3"
      encrypted   = true
    }
  }
}

resource "aws_batch_compute_environment" "training" {
  count = local.batch_count
  name  = "${var.app}-training"
  type  = "MANAGED"

  compute_resources {
    type                = "EC2"
    allocation_strategy = "BEST_FIT_PROGRESSIVE"
    min_vcpus           = 0
    max_vcpus           = var.batch_max_vcpus
    instance_type       = var.batch_gpu ? var.batch_gpu_instance_types : var.batch_instance_types
    instance_role       = aws_iam_instance_profile.batch_instance[0].arn
    subnets             = var.batch_subnet_ids
    security_group_ids  = [aws_security_group.batch[0].id]

    ec2_configuration {
      image_type = var.batch_gpu ? "ECS_AL2023_NVIDIA" : "ECS_AL2023"
    }

    launch_template {
      launch_template_id = aws_launch_template.batch[0].id
      version            = aws_launch_template.batch[0].latest_version
    }
  }

  lifecycle {
    precondition {
      condition     = length(var.batch_subnet_ids) >= 1
      error_message = "enable_batch needs batch_subnet_ids: subnets with outbound HTTPS through a NAT gateway."
    }
  }
}

resource "aws_batch_job_queue" "training" {
  count    = local.batch_count
  name     = local.batch_queue_name
  state    = "ENABLED"
  priority = 1

  compute_environment_order {
    order               = 1
    compute_environment = aws_batch_compute_environment.training[0].arn
  }
}

data "aws_iam_policy_document" "batch_job_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The trainer needs no AWS permission: it reaches MLflow over HTTP, and the server stores the artifacts.
resource "aws_iam_role" "batch_job" {
  count              = local.batch_count
  name               = "${var.app}-batch-job"
  assume_role_policy = data.aws_iam_policy_document.batch_job_assume.json
}

# Pulls a private image with the registry secret, when one is named.
resource "aws_iam_role" "batch_execution" {
  count              = var.enable_batch && var.batch_registry_secret_arn != "" ? 1 : 0
  name               = "${var.app}-batch-execution"
  assume_role_policy = data.aws_iam_policy_document.batch_job_assume.json
}

data "aws_iam_policy_document" "batch_execution" {
  statement {
    sid       = "ReadRegistrySecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.batch_registry_secret_arn != "" ? var.batch_registry_secret_arn : "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:none"]
  }

  statement {
    sid       = "WriteTrainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.batch_log_group}:*"]
  }
}

resource "aws_iam_role_policy" "batch_execution" {
  count  = length(aws_iam_role.batch_execution)
  name   = "${var.app}-batch-execution"
  role   = aws_iam_role.batch_execution[0].id
  policy = data.aws_iam_policy_document.batch_execution.json
}

resource "aws_cloudwatch_log_group" "batch" {
  #checkov:skip=CKV_AWS_158:training logs hold no secrets; the default CloudWatch encryption is enough
  #checkov:skip=CKV_AWS_338:training logs are useful for weeks, not a year; results live in MLflow
  count             = local.batch_count
  name              = local.batch_log_group
  retention_in_days = var.batch_log_retention_days
}

resource "aws_batch_job_definition" "trainer" {
  count                 = local.batch_count
  name                  = local.batch_definition
  type                  = "container"
  platform_capabilities = ["EC2"]

  timeout {
    attempt_duration_seconds = var.batch_job_timeout
  }

  container_properties = jsonencode(merge(
    {
      # Replaced by `invoke dispatch --target batch`, which registers a revision with the commit's image.
      image                  = "ghcr.io/${var.github_repository}-trainer:unset"
      command                = ["python", "-m", "trainer"]
      jobRoleArn             = aws_iam_role.batch_job[0].arn
      resourceRequirements   = local.batch_resources
      readonlyRootFilesystem = false
      privileged             = false
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.batch[0].name
          "awslogs-region"        = var.region
          "awslogs-stream-prefix" = "trainer"
        }
      }
    },
    var.batch_registry_secret_arn == "" ? {} : {
      executionRoleArn      = aws_iam_role.batch_execution[0].arn
      repositoryCredentials = { credentialsParameter = var.batch_registry_secret_arn }
    },
  ))
}

# The deploy role submits to this queue with this job definition, registers its revisions, and follows jobs.
data "aws_iam_policy_document" "github_batch" {
  count = local.batch_count

  statement {
    sid     = "SubmitToTrainingQueue"
    actions = ["batch:SubmitJob", "batch:TagResource"]
    resources = [
      aws_batch_job_queue.training[0].arn,
      "arn:${local.partition}:batch:${var.region}:${local.account_id}:job-definition/${local.batch_definition}:*",
      "arn:${local.partition}:batch:${var.region}:${local.account_id}:job/*",
    ]
  }

  statement {
    sid       = "RegisterImageRevisions"
    actions   = ["batch:RegisterJobDefinition"]
    resources = ["arn:${local.partition}:batch:${var.region}:${local.account_id}:job-definition/${local.batch_definition}"]
  }

  statement {
    sid       = "PassJobRoles"
    actions   = ["iam:PassRole"]
    resources = concat([aws_iam_role.batch_job[0].arn], aws_iam_role.batch_execution[*].arn)

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "CancelStuckJobs"
    actions   = ["batch:CancelJob"]
    resources = ["arn:${local.partition}:batch:${var.region}:${local.account_id}:job/*"]
  }

  # These actions take no resource-level permissions.
  statement {
    sid       = "FollowJobs"
    actions   = ["batch:DescribeJobs", "batch:DescribeJobDefinitions", "batch:ListJobs"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "github_batch" {
  count  = local.batch_count
  name   = "${var.app}-github-batch"
  role   = aws_iam_role.github_deploy.id
  policy = data.aws_iam_policy_document.github_batch[0].json
}
