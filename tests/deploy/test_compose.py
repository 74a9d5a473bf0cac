"""The MLflow service on the host: what training containers, the data volume and S3 depend on."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.compose_check import compose_problems
from tests.deploy.test_requirements import pins

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"


def host_problems(path: Path, host: dict[str, str]) -> list[str]:
    return compose_problems(path, host["network"], host["data_dir"], host["tracking_uri"])


def test_the_compose_file_agrees_with_the_host_settings(invoke_config: dict[str, Any]) -> None:
    assert host_problems(COMPOSE_FILE, invoke_config["host"]) == []


def test_network_service_port_and_bind_path_are_the_ones_training_uses(
    compose: dict[str, Any], invoke_config: dict[str, Any]
) -> None:
    host = invoke_config["host"]
    assert f"{compose['name']}_default" == host["network"] == "mlflow_default"
    assert host["tracking_uri"] == "http://mlflow:5000"
    service = compose["services"]["mlflow"]
    assert service["ports"] == ["5000:5000"]
    assert service["volumes"] == [{"type": "bind", "source": "/opt/mlflow", "target": "/opt/mlflow"}]
    assert host["data_dir"] == "/opt/mlflow"
    assert "--backend-store-uri=sqlite:////opt/mlflow/mlruns.db" in service["command"]


def test_artifacts_are_proxied_to_the_bucket_by_the_server(compose: dict[str, Any]) -> None:
    command = compose["services"]["mlflow"]["command"]
    assert "--serve-artifacts" in command
    destination = [word for word in command if word.startswith("--artifacts-destination=")]
    bucket = "${MLFLOW_ARTIFACTS_BUCKET:?set MLFLOW_ARTIFACTS_BUCKET in .env}"
    assert destination == [f"--artifacts-destination=s3://{bucket}/"]
    assert not [word for word in command if word.startswith("--default-artifact-root")]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = document
        for name in parents:
            node = node[name]
        node[leaf] = value

    return change


def _command(old: str, new: str | None) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        command = document["services"]["mlflow"]["command"]
        index = next(i for i, word in enumerate(command) if word.startswith(old))
        if new is None:
            del command[index]
        else:
            command[index] = new

    return change


def _append(word: str) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["services"]["mlflow"]["command"].append(word)

    return change


def _rename_service(document: dict[str, Any]) -> None:
    document["services"]["tracking"] = document["services"].pop("mlflow")


BREAKAGES = {
    "project name": (_set("name", "compose"), "makes the network compose_default"),
    "service name": (_rename_service, "services.mlflow: missing"),
    "restart policy": (_set("services.mlflow.restart", "unless-stopped"), "restart: must be 'always'"),
    "root user": (_set("services.mlflow.user", "0:0"), "user: must be the numeric uid"),
    "bind path": (_set("services.mlflow.volumes", ["/srv/mlflow:/opt/mlflow"]), "must bind /opt/mlflow"),
    "published port": (_set("services.mlflow.ports", ["8080:5000"]), "must publish 5000:5000"),
    "telemetry": (_set("services.mlflow.environment.MLFLOW_DISABLE_TELEMETRY", "false"), "TELEMETRY"),
    "healthcheck": (_set("services.mlflow.healthcheck.test", ["CMD", "true"]), "must probe"),
    "backend on another path": (
        _command("--backend-store-uri", "--backend-store-uri=sqlite:////tmp/mlruns.db"),
        "--backend-store-uri must be",
    ),
    "clients writing to S3": (_append("--default-artifact-root=s3://bucket/"), "--default-artifact-root makes clients"),
    "artifacts not served": (_command("--serve-artifacts", None), "needs --serve-artifacts"),
    "training host not allowed": (
        _command("--allowed-hosts", "--allowed-hosts=localhost:5000,ui.example.org:5000"),
        "--allowed-hosts must include mlflow:5000",
    ),
    "healthcheck host not allowed": (
        _command("--allowed-hosts", "--allowed-hosts=mlflow:5000,ui.example.org:5000"),
        "--allowed-hosts must include localhost:5000",
    ),
    "no public name": (
        _command("--allowed-hosts", "--allowed-hosts=mlflow:5000,localhost:5000"),
        "the public name",
    ),
    "loopback only": (_command("--host", "--host=127.0.0.1"), "--host must be 0.0.0.0"),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_each_breaking_edit_is_reported_by_the_compose_check(
    breakage: tuple[Callable[[dict[str, Any]], None], str],
    compose: dict[str, Any],
    invoke_config: dict[str, Any],
    tmp_path: Path,
) -> None:
    change, expected = breakage
    document = copy.deepcopy(compose)
    change(document)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(document))
    problems = host_problems(broken, invoke_config["host"])
    assert len(problems) == 1, problems
    assert expected in problems[0]
    assert problems[0].startswith(f"{broken}: ")


def test_a_host_network_the_compose_file_does_not_make_is_reported(invoke_config: dict[str, Any]) -> None:
    host = {**invoke_config["host"], "network": "ai_drug_default"}
    assert host_problems(COMPOSE_FILE, host) == [
        f"{COMPOSE_FILE}: name: 'mlflow' makes the network mlflow_default, but the host joins ai_drug_default"
    ]


def test_every_variable_the_compose_file_needs_is_written_by_terraform(terraform) -> None:
    needed = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text()))
    user_data = terraform.resource("aws_instance", "host")["user_data"]
    written = set(re.findall(r'"(\w+)=', user_data))
    assert needed == {"MLFLOW_ARTIFACTS_BUCKET", "MLFLOW_PUBLIC_HOSTS", "AWS_DEFAULT_REGION"}
    assert needed <= written


def test_the_server_image_pins_mlflow_and_boto3_as_requirements_txt_does(server_image) -> None:
    pinned = {req.name: str(req.specifier).removeprefix("==") for req in pins("requirements.txt")}
    installs = " ".join(server_image[-1].all("RUN"))
    assert f"mlflow=={pinned['mlflow']}" in installs
    assert f"boto3=={pinned['boto3']}" in installs


def test_one_uid_owns_the_data_volume_everywhere(compose: dict[str, Any], server_image, training_image) -> None:
    """The server writes mlruns.db and the maintenance vacuum (training image) rewrites it: same owner."""
    setup_uid = re.search(r"^MLFLOW_UID=(\d+)$", (ROOT / "aws" / "ec2-setup.sh").read_text(), re.M)
    assert setup_uid
    uid = setup_uid.group(1)
    assert compose["services"]["mlflow"]["user"] == f"{uid}:{uid}"
    assert server_image[-1].all("USER") == [f"{uid}:{uid}"]
    assert training_image[-1].all("USER") == [f"{uid}:{uid}"]
    assert f"--uid {uid}" in " ".join(server_image[-1].all("RUN"))
    assert f"--uid {uid}" in " ".join(training_image[-1].all("RUN"))
