"""The facts about compose/docker-compose.yml that the training host depends on, checked without Docker.

Training containers join the compose network by name and reach the server by its service name and port;
the server keeps its SQLite store on the host's data volume and proxies artifacts to S3. When any of these
drifts from invoke.yaml's `host` section, trainings cannot log, or log into a database that is not kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

SERVICE = "mlflow"


def compose_problems(compose_file: Path, network: str, data_dir: str, tracking_uri: str) -> list[str]:
    """Every way the compose file disagrees with the host settings, one line each; empty when it agrees."""
    try:
        document = yaml.safe_load(compose_file.read_text())
    except (OSError, yaml.YAMLError) as err:
        return [f"{compose_file}: cannot read: {err}"]
    if not isinstance(document, dict):
        return [f"{compose_file}: expected a mapping at the top level"]
    service = (document.get("services") or {}).get(SERVICE)
    if not isinstance(service, dict):
        return [f"{compose_file}: services.{SERVICE}: missing (training containers resolve the server by it)"]
    url = urlsplit(tracking_uri)
    problems = [
        *_project(document, network),
        *_server(service, url.hostname or "", url.port or 80, data_dir),
    ]
    return [f"{compose_file}: {problem}" for problem in problems]


def _project(document: dict[str, Any], network: str) -> list[str]:
    name = document.get("name")
    if f"{name}_default" != network:
        return [f"name: {name!r} makes the network {name}_default, but the host joins {network}"]
    return []


def _server(service: dict[str, Any], host: str, port: int, data_dir: str) -> list[str]:
    problems = []
    if host != SERVICE:
        problems.append(f"services.{SERVICE}: the tracking URI names host {host!r}, not the service")
    if service.get("restart") != "always":
        problems.append(f"services.{SERVICE}.restart: must be 'always' so the server survives reboots")
    uid = str(service.get("user", "")).split(":")[0]
    if not uid.isdigit() or int(uid) == 0:
        problems.append(f"services.{SERVICE}.user: must be the numeric uid that owns {data_dir}, not root")
    if not _binds(service, data_dir):
        problems.append(f"services.{SERVICE}.volumes: must bind {data_dir} to {data_dir}")
    if f"{port}:{port}" not in [str(item) for item in service.get("ports", [])]:
        problems.append(f"services.{SERVICE}.ports: must publish {port}:{port} for the UI")
    if str((service.get("environment") or {}).get("MLFLOW_DISABLE_TELEMETRY")).lower() != "true":
        problems.append(f"services.{SERVICE}.environment.MLFLOW_DISABLE_TELEMETRY: must be 'true'")
    health = " ".join(str(part) for part in (service.get("healthcheck") or {}).get("test", []))
    if f"localhost:{port}/health" not in health:
        problems.append(f"services.{SERVICE}.healthcheck.test: must probe http://localhost:{port}/health")
    return problems + _flags(service.get("command") or [], host, port, data_dir)


def _binds(service: dict[str, Any], data_dir: str) -> bool:
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind" and volume.get("source") == volume.get("target") == data_dir:
                return True
        elif str(volume).split(":")[:2] == [data_dir, data_dir]:
            return True
    return False


def _flags(command: list[Any], host: str, port: int, data_dir: str) -> list[str]:
    """Check the `mlflow server` flags, written either as --flag=value or --flag value."""
    flags: dict[str, str] = {}
    words = [str(word) for word in command]
    for index, word in enumerate(words):
        if word.startswith("--"):
            name, equals, value = word.partition("=")
            following = words[index + 1] if index + 1 < len(words) else ""
            flags[name] = value if equals else ("" if following.startswith("--") else following)
    where = f"services.{SERVICE}.command"
    problems = []
    if words[:2] != ["mlflow", "server"]:
        problems.append(f"{where}: must run `mlflow server`")
    if flags.get("--host") != "0.0.0.0":
        problems.append(f"{where}: --host must be 0.0.0.0 so other containers reach the server")
    if flags.get("--port") != str(port):
        problems.append(f"{where}: --port must be {port}")
    if flags.get("--backend-store-uri") != f"sqlite:///{data_dir}/mlruns.db":
        problems.append(f"{where}: --backend-store-uri must be sqlite:///{data_dir}/mlruns.db")
    if "--serve-artifacts" not in flags or not flags.get("--artifacts-destination", "").startswith("s3://"):
        problems.append(f"{where}: needs --serve-artifacts and --artifacts-destination=s3://...")
    if "--default-artifact-root" in flags:
        problems.append(f"{where}: --default-artifact-root makes clients write to S3 themselves; drop it")
    allowed = set(flags.get("--allowed-hosts", "").split(",")) - {""}
    internal = [f"{host}:{port}", f"localhost:{port}"]
    problems += [f"{where}: --allowed-hosts must include {name}" for name in internal if name not in allowed]
    if not allowed - set(internal):
        problems.append(f"{where}: --allowed-hosts must include the public name of the UI")
    return problems
