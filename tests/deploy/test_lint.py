"""invoke lint on a small tree where every linter has something to find."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ops.lint import lint
from ops.settings import HostSettings

HOST = HostSettings(network="mlflow_default", data_dir="/opt/mlflow", tracking_uri="http://mlflow:5000")

BROKEN = {
    "tool.py": "import os\nx=1\n",
    "Dockerfile": "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl\n",
    "ops/host.sh.tmpl": "#!/bin/bash\nrm -rf $1/cache\n",
    "bin/tool": "#!/bin/sh\nls $folder\n",
    "ignored.sh": "#!/bin/bash\necho $unquoted_in_an_ignored_file\n",
    ".gitignore": "ignored.sh\n",
    ".github/workflows/ci.yml": (
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-24.04\n    permissions:\n      contents: writ\n"
        "    steps:\n      - run: echo ${{ github.shaa }}\n"
    ),
    "aws/terraform/main.tf": 'resource "aws_s3_bucket" "open" {\n  bucket = "x"\n    acl = "public-read"\n}\n',
    "compose/docker-compose.yml": "name: compose\nservices:\n  mlflow:\n    image: mlflow\n",
}


def test_every_check_reports_what_it_finds_and_ignored_files_are_left_alone(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in BROKEN.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    lines: list[str] = []

    assert lint(tmp_path, HOST, echo=lines.append) == 1

    report = "\n".join(lines)
    verdicts = [line for line in lines if line.startswith(("ok  ", "FAIL"))]
    assert verdicts == [
        "FAIL ruff check",
        "FAIL ruff format --check",
        "FAIL hadolint",
        "FAIL shellcheck",
        "FAIL actionlint",
        "FAIL terraform fmt",
        "FAIL checkov terraform",
        "FAIL checkov dockerfiles and workflows",
        "FAIL compose",
    ]
    assert "F401" in report
    assert "DL3008" in report
    assert "ops/host.sh.tmpl" in report and "bin/tool" in report and "SC2086" in report
    assert "ignored.sh" not in report
    assert '"writ" is invalid for permission' in report
    assert 'property "shaa" is not defined' in report
    assert "aws/terraform/main.tf" in report
    assert "CKV_AWS_" in report and "CKV_DOCKER_" in report
    assert "makes the network compose_default, but the host joins mlflow_default" in report
    assert lines[-1] == "lint: 9 of the checks failed"
