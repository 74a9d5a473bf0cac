"""Dry runs print the plan without an instance id or AWS credentials; builds and dispatches name real commits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ops_fixtures import SHA

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    """An invoke task with no AWS credentials, endpoint or instance id anywhere it could find them."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "INVOKE_"))}
    clean.update({"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true", "INVOKE_AWS_INSTANCE_ID": "", **env})
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_dispatch_dry_run_without_an_instance_id_shows_a_placeholder_and_names_the_setting(tmp_path: Path) -> None:
    shown = invoke("dispatch", "--sha", SHA, "--dry-run", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    request = json.loads(shown.stdout[shown.stdout.rindex("\n{\n") :])
    assert request["InstanceIds"] == ["<aws.instance_id>"]
    assert shown.stderr.splitlines() == [
        "note: <aws.instance_id> is a placeholder; a real run needs aws.instance_id: set it in invoke.yaml or "
        "INVOKE_AWS_INSTANCE_ID (Terraform's instance_id)"
    ]


def test_the_real_dispatch_still_needs_the_instance_id(tmp_path: Path) -> None:
    refused = invoke("dispatch", "--sha", SHA, home=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "error: aws.instance_id: empty; a real run needs aws.instance_id: set it in invoke.yaml or "
        "INVOKE_AWS_INSTANCE_ID (Terraform's instance_id)"
    ]


def test_maintenance_dry_run_without_credentials_prints_the_plan_and_what_the_run_needs(tmp_path: Path) -> None:
    shown = invoke("maintenance", "--sha", SHA, "--dry-run", home=tmp_path)
    assert shown.returncode == 0, shown.stderr
    plan = shown.stdout[shown.stdout.index("after a successful vacuum:") :].splitlines()
    assert plan[1].startswith("snapshot the volume tagged App=ai-drug, Role=mlflow-data; which older snapshots")
    assert plan[1].endswith("the real run needs AWS credentials for EC2")
    assert "Unable to locate credentials" in plan[1]


def test_dispatch_refuses_a_sha_that_is_no_commit_of_the_repository(tmp_path: Path) -> None:
    stranger = "f" * 40
    refused = invoke(
        "dispatch", "--sha", stranger, "--dry-run", home=tmp_path, INVOKE_AWS_INSTANCE_ID="i-0123456789abcdef0"
    )
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.splitlines() == [
        f"error: --sha: {stranger} is not a commit of {ROOT} (fetch it, or pass a commit that CI built)"
    ]
