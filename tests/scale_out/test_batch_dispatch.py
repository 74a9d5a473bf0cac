"""`invoke dispatch --target batch`: moto's Batch API over HTTP for submit, describe and list, with the jobs'
commands run for real against the PostgreSQL-backed server; botocore's Stubber for what moto cannot produce."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from ops.batch_dispatch import Planned, Submitted, dispatch_batch, watch
from ops.commands import dispatch
from ops.settings import load_settings
from ops.transport import Polling
from tests.conftest import TINY_PARAMS
from tests.scale_out.conftest import ROOT, Server
from trainer.errors import BadInput

QUEUE, DEFINITION = "ai-drug-training", "ai-drug-trainer"


def _settings(**batch: object):
    document = yaml.safe_load((ROOT / "invoke.yaml").read_text())
    document["batch"].update(batch)
    return load_settings(document, {})


@pytest.fixture
def checkout(tmp_path: Path, tiny_data: Path) -> tuple[Path, str]:
    """A git checkout holding three tiny configs; its HEAD is the commit dispatched."""
    root = tmp_path / "checkout"
    (root / "configs").mkdir(parents=True)
    for name, family, seed in (("a", "xgb", 11), ("b", "rf", 11), ("c", "xgb", 12)):
        document = {
            "experiment": "batch",
            "endpoint": {"name": "solubility", "unit": "logS"},
            "seed": seed,
            "data": {"path": str(tiny_data), "target_column": "logS", "on_invalid": "drop"},
            "model": {"family": family, **TINY_PARAMS[family]},
        }
        (root / "configs" / f"{name}.yaml").write_text(yaml.safe_dump(document))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "configs"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return root, sha


@pytest.fixture
def batch_queue(moto_endpoint: str):
    """A queue and a job definition in moto's Batch, which marks each job SUCCEEDED without running it."""
    request = urllib.request.Request(
        f"{moto_endpoint}/moto-api/config",
        data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()
    iam = boto3.client("iam", region_name="eu-west-1")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = boto3.client("batch", region_name="eu-west-1")
    environment = batch.create_compute_environment(
        computeEnvironmentName="ai-drug", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    batch.create_job_queue(
        jobQueueName=QUEUE, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )  # fmt: skip
    resources = [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}]
    container = {"image": "ghcr.io/ai-drug/ai-drug-trainer:none", "resourceRequirements": resources}
    batch.register_job_definition(jobDefinitionName=DEFINITION, type="container", containerProperties=container)
    return batch


class ComputeEnvironment(list):
    """The `sleep` between polls: on the first one, every submitted job's container runs, here, for real."""

    def __init__(self, batch, root: Path) -> None:
        super().__init__()
        self.batch, self.root = batch, root

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if len(self) > 1:
            return
        ids = [job["jobId"] for job in self.batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"]]
        running = []
        for job in self.batch.describe_jobs(jobs=ids)["jobs"]:
            env = {item["name"]: item["value"] for item in job["container"]["environment"]}
            env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true"}
            command = [sys.executable, *job["container"]["command"][1:]]  # the image's python is this one here
            pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
            running.append(subprocess.Popen(command, cwd=self.root, text=True, env=env, **pipes))
        for process in running:
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr


def test_one_job_per_config_left_out_when_complete_and_each_outcome_reported(
    pg_server: Server, batch_queue, checkout
) -> None:
    root, sha = checkout
    settings = _settings(tracking_uri=pg_server.url, poll_interval=1)
    pre = subprocess.run(
        [sys.executable, "-m", "trainer", "--config", "configs/c.yaml"], cwd=root, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": pg_server.url}, timeout=300,
    )  # fmt: skip
    assert pre.returncode == 0, pre.stderr
    out = io.StringIO()
    compute = ComputeEnvironment(batch_queue, root)
    code = dispatch_batch(settings, root=root, sha=sha, polling=Polling(interval=1, sleep=compute), out=out)
    lines = out.getvalue().splitlines()
    assert code == 0, lines
    assert lines[0].startswith("configs/c.yaml  skipped  run ") and lines[0].endswith("not submitted)")

    jobs = batch_queue.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert len(jobs) == 2
    described = {job["jobId"]: job for job in batch_queue.describe_jobs(jobs=[j["jobId"] for j in jobs])["jobs"]}
    commands = sorted(job["container"]["command"] for job in described.values())
    assert commands == [["python", "-m", "trainer", "--config", f"configs/{n}.yaml"] for n in ("a", "b")]
    for job in described.values():
        env = {item["name"]: item["value"] for item in job["container"]["environment"]}
        assert env["MLFLOW_TRACKING_URI"] == env["TRAINER_CLAIM_URI"] == pg_server.url
        assert env["GIT_SHA"] == sha
        assert job["jobDefinition"].endswith(f"job-definition/{DEFINITION}:2")
    definition = batch_queue.describe_job_definitions(jobDefinitionName=DEFINITION, status="ACTIVE")
    newest = max(definition["jobDefinitions"], key=lambda d: d["revision"])
    assert newest["containerProperties"]["image"] == f"ghcr.io/ai-drug/ai-drug-trainer:{sha}"
    assert newest["containerProperties"]["resourceRequirements"][0] == {"type": "VCPU", "value": "2"}

    outcomes = lines[-2:]
    for name, line in zip(("a", "b"), outcomes, strict=True):
        job_id = line.rsplit("job ", 1)[1]
        assert line.startswith(f"configs/{name}.yaml  trained  run ") and job_id in described, line
    progress = [line for line in lines[1:-2]]
    assert sorted(line.split()[-1] for line in progress) == ["SUCCEEDED", "SUCCEEDED"]

    # The same commit again: every key has a complete run, so nothing is submitted.
    again = io.StringIO()
    assert dispatch_batch(settings, root=root, sha=sha, polling=Polling(interval=1, sleep=compute), out=again) == 0
    assert again.getvalue().splitlines()[-1] == "nothing to submit: every config's key has a complete run"
    assert len(batch_queue.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"]) == 2


def _job(status: str, **extra: object) -> dict:
    return {"jobName": "train-a", "jobId": "j-1", "jobQueue": QUEUE, "status": status, "startedAt": 1,
            "jobDefinition": DEFINITION, **extra}  # fmt: skip


class Clock:
    """A clock that the `sleep` between polls moves on, so a replayed wait takes no time."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _stubbed(responses: list[tuple[str, dict, dict]]):
    client = boto3.client("batch", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    for operation, answer, expected in responses:
        stubber.add_response(operation, answer, expected)
    stubber.activate()
    return client, stubber


JOBS = [Submitted(Planned("configs/a.yaml", "k" * 64, "batch"), "j-1")]


def test_a_failed_job_reports_its_exit_code_reason_and_log_stream() -> None:
    failed = _job(
        "FAILED",
        statusReason="Essential container in task exited",
        attempts=[{"container": {"exitCode": 2, "logStreamName": "ai-drug-trainer/default/abc123"}}],
    )
    client, stubber = _stubbed(
        [("describe_jobs", {"jobs": [_job("RUNNING")]}, {"jobs": ["j-1"]}),
         ("describe_jobs", {"jobs": [failed]}, {"jobs": ["j-1"]})]
    )  # fmt: skip
    out, clock = io.StringIO(), Clock()
    batch = _settings(tracking_uri="http://mlflow.internal:5000", poll_interval=10).batch
    code = watch(client, JOBS, batch, lambda *_: None, Polling(sleep=clock.sleep, clock=lambda: clock.now), out)
    assert code == 1
    assert out.getvalue().splitlines() == [
        "configs/a.yaml  job j-1  RUNNING",
        "configs/a.yaml  job j-1  FAILED",
        "configs/a.yaml  failed  exit 2  Essential container in task exited"
        "  log stream ai-drug-trainer/default/abc123  job j-1",
    ]
    stubber.assert_no_pending_responses()


def test_a_job_stuck_runnable_past_its_timeout_is_cancelled_and_fails() -> None:
    # Seen RUNNABLE first at 10 s; at 50 s it has been so for over 30 s.
    stuck = [("describe_jobs", {"jobs": [_job("RUNNABLE")]}, {"jobs": ["j-1"]})] * 5
    cancel = ("cancel_job", {}, {"jobId": "j-1", "reason": "RUNNABLE for over 30 s"})
    client, stubber = _stubbed([*stuck, cancel])
    out, clock = io.StringIO(), Clock()
    batch = _settings(tracking_uri="http://mlflow.internal:5000", poll_interval=10, runnable_timeout=30).batch
    code = watch(client, JOBS, batch, lambda *_: None, Polling(sleep=clock.sleep, clock=lambda: clock.now), out)
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "configs/a.yaml  job j-1  RUNNABLE"
    assert lines[-1].startswith("configs/a.yaml  failed  RUNNABLE for over 30 s")
    assert lines[-1].endswith("cancelled  job j-1")
    assert clock.now == 50
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        ({"engine": "cluster"}, "--target: 'cluster' is not host or batch"),
        ({"engine": "batch", "host": "u@h"}, "--host: not for --target batch"),
        ({"wait": False}, "--no-wait: only for --target batch"),
        ({"engine": "batch"}, "batch.tracking_uri: empty"),
    ],
)
def test_bad_flags_and_settings_are_refused(flags: dict, complaint: str, checkout) -> None:
    root, sha = checkout
    with pytest.raises(BadInput, match="^" + complaint.replace("(", r"\(").replace(")", r"\)")):
        dispatch(_settings(), root=root, sha=sha, **flags)
