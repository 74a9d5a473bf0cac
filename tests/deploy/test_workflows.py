"""GitHub Actions: triggers, the invoke targets each job calls, least permissions, pinned actions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def every_uses() -> list[tuple[str, str]]:
    """(file, uses) for every step of every workflow and local action."""
    files = [*(ROOT / ".github" / "workflows").glob("*.yml"), *(ROOT / ".github" / "actions").glob("*/action.yml")]
    found = []
    for path in files:
        document = yaml.safe_load(path.read_text())
        jobs = document.get("jobs", {}).values() if "jobs" in document else [document["runs"]]
        found += [(path.name, step["uses"]) for job in jobs for step in job.get("steps", []) if "uses" in step]
    return found


def test_ci_runs_on_pull_requests_and_pushes_to_main(workflows) -> None:
    assert workflows["ci"]["on"] == {"pull_request": None, "push": {"branches": ["main"]}}


def test_the_test_job_runs_invoke_test_with_read_only_contents(workflows) -> None:
    job = workflows["ci"]["jobs"]["test"]
    assert job["permissions"] == {"contents": "read"}
    assert runs(job) == ["invoke test"]
    assert "if" not in job


def test_build_and_push_run_on_main_only_with_packages_write(workflows) -> None:
    job = workflows["ci"]["jobs"]["image"]
    assert job["if"] == ON_MAIN
    assert job["needs"] == "test"
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    assert runs(job) == ["invoke build --sha ${{ github.sha }}", "invoke push --sha ${{ github.sha }}"]
    (login,) = [step for step in job["steps"] if step.get("uses", "").startswith("docker/login-action@")]
    assert login["with"] == {
        "registry": "ghcr.io",
        "username": "${{ github.actor }}",
        "password": "${{ secrets.GITHUB_TOKEN }}",
    }


def test_dispatch_assumes_the_oidc_role_on_main_then_dispatches_the_commit(workflows) -> None:
    job = workflows["ci"]["jobs"]["dispatch"]
    assert job["if"] == ON_MAIN
    assert job["needs"] == "image"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    uses = [step.get("uses", step.get("run")) for step in job["steps"]]
    login = next(i for i, step in enumerate(uses) if step.startswith("aws-actions/configure-aws-credentials@"))
    assert uses[login + 1 :] == ["invoke dispatch --sha ${{ github.sha }}"]
    assert job["steps"][login]["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert job["env"]["INVOKE_AWS_INSTANCE_ID"] == "${{ vars.AWS_INSTANCE_ID }}"


def test_maintenance_runs_weekly_and_on_demand_with_the_oidc_role(workflows) -> None:
    workflow = workflows["maintenance"]
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    (schedule,) = workflow["on"]["schedule"]
    assert len(schedule["cron"].split()) == 5
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert runs(job) == ["invoke maintenance --sha ${{ github.sha }}"]
    assert any(step.get("uses", "").startswith("aws-actions/configure-aws-credentials@") for step in job["steps"])


def test_no_workflow_grants_permissions_at_the_top_and_no_job_uses_an_environment(workflows) -> None:
    """An environment changes the OIDC subject to repo:OWNER/REPO:environment:NAME, which the role refuses."""
    for workflow in workflows.values():
        assert workflow["permissions"] == {}
        for job in workflow["jobs"].values():
            assert "environment" not in job
            assert "permissions" in job


def test_a_job_may_write_only_what_its_steps_need(workflows) -> None:
    """id-token only where AWS credentials are configured, packages only where an image is pushed."""
    for name, workflow in workflows.items():
        for job_name, job in workflow["jobs"].items():
            writes = {scope for scope, level in job["permissions"].items() if level == "write"}
            needed = set()
            if any("configure-aws-credentials" in step.get("uses", "") for step in job["steps"]):
                needed.add("id-token")
            if any(run.startswith("invoke push") for run in runs(job)):
                needed.add("packages")
            assert writes == needed, f"{name}.{job_name}"


def test_third_party_actions_are_pinned_to_full_commit_shas() -> None:
    found = every_uses()
    assert len(found) >= 10
    for file, uses in found:
        assert uses.startswith("./") or PINNED.fullmatch(uses), f"{file}: {uses}"


def test_checkouts_keep_no_credentials(workflows) -> None:
    for workflow in workflows.values():
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_the_setup_action_installs_the_pinned_requirements_alone() -> None:
    action = yaml.safe_load((ROOT / ".github" / "actions" / "setup" / "action.yml").read_text())
    script = "\n".join(step["run"] for step in action["runs"]["steps"] if "run" in step)
    assert ".venv/bin/pip install -r requirements-dev.txt" in script
    assert "torch" not in script
