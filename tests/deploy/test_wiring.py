"""The operator side and the deployment files agree: what `invoke build` passes the Dockerfile, and
the network, server and lock that the dispatch script uses on the host that compose and ec2-setup.sh make."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ops.images import build_command, image_ref
from ops.settings import load_settings
from ops.training_job import train_job

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"


def image(invoke_config: dict[str, Any]):
    return image_ref(load_settings(invoke_config, {}).image, SHA)


def test_build_passes_the_commit_as_the_only_build_arg_the_image_declares(invoke_config, training_image) -> None:
    command = build_command(image(invoke_config), source=invoke_config["image"]["source"], root=ROOT)
    build_args = [command[i + 1] for i, word in enumerate(command) if word == "--build-arg"]
    assert build_args == [f"GIT_SHA={SHA}"]
    declared = [arg.split("=")[0] for stage in training_image for arg in stage.all("ARG")]
    assert declared == ["GIT_SHA"]
    assert command[-3:] == ["--file", str(ROOT / "Dockerfile"), str(ROOT)]


def test_the_dispatched_container_joins_the_compose_network_and_reaches_the_server(invoke_config, compose) -> None:
    job = train_job(image(invoke_config), [], load_settings(invoke_config, {}))
    script = job.script()
    service = compose["services"]["mlflow"]
    container_port = service["ports"][0].split(":")[1]
    assert f"readonly NETWORK={compose['name']}_default\n" in script
    assert f"readonly TRACKING_URI=http://mlflow:{container_port}\n" in script
    assert re.search(r'docker run [^\n]*--network "\$NETWORK"', script)
    # The lock lives on the data volume that ec2-setup.sh mounts and compose binds.
    setup = (ROOT / "aws" / "ec2-setup.sh").read_text()
    data_dir = re.search(r"^DATA_DIR=\$\{DATA_DIR:-(\S+)\}$", setup, re.M)
    assert data_dir
    assert f"readonly LOCK_FILE={data_dir.group(1)}/train.lock\n" in script
    assert service["volumes"][0]["source"] == data_dir.group(1)
