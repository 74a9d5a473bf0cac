"""The host maintenance script, run by bash with stand-in docker and curl that record their argv."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.host_maintenance import render_host_maintenance, render_template
from ops.vacuum import VacuumReport

IMAGE = "ghcr.io/ai-drug/ai-drug-trainer:0123abc"
HEALTH = "http://localhost:5000/health"
STOP = ["docker", "compose", "-p", "mlflow", "stop", "mlflow"]
START = ["docker", "compose", "-p", "mlflow", "start", "mlflow"]
CURL = ["curl", "-fsS", "--max-time", "5", "-o", "/dev/null", HEALTH]
REPORT = (
    'vacuum-report {"backup": "b", "backups_deleted": [], "bytes_after": 10, "bytes_before": 30, '
    '"db": "d", "integrity": "ok", "seconds": 0.5}'
)

STAND_IN = f"""#!{sys.executable}
import json, os, sys
name = os.path.basename(sys.argv[0])
with open(os.environ["STANDIN_LOG"], "a") as log:
    log.write(json.dumps([name, *sys.argv[1:]]) + "\\n")
if name == "curl":
    sys.exit(int(os.environ.get("STANDIN_CURL_EXIT", "0")))
if sys.argv[1] == "run":
    print({REPORT!r} if os.environ.get("STANDIN_VACUUM_EXIT", "0") == "0" else "", flush=True)
    sys.exit(int(os.environ.get("STANDIN_VACUUM_EXIT", "0")))
if sys.argv[-2:] == ["stop", "mlflow"]:
    sys.exit(int(os.environ.get("STANDIN_STOP_EXIT", "0")))
"""


def render(**overrides: object) -> str:
    settings = {
        "image": IMAGE,
        "data_dir": "/opt/mlflow",
        "backups_kept": 4,
        "lock_timeout": 600,
        "busy_timeout": 7,
        "health_url": HEALTH,
        "health_timeout": 120,
    }
    return render_host_maintenance(**(settings | overrides))


@dataclass
class Host:
    data_dir: Path
    bin_dir: Path
    log: Path

    @property
    def db(self) -> Path:
        return self.data_dir / "mlruns.db"

    def run(self, image: str = IMAGE, health_timeout: int = 5, **exits: int) -> subprocess.CompletedProcess:
        """Render the script for this host, run it with bash; `exits` set the stand-ins' exit codes."""
        script = self.bin_dir.parent / "maintenance.sh"
        script.write_text(
            render(image=image, data_dir=str(self.data_dir), lock_timeout=0, health_timeout=health_timeout)
        )
        env = {**os.environ, "PATH": f"{self.bin_dir}:{os.environ['PATH']}", "STANDIN_LOG": str(self.log)}
        env |= {f"STANDIN_{name.upper()}_EXIT": str(code) for name, code in exits.items()}
        return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    """A data folder whose name needs quoting, holding a store, and stand-ins on PATH."""
    data_dir = tmp_path / "mlflow data's $HOME"
    data_dir.mkdir()
    (data_dir / "mlruns.db").write_bytes(b"SQLite format 3\x00")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "curl"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    return Host(data_dir, bin_dir, tmp_path / "calls.jsonl")


def vacuum_call(host: Host, image: str = IMAGE) -> list[str]:
    stat = host.db.stat()
    return [
        "docker", "run", "--rm", "--pull", "never",
        "--user", f"{stat.st_uid}:{stat.st_gid}",
        "--volume", f"{host.data_dir}:{host.data_dir}",
        "--env", "INVOKE_MAINTENANCE_BACKUPS_KEPT=4",
        "--env", "INVOKE_MAINTENANCE_LOCK_TIMEOUT=0",
        "--env", "INVOKE_MAINTENANCE_BUSY_TIMEOUT=7",
        "--workdir", "/app", "--entrypoint", "invoke",
        image, "maintenance.vacuum", "--db", str(host.db), "--json",
    ]  # fmt: skip


def test_stops_vacuums_starts_and_passes_the_report_through(host: Host):
    if os.geteuid() == 0:  # a store owned by another user, as where MLflow runs as non-root
        os.chown(host.db, 4321, 4321)

    result = host.run()

    assert result.returncode == 0, result.stderr
    assert host.calls() == [STOP, vacuum_call(host), START, CURL]
    lock, db = (host.data_dir / "train.lock").stat(), host.db.stat()
    assert (lock.st_uid, lock.st_gid) == (db.st_uid, db.st_gid)
    report = VacuumReport.from_output(result.stdout)
    assert (report.bytes_before, report.bytes_after, report.integrity) == (30, 10, "ok")


@pytest.mark.parametrize("status", [1, 2])
def test_mlflow_is_started_again_after_a_failed_vacuum(host: Host, status: int):
    result = host.run(vacuum=status)

    assert result.returncode == status
    assert host.calls() == [STOP, vacuum_call(host), START, CURL]


@pytest.mark.parametrize(("vacuum", "expected"), [(0, 1), (2, 2)])
def test_mlflow_not_healthy_again_fails_the_run(host: Host, vacuum: int, expected: int):
    result = host.run(vacuum=vacuum, curl=7, health_timeout=0)

    assert result.returncode == expected
    assert host.calls() == [STOP, vacuum_call(host), START, CURL]
    assert result.stderr.strip().endswith(f"mlflow did not answer {HEALTH} within 0 s after the vacuum")


def test_no_vacuum_when_mlflow_does_not_stop(host: Host):
    result = host.run(stop=1)

    assert result.returncode == 1
    assert host.calls() == [STOP, START, CURL]


def test_waits_for_a_running_training_before_stopping_anything(host: Host):
    with (host.data_dir / "train.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = host.run()

    assert result.returncode == 1
    assert host.calls() == []
    assert result.stderr.strip() == (
        f"a training still holds {host.data_dir}/train.lock after 0 s; nothing was stopped"
    )


def test_missing_store_stops_nothing(host: Host):
    host.db.unlink()

    result = host.run()

    assert (result.returncode, host.calls()) == (2, [])
    assert result.stderr.strip() == f"{host.db} does not exist; nothing was stopped"


def test_values_reach_docker_as_single_words(host: Host, tmp_path: Path):
    hostile = f"img$(touch {tmp_path}/pwned)'; touch {tmp_path}/pwned2 #"

    result = host.run(image=hostile)

    assert result.returncode == 0, result.stderr
    assert host.calls()[1] == vacuum_call(host, image=hostile)
    assert not list(tmp_path.glob("pwned*"))


def test_rendered_script_passes_shellcheck():
    script = render()
    shellcheck = Path(sys.executable).with_name("shellcheck")
    result = subprocess.run([str(shellcheck), "-"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_every_placeholder_needs_a_value_and_every_value_a_placeholder():
    with pytest.raises(ValueError, match=r"without values \['B'\], values without placeholders \['C'\]"):
        render_template("{{A}} {{B}}", {"A": 1, "C": 2})
    assert render_template("x={{A}}", {"A": "a b"}) == "x='a b'"


def test_a_relative_data_dir_is_bad_input():
    from trainer.errors import BadInput

    with pytest.raises(BadInput, match=r"host\.data_dir: must be an absolute path on the host"):
        render(data_dir="opt/mlflow")
