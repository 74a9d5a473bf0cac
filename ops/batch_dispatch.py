"""`invoke dispatch --target batch`: one AWS Batch job per config, in the commit's training image.

Every job runs the image's own entrypoint on one config, against the shared MLflow server (PostgreSQL behind
it) with the per-key claim on (TRAINER_CLAIM_URI), so jobs of different keys run side by side and a key trains
once however many dispatches overlap. Before submitting, each config's key is computed from the checkout (which
must be the commit, as for `invoke build`) and looked up: a config whose key a complete run holds is left out,
so a push that changes nothing submits nothing.

The job definition that Terraform made names the job's role, resources and logs; each commit's image becomes a
new revision of it (Batch cannot override the image per job). A job's outcome is read from Batch (status,
exit code, reason, CloudWatch log stream) and, for a job that succeeded, from the store: its run carries the
job's id (`batch_job_id`) when it trained, and another run holds the key when it skipped.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ops.images import ImageRef, build_sha, dirty_files, image_ref
from ops.settings import BatchSettings, Settings
from ops.training_job import config_name
from ops.transport import Polling
from trainer.errors import BadInput
from trainer.pipeline import BATCH_JOB_TAG

FINAL = ("SUCCEEDED", "FAILED")
WAITING = ("SUBMITTED", "PENDING", "RUNNABLE")

# (run_key, experiment) -> (run id, the Batch job id it carries or None), or None when no complete run holds it.
Lookup = Callable[[str, str], "tuple[str, str | None] | None"]


@dataclass(frozen=True)
class Planned:
    config: str  # the config's path in the image, as the command names it
    run_key: str
    experiment: str


@dataclass(frozen=True)
class Submitted:
    planned: Planned
    job_id: str


def plan(settings: Settings, root: Path, names: Sequence[str], lookup: Lookup) -> tuple[list[Planned], list[str]]:
    """The configs to submit, and a line for each one left out because a complete run holds its key."""
    from trainer.pipeline import prepare

    folder = Path(settings.train.configs_dir)
    with contextlib.chdir(root):
        paths = [folder / f"{config_name(name)}.yaml" for name in names] or sorted(folder.glob("*.yaml"))
        if not paths:
            raise BadInput(f"--config: none given and no *.yaml in {folder}")
        for path in paths:
            if not path.is_file():
                raise BadInput(f"--config: {path} does not exist in the checkout")
        prepared = [prepare(path) for path in paths]
    todo, left_out = [], []
    for item in prepared:
        key = item.parts.run_key
        if found := lookup(key, item.config.experiment):
            left_out.append(
                f"{item.path}  skipped  run {found[0]}  (a complete run already holds this key; not submitted)"
            )
        else:
            todo.append(Planned(str(item.path), key, item.config.experiment))
    return todo, left_out


def job_definition_for(client: Any, name: str, image: str) -> str:
    """The ARN of the newest revision of `name` that runs `image`, registering one from the newest if none does."""
    found = client.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
    if not found:
        raise BadInput(f"batch.job_definition: no active job definition {name!r} (Terraform's enable_batch makes it)")
    newest = max(found, key=lambda definition: definition["revision"])
    if newest["containerProperties"].get("image") == image:
        return newest["jobDefinitionArn"]
    shape = client.meta.service_model.operation_model("RegisterJobDefinition").input_shape.members
    accepted = shape["containerProperties"].members
    container = {key: value for key, value in newest["containerProperties"].items() if key in accepted}
    extra = {key: newest[key] for key in ("platformCapabilities", "timeout", "retryStrategy") if newest.get(key)}
    registered = client.register_job_definition(
        jobDefinitionName=name, type="container", containerProperties={**container, "image": image}, **extra
    )
    return registered["jobDefinitionArn"]


def submit(
    client: Any, batch: BatchSettings, image: ImageRef, todo: list[Planned], lock_timeout: int
) -> list[Submitted]:
    definition = job_definition_for(client, batch.job_definition, image.tag)
    uri = batch.required_tracking_uri()
    environment = {
        "MLFLOW_TRACKING_URI": uri,
        "TRAINER_CLAIM_URI": uri,
        "TRAINER_LOCK_TIMEOUT": str(lock_timeout),
        "GIT_SHA": image.sha,
    }
    submitted = []
    for planned in todo:
        name = re.sub(r"[^A-Za-z0-9_-]", "-", f"train-{Path(planned.config).stem}-{image.sha[:12]}")[:128]
        answer = client.submit_job(
            jobName=name,
            jobQueue=batch.job_queue,
            jobDefinition=definition,
            containerOverrides={
                "command": ["python", "-m", "trainer", "--config", planned.config],
                "environment": [{"name": key, "value": value} for key, value in environment.items()],
            },
            timeout={"attemptDurationSeconds": batch.job_timeout},
            tags={"App": "ai-drug", "RunKey": planned.run_key[:64], "GitSha": image.sha},
        )
        submitted.append(Submitted(planned, answer["jobId"]))
    return submitted


def watch(
    client: Any, jobs: list[Submitted], batch: BatchSettings, lookup: Lookup, polling: Polling, out: TextIO
) -> int:
    """Wait for every job: a line whenever one changes status, then one outcome line each; 1 if any failed."""
    started = polling.clock()
    status: dict[str, str] = {}
    waiting_since: dict[str, float] = {}
    outcome: dict[str, str] = {}
    while len(outcome) < len(jobs):
        polling.sleep(batch.poll_interval)
        now = polling.clock()
        pending = [job for job in jobs if job.job_id not in outcome]
        described = {found["jobId"]: found for found in _describe(client, [job.job_id for job in pending])}
        for job in pending:
            found = described.get(job.job_id, {"status": "UNKNOWN"})
            if found["status"] != status.get(job.job_id):
                status[job.job_id] = found["status"]
                waiting_since[job.job_id] = now
                print(f"{job.planned.config}  job {job.job_id}  {found['status']}", file=out, flush=True)
            if found["status"] in FINAL:
                outcome[job.job_id] = _outcome(job, found, lookup)
            elif found["status"] in WAITING and now - waiting_since[job.job_id] > batch.runnable_timeout:
                client.cancel_job(jobId=job.job_id, reason=f"{found['status']} for over {batch.runnable_timeout} s")
                outcome[job.job_id] = (
                    f"{job.planned.config}  failed  {found['status']} for over {batch.runnable_timeout} s "
                    f"(no capacity in the queue's compute environment?); cancelled  job {job.job_id}"
                )
            elif now - started > batch.wait_timeout:
                outcome[job.job_id] = (
                    f"{job.planned.config}  failed  still {found['status']} after {batch.wait_timeout} s "
                    f"(batch.wait_timeout); left running  job {job.job_id}"
                )
    lines = [outcome[job.job_id] for job in jobs]
    print("\n".join(lines), file=out, flush=True)
    return 1 if any("  failed  " in line for line in lines) else 0


def _describe(client: Any, job_ids: list[str]) -> list[dict]:
    found = []
    for start in range(0, len(job_ids), 100):  # DescribeJobs takes up to 100 ids
        found += client.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]
    return found


def _outcome(job: Submitted, found: dict, lookup: Lookup) -> str:
    head = f"{job.planned.config}  "
    attempts = found.get("attempts") or [{}]
    container = {**found.get("container", {}), **attempts[-1].get("container", {})}
    stream = container.get("logStreamName", "?")
    if found["status"] == "FAILED":
        code = container.get("exitCode", "?")
        reason = found.get("statusReason", "")
        return f"{head}failed  exit {code}  {reason}  log stream {stream}  job {job.job_id}"
    held = lookup(job.planned.run_key, job.planned.experiment)
    if held is None:
        return f"{head}failed  exit 0 but no complete run holds its key  log stream {stream}  job {job.job_id}"
    run_id, trained_by = held
    action = "trained" if trained_by == job.job_id else "skipped"
    return f"{head}{action}  run {run_id}  job {job.job_id}"


def store_lookup(uri: str) -> Lookup:
    """Look-ups in the shared store through MLflow's client, which the trainer uses too."""
    from trainer.tracking import Store, quiet_mlflow

    quiet_mlflow()

    def lookup(run_key: str, experiment: str) -> tuple[str, str | None] | None:
        store = Store(uri, experiment)
        run_id = store.find_complete(run_key)
        if run_id is None:
            return None
        return run_id, store.client.get_run(run_id).data.tags.get(BATCH_JOB_TAG)

    return lookup


def dispatch_batch(
    settings: Settings,
    *,
    root: Path,
    sha: str,
    configs: Sequence[str] = (),
    wait: bool = True,
    client: Any = None,
    polling: Polling | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Submit the configs that need training; with `wait`, report each one's outcome."""
    import boto3

    batch = settings.batch
    image = image_ref(settings.image, build_sha(root, sha))
    if changed := dirty_files(root):
        raise BadInput(
            f"the working tree has changes that commit {image.sha[:12]} lacks ({', '.join(changed[:3])}): the keys "
            "computed here would not be the image's; commit or stash them first"
        )
    lookup = store_lookup(batch.required_tracking_uri())
    todo, left_out = plan(settings, root, configs, lookup)
    for line in left_out:
        print(line, file=out, flush=True)
    if not todo:
        print("nothing to submit: every config's key has a complete run", file=out, flush=True)
        return 0
    client = client or boto3.client("batch", region_name=settings.aws.region)
    jobs = submit(client, batch, image, todo, settings.train.lock_timeout)
    if not wait:
        for job in jobs:
            print(f"{job.planned.config}  submitted  job {job.job_id}", file=out, flush=True)
        return 0
    return watch(client, jobs, batch, lookup, polling or Polling(interval=batch.poll_interval), out)
