"""The Terraform facts the host, the pipeline and its security depend on, read with python-hcl2."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "aws" / "terraform"
SNAPSHOTS = "${local.snapshot_arns}"


def statements_by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {statement["sid"]: statement for statement in statements}


def test_the_host_runs_amazon_linux_2023_from_amazon(terraform) -> None:
    ami = terraform.data[("aws_ami", "al2023")]
    assert ami["owners"] == ["amazon"]
    names = next(item["values"] for item in ami["filter"] if item["name"] == "name")
    assert names == ["al2023-ami-2023.*-kernel-*-x86_64"]
    assert terraform.resource("aws_instance", "host")["ami"] == "${data.aws_ami.al2023.id}"


def test_imdsv2_is_required_with_a_hop_limit_that_reaches_containers(terraform) -> None:
    (metadata,) = terraform.resource("aws_instance", "host")["metadata_options"]
    assert metadata == {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 2}


def test_root_and_data_volumes_are_encrypted_and_the_data_volume_is_tagged_for_maintenance(terraform) -> None:
    (root,) = terraform.resource("aws_instance", "host")["root_block_device"]
    assert root["encrypted"] is True
    volume = terraform.resource("aws_ebs_volume", "mlflow_data")
    assert volume["encrypted"] is True
    assert volume["availability_zone"] == "${data.aws_subnet.host.availability_zone}"
    assert volume["lifecycle"] == [{"prevent_destroy": True}]
    # Maintenance finds the volume by App and Role; App comes from the provider's default tags.
    assert volume["tags"]["Role"] == "mlflow-data"
    (provider,) = terraform.providers
    assert provider["aws"]["default_tags"] == [{"tags": {"App": "${var.app}", "ManagedBy": "terraform"}}]
    assert terraform.variables["app"]["default"] == "ai-drug"
    attachment = terraform.resource("aws_volume_attachment", "mlflow_data")
    assert attachment["volume_id"] == "${aws_ebs_volume.mlflow_data.id}"
    assert attachment["instance_id"] == "${aws_instance.host.id}"


def test_only_the_mlflow_port_is_open_and_only_to_the_allowed_networks(terraform) -> None:
    ingress = {
        name: rule
        for name, rule in terraform.of_kind("aws_vpc_security_group_ingress_rule").items()
        if rule["security_group_id"] == "${aws_security_group.host.id}"
    }
    # The opt-in Batch jobs reach the same port from their own security group (aws/terraform/batch.tf).
    assert list(ingress) == ["mlflow_from_batch", "mlflow_ui"]
    assert ingress.pop("mlflow_from_batch")["referenced_security_group_id"] == "${aws_security_group.batch[0].id}"
    rule = ingress["mlflow_ui"]
    assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == ("${local.mlflow_port}",) * 2 + ("tcp",)
    assert terraform.locals["mlflow_port"] == 5000
    assert rule["for_each"] == "${toset(var.allowed_cidrs)}"
    assert rule["cidr_ipv4"] == "${each.value}"
    assert "default" not in terraform.variables["allowed_cidrs"]
    assert not terraform.of_kind("aws_security_group_rule")
    assert "ingress" not in terraform.resource("aws_security_group", "host")


def test_no_ssh_anywhere(terraform) -> None:
    assert "key_name" not in terraform.resource("aws_instance", "host")
    for rule in terraform.of_kind("aws_vpc_security_group_ingress_rule").values():
        # MLflow on the host; PostgreSQL on the opt-in database (aws/terraform/rds.tf)
        assert rule["from_port"] == rule["to_port"] and rule["from_port"] in ("${local.mlflow_port}", 5432)
    text = "".join(path.read_text() for path in TERRAFORM_DIR.glob("*.tf"))
    assert not re.search(r"port\s*=\s*22\b", text)


def test_the_ghcr_token_parameter_is_declared_but_its_value_is_set_outside_terraform(terraform, invoke_config) -> None:
    parameter = terraform.resource("aws_ssm_parameter", "ghcr_token")
    assert parameter["name"] == "${var.ghcr_token_parameter}"
    name = terraform.variables["ghcr_token_parameter"]["default"]
    assert name == invoke_config["aws"]["token_parameter"] == "/ghcr/ro-token"
    assert parameter["type"] == "SecureString"
    assert parameter["lifecycle"] == [{"ignore_changes": ["value"]}]


def test_the_artifact_bucket_is_private_versioned_encrypted_and_tls_only(terraform) -> None:
    block = terraform.resource("aws_s3_bucket_public_access_block", "artifacts")
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    assert all(block[flag] is True for flag in flags)
    (versioning,) = terraform.resource("aws_s3_bucket_versioning", "artifacts")["versioning_configuration"]
    assert versioning["status"] == "Enabled"
    (rule,) = terraform.resource("aws_s3_bucket_server_side_encryption_configuration", "artifacts")["rule"]
    assert rule["apply_server_side_encryption_by_default"] == [{"sse_algorithm": "aws:kms"}]
    (deny,) = terraform.policy("artifacts_tls_only")
    assert deny["effect"] == "Deny"
    assert deny["actions"] == ["s3:*"]
    assert deny["resources"] == ["${aws_s3_bucket.artifacts.arn}", "${aws_s3_bucket.artifacts.arn}/*"]
    assert deny["principals"] == [{"type": "*", "identifiers": ["*"]}]
    assert deny["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]
    policy = terraform.resource("aws_s3_bucket_policy", "artifacts")
    assert policy["policy"] == "${data.aws_iam_policy_document.artifacts_tls_only.json}"


def test_the_instance_role_holds_ssm_core_and_only_its_bucket_parameter_and_log_group(terraform) -> None:
    attachment = terraform.resource("aws_iam_role_policy_attachment", "host_ssm_core")
    assert attachment["policy_arn"].endswith(":iam::aws:policy/AmazonSSMManagedInstanceCore")
    statements = statements_by_sid(terraform.policy("host"))
    assert statements["ListArtifactBucket"]["resources"] == ["${aws_s3_bucket.artifacts.arn}"]
    assert statements["ReadWriteArtifacts"]["resources"] == ["${aws_s3_bucket.artifacts.arn}/*"]
    assert statements["ReadGhcrToken"] == {
        "sid": "ReadGhcrToken",
        "actions": ["ssm:GetParameter"],
        "resources": ["${aws_ssm_parameter.ghcr_token.arn}"],
    }
    for statement in statements.values():
        assert "*" not in statement["resources"]
        assert not [action for action in statement["actions"] if action.endswith("*")]
    profile = terraform.resource("aws_iam_instance_profile", "host")
    assert profile["role"] == "${aws_iam_role.host.name}"
    assert terraform.resource("aws_instance", "host")["iam_instance_profile"] == "${aws_iam_instance_profile.host.name}"


def test_only_main_of_this_repository_can_assume_the_deploy_role(terraform, invoke_config) -> None:
    provider = terraform.resource("aws_iam_openid_connect_provider", "github")
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    (trust,) = terraform.policy("github_assume")
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert trust["principals"] == [{"type": "Federated", "identifiers": ["${local.github_oidc_provider_arn}"]}]
    conditions = {item["variable"]: item for item in trust["condition"]}
    assert conditions == {
        "token.actions.githubusercontent.com:aud": {
            "test": "StringEquals",
            "variable": "token.actions.githubusercontent.com:aud",
            "values": ["sts.amazonaws.com"],
        },
        "token.actions.githubusercontent.com:sub": {
            "test": "StringEquals",
            "variable": "token.actions.githubusercontent.com:sub",
            "values": ["repo:${var.github_repository}:ref:refs/heads/main"],
        },
    }
    # The repository is the one whose images the project publishes.
    repository = terraform.variables["github_repository"]["default"]
    assert invoke_config["image"]["source"] == f"https://github.com/{repository}"
    role = terraform.resource("aws_iam_role", "github_deploy")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.github_assume.json}"


def test_the_deploy_role_may_run_commands_on_this_instance_and_snapshot_its_volume_only(terraform) -> None:
    statements = statements_by_sid(terraform.policy("github_deploy"))
    send = statements["RunShellScriptOnHost"]
    assert send["actions"] == ["ssm:SendCommand"]
    assert send["resources"] == [
        "${aws_instance.host.arn}",
        "arn:${local.partition}:ssm:${var.region}::document/AWS-RunShellScript",
    ]
    granted = {action: statement for statement in statements.values() for action in statement["actions"]}
    assert set(granted) == {
        "ssm:SendCommand",
        "ssm:GetCommandInvocation",
        "ssm:DescribeInstanceInformation",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeInstances",
        "ec2:CreateSnapshot",
        "ec2:CreateTags",
        "ec2:DeleteSnapshot",
    }
    # "*" only where AWS offers no resource-level permissions.
    unscoped = {action for action, statement in granted.items() if statement["resources"] == ["*"]}
    assert all(action.split(":")[1].startswith(("Describe", "GetCommandInvocation")) for action in unscoped)
    assert granted["ec2:CreateSnapshot"]["resources"] == ["${aws_ebs_volume.mlflow_data.arn}", SNAPSHOTS]
    assert granted["ec2:CreateTags"]["condition"] == [
        {"test": "StringEquals", "variable": "ec2:CreateAction", "values": ["CreateSnapshot"]}
    ]
    assert granted["ec2:DeleteSnapshot"]["condition"] == [
        {"test": "StringEquals", "variable": "aws:ResourceTag/App", "values": ["${var.app}"]}
    ]


def test_deploy_credentials_outlast_the_longest_dispatch(terraform, workflows, invoke_config) -> None:
    steps = workflows["ci"]["jobs"]["dispatch"]["steps"]
    (login,) = [step for step in steps if "configure-aws-credentials" in step.get("uses", "")]
    requested = login["with"]["role-duration-seconds"]
    assert invoke_config["dispatch"]["execution_timeout"] < requested
    assert requested <= terraform.resource("aws_iam_role", "github_deploy")["max_session_duration"]


def test_outputs_name_what_the_operators_and_ci_need(terraform) -> None:
    outputs = terraform.outputs
    assert outputs["instance_id"]["value"] == "${aws_instance.host.id}"
    assert outputs["artifact_bucket"]["value"] == "${aws_s3_bucket.artifacts.bucket}"
    assert outputs["github_actions_role_arn"]["value"] == "${aws_iam_role.github_deploy.arn}"
    assert outputs["mlflow_url"]["value"] == "http://${aws_eip.host.public_dns}:${local.mlflow_port}"
    assert outputs["ssm_log_group"]["value"] == "${aws_cloudwatch_log_group.ssm.name}"


def test_terraform_and_the_provider_are_pinned(terraform) -> None:
    (settings,) = terraform.settings
    (providers,) = settings["required_providers"]
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert re.fullmatch(r"\d+\.\d+\.\d+", providers["aws"]["version"])
    assert settings["required_version"]


def test_user_data_ships_the_setup_and_compose_files_to_the_template(terraform) -> None:
    user_data = terraform.resource("aws_instance", "host")["user_data"]
    template = re.search(r'templatefile\("\$\{path.module\}/([^"]+)"', user_data)
    assert template
    placeholders = set(re.findall(r"\$\{(\w+)\}", (TERRAFORM_DIR / template.group(1)).read_text()))
    given = set(re.findall(r"(\w+) = base64encode", user_data))
    assert placeholders == given == {"ec2_setup_sh", "docker_compose_yml", "compose_dockerfile", "compose_env"}
    shipped = re.findall(r'file\("\$\{path.module\}/([^"]+)"\)', user_data)
    assert sorted((TERRAFORM_DIR / name).resolve().relative_to(ROOT).as_posix() for name in shipped) == [
        "aws/ec2-setup.sh",
        "compose/Dockerfile",
        "compose/docker-compose.yml",
    ]
