"""`invoke maintenance`: compact the MLflow store on the host, then snapshot the EBS volume that holds it.

The snapshot is taken after the host script ended, and only when it succeeded, so that it holds the compacted
file whose integrity the vacuum has just checked, with MLflow running on it again.
"""

from __future__ import annotations

import io
import sys
from typing import Protocol, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ops.ebs_snapshots import APP_TAG, ROLE_TAG, SnapshotReport
from ops.errors import OpsError
from ops.maintenance_job import MaintenanceJob
from ops.remote import run_remote, show
from ops.transport import Target
from ops.vacuum import REPORT_MARKER, VacuumReport


class SnapshotStep(Protocol):
    """Takes the snapshot, tagged with the database's size, or with dry_run says what it would do."""

    def __call__(self, database_bytes: int | None, *, dry_run: bool = False) -> SnapshotReport: ...


class _Echo(io.StringIO):
    """Passes the remote output on as it comes and keeps a copy, to read the vacuum's report from."""

    def __init__(self, stream: TextIO):
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(text)
        return super().write(text)

    def flush(self) -> None:
        self._stream.flush()


def run_maintenance(job: MaintenanceJob, target: Target, *, execution_timeout: int, snapshot: SnapshotStep) -> int:
    """Run the host script, then snapshot; print the summary. OpsError, with the remote exit code, when the host
    script did not succeed: no snapshot is taken then. A failed snapshot raises its own error after the vacuum's
    part of the summary, which says where the backup is."""
    output = _Echo(sys.stdout)
    result = run_remote(job.script(), target, comment=job.comment(), execution_timeout=execution_timeout, out=output)
    if result.exit_code:
        raise OpsError(f"host maintenance did not succeed ({result.summary}); no snapshot taken", result.exit_code)
    print(result.summary)
    try:
        vacuum = VacuumReport.from_output(output.getvalue())
    except ValueError:
        raise OpsError(
            f"host maintenance succeeded but its output holds no '{REPORT_MARKER}' line ({result.summary}); "
            "no snapshot taken"
        ) from None
    print("maintenance summary:", *vacuum.lines(), sep="\n", flush=True)
    print(*snapshot(vacuum.bytes_after).lines(), sep="\n")
    return 0


def show_maintenance(job: MaintenanceJob, target: Target, *, execution_timeout: int, snapshot: SnapshotStep) -> int:
    """--dry-run: the host script, the request, and what the snapshot would create and delete now."""
    show(job.script(), target, comment=job.comment(), execution_timeout=execution_timeout)
    try:
        plan = snapshot(None, dry_run=True).lines()
    except (BotoCoreError, ClientError) as err:
        plan = [
            f"snapshot the volume tagged {APP_TAG[0]}={APP_TAG[1]}, {ROLE_TAG[0]}={ROLE_TAG[1]}; which older snapshots"
            f" retention deletes cannot be listed here ({err}); the real run needs AWS credentials for EC2"
        ]
    print("after a successful vacuum:", *plan, sep="\n")
    return 0
