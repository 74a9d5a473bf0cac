"""The ops commands behind the tasks (build, push, dispatch, maintenance): validated settings and flags in, an
exit code out.

tasks.py runs each through trainer.errors.guard with `FAILURES`: bad input (a flag; invoke.yaml was refused
before, by ops.settings) is exit 2, a step that failed is exit 1 (or the remote script's own code), each with one
`error: ...` line on stderr.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from ops.ebs_snapshots import SnapshotReport, take_snapshot
from ops.images import (
    build_command,
    build_sha,
    dirty_files,
    execute,
    full_sha,
    head_sha,
    image_ref,
    push_command,
)
from ops.maintenance_job import maintenance_job
from ops.maintenance_run import SnapshotStep, run_maintenance, show_maintenance
from ops.remote import run_or_show
from ops.settings import INSTANCE_ID_PLACEHOLDER, Settings, missing_instance_id
from ops.ssh import ssh_target
from ops.ssm import SsmTarget
from ops.training_job import train_job
from ops.transport import Polling, Target
from ops.vacuum import vacuum as vacuum_store
from trainer.errors import BadInput, say

# AWS's own errors that no step turned into an OpsError: exit 1 with their one line, like any failed step.
FAILURES = (BotoCoreError, ClientError)


def build(settings: Settings, *, root: Path, sha: str = "", dry_run: bool = False) -> int:
    """docker build of the working tree at `root`, tagged with its commit."""
    ref = image_ref(settings.image, build_sha(root, sha))
    if changed := dirty_files(root):
        problem = (
            f"the working tree has changes that commit {ref.sha[:12]} lacks ({', '.join(changed[:3])}"
            f"{', ...' if len(changed) > 3 else ''}); an image tagged with it would not be that commit"
        )
        if not dry_run:
            raise BadInput(f"{problem}: commit or stash them first")
        say(f"warning: {problem}")
    execute(build_command(ref, source=settings.image.source, root=root), dry_run=dry_run)
    return 0


def push(settings: Settings, *, root: Path, sha: str = "", dry_run: bool = False) -> int:
    """docker push of the tag that `build` made (HEAD's unless --sha)."""
    ref = image_ref(settings.image, full_sha(root, sha) if sha else head_sha(root))
    execute(push_command(ref), dry_run=dry_run)
    return 0


def target(host: str, settings: Settings, polling: Polling | None = None, *, dry_run: bool = False) -> Target:
    """SSH when --host is given, else the SSM-managed instance of invoke.yaml. A dry run without an instance id
    shows a placeholder and says which setting the real run needs."""
    if host:
        return ssh_target(host)
    aws = settings.aws
    instance_id = aws.instance_id
    if dry_run and not instance_id:
        say(f"note: {INSTANCE_ID_PLACEHOLDER} is a placeholder; {missing_instance_id()}")
        instance_id = INSTANCE_ID_PLACEHOLDER
    return SsmTarget(
        instance_id=instance_id or aws.required_instance_id(),
        region=aws.region,
        log_group=aws.log_group,
        polling=polling or Polling(interval=settings.dispatch.poll_interval),
    )


def dispatch(
    settings: Settings,
    *,
    root: Path,
    sha: str,
    configs: Sequence[str] = (),
    host: str = "",
    dry_run: bool = False,
    polling: Polling | None = None,
) -> int:
    """Train the image of `sha` on the host."""
    job = train_job(image_ref(settings.image, full_sha(root, sha)), configs, settings)
    return run_or_show(
        job.script(),
        target(host, settings, polling, dry_run=dry_run),
        comment=job.comment(),
        execution_timeout=settings.dispatch.execution_timeout,
        dry_run=dry_run,
    )


def vacuum(settings: Settings, *, db: str, json: bool = False) -> int:
    """Check, back up and VACUUM the SQLite store `db` where it lives, with invoke.yaml's maintenance values."""
    if not db:
        raise BadInput("--db: required: the MLflow SQLite store to compact")
    options = settings.maintenance
    report = vacuum_store(
        Path(db),
        backups_kept=options.backups_kept,
        lock_timeout=options.lock_timeout,
        busy_timeout=options.busy_timeout,
    )
    print(report.report_line() if json else "\n".join(report.lines()))
    return 0


def snapshot(settings: Settings, *, reason: str, database_bytes: str | None = None, dry_run: bool = False) -> int:
    """Snapshot the EBS volume of the MLflow store."""
    if database_bytes is not None and not str(database_bytes).isdigit():
        raise BadInput(f"--database-bytes: not a whole number of bytes: {database_bytes!r}")
    take = snapshot_step(settings, reason=reason)
    report = take(None if database_bytes is None else int(database_bytes), dry_run=dry_run)
    print("\n".join(report.lines()))
    return 0


def snapshot_step(settings: Settings, *, reason: str) -> SnapshotStep:
    """The snapshot with invoke.yaml's retention and timeout."""

    def take(database_bytes: int | None, *, dry_run: bool = False) -> SnapshotReport:
        import boto3

        ec2 = boto3.client("ec2", region_name=settings.aws.region)
        return take_snapshot(
            ec2,
            instance_id=settings.aws.instance_id,
            reason=reason,
            database_bytes=database_bytes,
            kept=settings.maintenance.snapshots_kept,
            timeout=settings.maintenance.snapshot_timeout,
            dry_run=dry_run,
        )

    return take


def maintenance(
    settings: Settings,
    *,
    root: Path,
    sha: str,
    host: str = "",
    dry_run: bool = False,
    polling: Polling | None = None,
) -> int:
    """Vacuum the MLflow store on the host in the image of `sha`, then snapshot its volume."""
    job = maintenance_job(image_ref(settings.image, full_sha(root, sha)), settings)
    remote = target(host, settings, polling, dry_run=dry_run)
    take = snapshot_step(settings, reason="invoke maintenance")
    run = show_maintenance if dry_run else run_maintenance
    return run(job, remote, execution_timeout=settings.maintenance.execution_timeout, snapshot=take)
