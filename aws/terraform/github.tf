# GitHub Actions on this repository's main branch assume this role through OIDC (no stored AWS keys) to run
# the training dispatch and the maintenance over SSM on the host.

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.github_oidc_provider_arn == "" ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

locals {
  github_oidc_provider_arn = var.github_oidc_provider_arn != "" ? var.github_oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn
  snapshot_arns            = "arn:${local.partition}:ec2:${var.region}::snapshot/*"
}

data "aws_iam_policy_document" "github_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Only workflows on main; pull requests, other branches, tags and jobs with an environment get other subjects.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/main"]
    }
  }
}

resource "aws_iam_role" "github_deploy" {
  name               = "${var.app}-github-deploy"
  description        = "Assumed by GitHub Actions on ${var.github_repository} main to dispatch training and maintenance"
  assume_role_policy = data.aws_iam_policy_document.github_assume.json
  # A dispatch follows the training to its end (invoke.yaml dispatch.execution_timeout, 4 h); the workflow asks
  # for 5 h of credentials.
  max_session_duration = 21600
}

data "aws_iam_policy_document" "github_deploy" {
  statement {
    sid     = "RunShellScriptOnHost"
    actions = ["ssm:SendCommand"]
    resources = [
      aws_instance.host.arn,
      "arn:${local.partition}:ssm:${var.region}::document/AWS-RunShellScript",
    ]
  }

  # These actions take no resource-level permissions.
  statement {
    sid       = "FollowCommands"
    actions   = ["ssm:GetCommandInvocation", "ssm:DescribeInstanceInformation"]
    resources = ["*"]
  }

  statement {
    sid       = "FindVolumeAndSnapshots"
    actions   = ["ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid       = "SnapshotDataVolume"
    actions   = ["ec2:CreateSnapshot"]
    resources = [aws_ebs_volume.mlflow_data.arn, local.snapshot_arns]
  }

  statement {
    sid       = "TagNewSnapshots"
    actions   = ["ec2:CreateTags"]
    resources = [local.snapshot_arns]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSnapshot"]
    }
  }

  # Retention deletes only this app's snapshots.
  statement {
    sid       = "DeleteOwnSnapshots"
    actions   = ["ec2:DeleteSnapshot"]
    resources = [local.snapshot_arns]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/App"
      values   = [var.app]
    }
  }
}

resource "aws_iam_role_policy" "github_deploy" {
  name   = "${var.app}-github-deploy"
  role   = aws_iam_role.github_deploy.id
  policy = data.aws_iam_policy_document.github_deploy.json
}
