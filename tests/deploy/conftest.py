"""The deployment files, parsed once per session: Terraform (python-hcl2), workflows, compose, Dockerfiles."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "aws" / "terraform"


@dataclass
class Terraform:
    """Every block of aws/terraform, keyed by (type, name) where blocks have both."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    settings: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[(kind, name)]

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (each, name), body in self.resources.items() if each == kind}

    def policy(self, name: str) -> list[dict[str, Any]]:
        """The statements of an aws_iam_policy_document data source."""
        return self.data[("aws_iam_policy_document", name)]["statement"]


def parse_terraform(directory: Path) -> Terraform:
    options = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    config = Terraform()
    for path in sorted(directory.glob("*.tf")):
        document = hcl2.loads(path.read_text(), serialization_options=options)
        for block in document.get("resource", []):
            for kind, named in block.items():
                config.resources.update({(kind, name): body for name, body in named.items()})
        for block in document.get("data", []):
            for kind, named in block.items():
                config.data.update({(kind, name): body for name, body in named.items()})
        for block in document.get("variable", []):
            config.variables.update(block)
        for block in document.get("output", []):
            config.outputs.update(block)
        for block in document.get("locals", []):
            config.locals.update(block)
        config.settings += document.get("terraform", [])
        config.providers += document.get("provider", [])
    return config


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]]

    def all(self, keyword: str) -> list[str]:
        return [value for each, value in self.instructions if each == keyword]

    def env(self) -> dict[str, str]:
        pairs = [word.split("=", 1) for value in self.all("ENV") for word in shlex.split(value)]
        return dict(pairs)


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), " ".join(value.split())
        if keyword == "FROM":
            base, _, name = value.partition(" AS ")
            stages.append(Stage(base, name or None, []))
        else:
            stages[-1].instructions.append((keyword, value))
    return stages


@pytest.fixture(scope="session")
def terraform() -> Terraform:
    return parse_terraform(TERRAFORM_DIR)


@pytest.fixture(scope="session")
def invoke_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "invoke.yaml").read_text())


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())


@pytest.fixture(scope="session")
def training_image() -> list[Stage]:
    return parse_dockerfile(ROOT / "Dockerfile")


@pytest.fixture(scope="session")
def server_image() -> list[Stage]:
    return parse_dockerfile(ROOT / "compose" / "Dockerfile")


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    """Each workflow by file stem; PyYAML reads the key `on` as True, so it is put back as 'on'."""
    parsed = {}
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        document["on"] = document.pop(True)
        parsed[path.stem] = document
    return parsed
