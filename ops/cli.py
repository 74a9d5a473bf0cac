"""What the ops tasks (build, push, dispatch, maintenance) call: flags and invoke.yaml sections in, an exit code
out.

Every task goes through `guarded`: bad input (a flag or an invoke.yaml value) is exit 2, a step that failed is
exit 1 (or the remote script's own code), each with one `error: ...` line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops import validate
from ops.dispatch import train_job
from ops.host_maintenance import maintenance_job
from ops.images import (
    ImageRef,
    build_command,
    build_sha,
    execute,
    full_sha,
    head_sha,
    image_ref,
    push_command,
)
from ops.maintenance import SnapshotStep, run_maintenance, show_maintenance
from ops.remote import Polling, SshTarget, SsmTarget, Target, run_or_show
from ops.snapshots import SnapshotReport, take_snapshot
from ops.vacuum import vacuum as vacuum_store
from trainer.errors import BadInput, ProjectError

Section = Mapping[str, Any]
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


def guarded(action: Callable[[], int]) -> int:
    """Run `action` and return its exit code; turn an exception into its exit code and one line on stderr."""
    try:
        return action()
    except ProjectError as error:
        return _fail(error.exit_code, error)
    except (BotoCoreError, ClientError) as error:
        return _fail(EXIT_FAILED, error)


def _fail(code: int, error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return code


def _image(image: Section, sha: str) -> ImageRef:
    return image_ref(image["registry"], image["owner"], image["name"], sha)


def build(image: Section, *, root: Path, sha: str = "", dry_run: bool = False) -> int:
    """docker build of the working tree at `root`, tagged with its commit."""

    def action() -> int:
        ref = _image(image, build_sha(root, sha))
        execute(build_command(ref, source=image["source"], root=root), dry_run=dry_run)
        return 0

    return guarded(action)


def push(image: Section, *, root: Path, sha: str = "", dry_run: bool = False) -> int:
    """docker push of the tag that `build` made (HEAD's unless --sha)."""

    def action() -> int:
        ref = _image(image, full_sha(root, sha) if sha else head_sha(root))
        execute(push_command(ref), dry_run=dry_run)
        return 0

    return guarded(action)


def target(host: str, aws: Section, dispatch: Section, polling: Polling | None = None) -> Target:
    """SSH when --host is given, else the SSM-managed instance of invoke.yaml."""
    if host:
        return SshTarget(validate.ssh_host(host))
    interval = validate.seconds(dispatch["poll_interval"], "dispatch.poll_interval", low=1, high=3600)
    return SsmTarget(
        instance_id=validate.instance_id(aws["instance_id"]),
        region=validate.region(aws["region"]),
        log_group=validate.log_group(aws["log_group"]),
        polling=polling or Polling(interval=interval),
    )


def execution_timeout(options: Section, section: str, *, waits: int, waits_key: str) -> int:
    """`<section>.execution_timeout`, refused unless it outlasts the `waits` seconds the host script may wait."""
    timeout = validate.seconds(
        options["execution_timeout"], f"{section}.execution_timeout", low=60, high=validate.EXECUTION_TIMEOUT_MAX
    )
    if waits >= timeout:
        raise BadInput(
            f"{waits_key}: {waits} s must be below {section}.execution_timeout ({timeout} s), "
            "or the host script's waits outlive the run"
        )
    return timeout


def dispatch(
    settings: Section,
    *,
    root: Path,
    sha: str,
    configs: Sequence[str] = (),
    host: str = "",
    dry_run: bool = False,
    polling: Polling | None = None,
) -> int:
    """Train the image of `sha` on the host; `settings` holds invoke.yaml's image, aws, dispatch and host."""

    def action() -> int:
        aws, options, host_settings = settings["aws"], settings["dispatch"], settings["host"]
        job = train_job(
            _image(settings["image"], full_sha(root, sha)),
            configs,
            region=aws["region"],
            token_parameter=aws["token_parameter"],
            data_dir=host_settings["data_dir"],
            lock_timeout=options["lock_timeout"],
            network=host_settings["network"],
            tracking_uri=host_settings["tracking_uri"],
        )
        timeout = execution_timeout(options, "dispatch", waits=job.lock_timeout, waits_key="dispatch.lock_timeout")
        return run_or_show(
            job.script(),
            target(host, aws, options, polling),
            comment=job.comment(),
            execution_timeout=timeout,
            dry_run=dry_run,
        )

    return guarded(action)


def vacuum(options: Section, *, db: str, json: bool = False) -> int:
    """Check, back up and VACUUM the SQLite store `db` where it lives; `options` is invoke.yaml's maintenance."""

    def action() -> int:
        if not db:
            raise BadInput("--db: required: the MLflow SQLite store to compact")
        report = vacuum_store(
            Path(db),
            backups_kept=validate.kept(options["backups_kept"], "maintenance.backups_kept"),
            lock_timeout=_maintenance_seconds(options, "lock_timeout"),
            busy_timeout=_maintenance_seconds(options, "busy_timeout"),
        )
        print(report.report_line() if json else "\n".join(report.lines()))
        return 0

    return guarded(action)


def snapshot(settings: Section, *, reason: str, database_bytes: str | None = None, dry_run: bool = False) -> int:
    """Snapshot the EBS volume of the MLflow store; `settings` holds invoke.yaml's aws and maintenance."""

    def action() -> int:
        if database_bytes is not None and not str(database_bytes).isdigit():
            raise BadInput(f"--database-bytes: not a whole number of bytes: {database_bytes!r}")
        take = snapshot_step(settings["aws"], settings["maintenance"], reason=reason)
        report = take(None if database_bytes is None else int(database_bytes), dry_run=dry_run)
        print("\n".join(report.lines()))
        return 0

    return guarded(action)


def snapshot_step(aws: Section, options: Section, *, reason: str) -> SnapshotStep:
    """The snapshot with invoke.yaml's retention and timeout, every value checked before anything is done."""
    instance_id = aws["instance_id"] and validate.instance_id(aws["instance_id"])
    region = validate.region(aws["region"])
    kept = validate.kept(options["snapshots_kept"], "maintenance.snapshots_kept")
    timeout = _maintenance_seconds(options, "snapshot_timeout")

    def take(database_bytes: int | None, *, dry_run: bool = False) -> SnapshotReport:
        import boto3

        ec2 = boto3.client("ec2", region_name=region)
        return take_snapshot(
            ec2,
            instance_id=instance_id,
            reason=reason,
            database_bytes=database_bytes,
            kept=kept,
            timeout=timeout,
            dry_run=dry_run,
        )

    return take


def maintenance(
    settings: Section,
    *,
    root: Path,
    sha: str,
    host: str = "",
    dry_run: bool = False,
    polling: Polling | None = None,
) -> int:
    """Vacuum the MLflow store on the host in the image of `sha`, then snapshot its volume; `settings` holds
    invoke.yaml's image, aws, dispatch, host and maintenance."""

    def action() -> int:
        aws, options = settings["aws"], settings["maintenance"]
        job = maintenance_job(
            _image(settings["image"], full_sha(root, sha)),
            region=aws["region"],
            token_parameter=aws["token_parameter"],
            data_dir=settings["host"]["data_dir"],
            backups_kept=options["backups_kept"],
            lock_timeout=options["lock_timeout"],
            busy_timeout=options["busy_timeout"],
            health_url=options["health_url"],
            health_timeout=options["health_timeout"],
        )
        waits_key = "maintenance.lock_timeout (twice) + busy_timeout + health_timeout"
        timeout = execution_timeout(options, "maintenance", waits=job.longest_wait, waits_key=waits_key)
        remote = target(host, aws, settings["dispatch"], polling)
        take = snapshot_step(aws, options, reason="invoke maintenance")
        run = show_maintenance if dry_run else run_maintenance
        return run(job, remote, execution_timeout=timeout, snapshot=take)

    return guarded(action)


def _maintenance_seconds(options: Section, key: str) -> int:
    return validate.wait(options[key], f"maintenance.{key}")
