data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-kernel-*-x86_64"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

# A fixed public address, so the MLflow URL and the server's allowed hosts survive stop and start.
resource "aws_eip" "host" {
  domain = "vpc"

  tags = {
    Name = "${var.app}-host"
  }
}

resource "aws_eip_association" "host" {
  allocation_id = aws_eip.host.id
  instance_id   = aws_instance.host.id
}

resource "aws_instance" "host" {
  #checkov:skip=CKV_AWS_126:basic five-minute metrics are enough for one training host; detailed monitoring costs extra
  ami                    = data.aws_ami.al2023.id
  instance_type          = var.instance_type
  subnet_id              = data.aws_subnet.host.id
  vpc_security_group_ids = [aws_security_group.host.id]
  iam_instance_profile   = aws_iam_instance_profile.host.name
  ebs_optimized          = true

  # IMDSv2 only. Hop limit 2: training and MLflow containers sit one network hop behind the host and need
  # the instance role (S3 for artifacts); with the default of 1 their metadata requests never come back.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    delete_on_termination = true
  }

  # Unpacks ec2-setup.sh, the compose files and their .env onto the host and runs the setup at first boot.
  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    ec2_setup_sh       = base64encode(file("${path.module}/../ec2-setup.sh"))
    docker_compose_yml = base64encode(file("${path.module}/../../compose/docker-compose.yml"))
    compose_dockerfile = base64encode(file("${path.module}/../../compose/Dockerfile"))
    compose_env = base64encode(join("\n", [
      "MLFLOW_ARTIFACTS_BUCKET=${aws_s3_bucket.artifacts.bucket}",
      "MLFLOW_PUBLIC_HOSTS=${aws_eip.host.public_ip}:${local.mlflow_port},${aws_eip.host.public_dns}:${local.mlflow_port}",
      "AWS_DEFAULT_REGION=${var.region}",
      "DATA_VOLUME_ID=${aws_ebs_volume.mlflow_data.id}",
      "",
    ]))
  })

  tags = {
    Name = "${var.app}-host"
  }

  lifecycle {
    # New AMIs and edited host files never replace the host by surprise. To roll out changed host files:
    # terraform apply -replace=aws_instance.host (the data volume, the bucket and the address stay).
    ignore_changes = [ami, user_data]
  }
}

# MLflow's SQLite store lives here, apart from the instance, so it survives stop, start and replacement.
resource "aws_ebs_volume" "mlflow_data" {
  #checkov:skip=CKV_AWS_189:encrypted with the AWS managed EBS key; a customer key adds cost and key policy upkeep
  availability_zone = data.aws_subnet.host.availability_zone
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true

  tags = {
    Name = "${var.app}-mlflow-data"
    Role = "mlflow-data"
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_volume_attachment" "mlflow_data" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.mlflow_data.id
  instance_id = aws_instance.host.id
}
