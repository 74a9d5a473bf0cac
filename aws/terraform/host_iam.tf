# The host's instance role: SSM management, the artifact bucket (the MLflow server proxies artifacts there),
# the store's Litestream replica under its own prefix, the GHCR token parameter (read by the dispatch script on
# the host) and the SSM command log group.

data "aws_iam_policy_document" "host_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "host" {
  name               = "${var.app}-host"
  description        = "Instance role of the ${var.app} training host"
  assume_role_policy = data.aws_iam_policy_document.host_assume.json
}

resource "aws_iam_role_policy_attachment" "host_ssm_core" {
  role       = aws_iam_role.host.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "host" {
  statement {
    sid       = "ListArtifactBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  # Litestream lists, writes, compacts and prunes its replica files, under its prefix only.
  statement {
    sid       = "ListStoreReplica"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.store_replica_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadWriteStoreReplica"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/${local.store_replica_prefix}/*"]
  }

  statement {
    sid       = "ReadGhcrToken"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.ghcr_token.arn]
  }

  statement {
    sid       = "WriteCommandOutput"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.ssm.arn, "${aws_cloudwatch_log_group.ssm.arn}:*"]
  }
}

resource "aws_iam_role_policy" "host" {
  name   = "${var.app}-host"
  role   = aws_iam_role.host.id
  policy = data.aws_iam_policy_document.host.json
}

resource "aws_iam_instance_profile" "host" {
  name = "${var.app}-host"
  role = aws_iam_role.host.name
}
