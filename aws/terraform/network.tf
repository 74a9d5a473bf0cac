resource "aws_security_group" "host" {
  name        = "${var.app}-host"
  description = "MLflow UI from the allowed CIDRs only; no SSH: the host is reached through SSM"
  vpc_id      = data.aws_subnet.host.vpc_id

  tags = {
    Name = "${var.app}-host"
  }
}

resource "aws_vpc_security_group_ingress_rule" "mlflow_ui" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = aws_security_group.host.id
  description       = "MLflow UI and API from an allowed network"
  ip_protocol       = "tcp"
  from_port         = local.mlflow_port
  to_port           = local.mlflow_port
  cidr_ipv4         = each.value
}

# HTTPS is all the host sends: SSM, S3, GHCR, PyPI (the MLflow image build) and the Amazon Linux and Docker
# downloads. DNS, NTP and the instance metadata service are link-local and not filtered by security groups.
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.host.id
  description       = "HTTPS to AWS APIs, GHCR, PyPI and package mirrors"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
