"""The host maintenance script, run by bash with stand-in docker, aws and curl that record every call."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.host_pull import ImagePull
from ops.hostscript import TEMPLATES
from ops.images import ImageRef
from ops.maintenance_job import MaintenanceJob, maintenance_job
from ops.training_job import train_job
from ops.vacuum import VacuumReport
from tests.ops_fixtures import SHA, Standins, invoke_yaml, shm_files_holding, typed
from trainer.errors import BadInput

IMAGE = f"ghcr.io/ai-drug/ai-drug-trainer:{SHA}"
HEALTH = "http://localhost:5000/health"
FETCH = [
    *("aws", "ssm", "get-parameter", "--region", "eu-west-1", "--name", "/ghcr/ro-token", "--with-decryption"),
    *("--query", "Parameter.Value", "--output", "text"),
]
LOGIN = ["docker", "login", "--username", "ai-drug", "--password-stdin", "ghcr.io"]
PULL = ["docker", "pull", "--quiet", IMAGE]
STOP = ["docker", "compose", "-p", "mlflow", "stop", "mlflow"]
START = ["docker", "compose", "-p", "mlflow", "start", "mlflow"]
CURL = ["curl", "-fsS", "--max-time", "5", "-o", "/dev/null", HEALTH]
REPORT = (
    'vacuum-report {"backup": "b", "backups_deleted": [], "bytes_after": 10, "bytes_before": 30, '
    '"db": "d", "integrity": "ok", "seconds": 0.5}'
)


IMAGE_REF = ImageRef("ghcr.io", "ai-drug", "ai-drug-trainer", SHA)
SECTIONS = {"region": "aws", "data_dir": "host"}  # of the keys a test changes; the others are maintenance's


def job(data_dir: Path | str, **overrides: object) -> MaintenanceJob:
    """The job as invoke.yaml's defaults make it, for the store in `data_dir`, waiting for nothing."""
    settings = invoke_yaml()
    settings["maintenance"].update(backups_kept=4, lock_timeout=0, busy_timeout=7, health_timeout=5)
    for key, value in {"data_dir": str(data_dir), **overrides}.items():
        settings[SECTIONS.get(key, "maintenance")][key] = value
    return maintenance_job(IMAGE_REF, typed(settings))


@dataclass
class Host:
    data_dir: Path
    standins: Standins

    @property
    def db(self) -> Path:
        return self.data_dir / "mlruns.db"

    def run(self, script: str | None = None, **exits: int) -> subprocess.CompletedProcess[str]:
        """Run the script (by default this host's job) with bash; `exits` set the stand-ins' exit codes."""
        for name, code in exits.items():
            self.standins.set(f"{name}_exit", code)
        process = self.standins.start(script or job(self.data_dir).script())
        out, err = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def commands(self) -> list[list[str]]:
        return self.standins.commands()


@pytest.fixture
def host(tmp_path: Path, standins: Standins) -> Host:
    """A data folder holding a store, and the stand-ins; a successful vacuum prints its report line."""
    data_dir = tmp_path / "mlflow"
    data_dir.mkdir()
    (data_dir / "mlruns.db").write_bytes(b"SQLite format 3\x00")
    standins.set("run_stdout", REPORT)
    return Host(data_dir, standins)


def vacuum_call(host: Host, image: str = IMAGE, data_dir: Path | None = None) -> list[str]:
    data_dir = data_dir or host.data_dir
    stat = (data_dir / "mlruns.db").stat()
    return [
        "docker", "run", "--rm", "--pull", "never",
        "--user", f"{stat.st_uid}:{stat.st_gid}",
        "--volume", f"{data_dir}:{data_dir}",
        "--env", "INVOKE_MAINTENANCE_BACKUPS_KEPT=4",
        "--env", "INVOKE_MAINTENANCE_LOCK_TIMEOUT=0",
        "--env", "INVOKE_MAINTENANCE_BUSY_TIMEOUT=7",
        "--workdir", "/app", "--entrypoint", "invoke",
        image, "maintenance.vacuum", "--db", str(data_dir / "mlruns.db"), "--json",
    ]  # fmt: skip


def test_pulls_then_stops_vacuums_starts_and_passes_the_report_through(host: Host):
    if os.geteuid() == 0:  # a store owned by another user, as where MLflow runs as non-root
        os.chown(host.db, 4321, 4321)

    result = host.run()

    assert result.returncode == 0, result.stderr
    assert host.commands() == [FETCH, LOGIN, PULL, STOP, vacuum_call(host), START, CURL]
    lock, db = (host.data_dir / "train.lock").stat(), host.db.stat()
    assert (lock.st_uid, lock.st_gid) == (db.st_uid, db.st_gid)
    report = VacuumReport.from_output(result.stdout)
    assert (report.bytes_before, report.bytes_after, report.integrity) == (30, 10, "ok")


def test_the_token_reaches_docker_only_on_stdin_and_the_login_is_gone_before_the_stop(host: Host):
    result = host.run()

    assert result.returncode == 0, result.stderr
    token = host.standins.token
    (login,) = host.standins.docker("login")
    assert login["stdin"].strip() == token
    assert all(token not in " ".join(command) for command in host.commands())
    assert token not in result.stdout and token not in result.stderr
    (pull,) = host.standins.docker("pull")
    assert pull["docker_config"] == login["docker_config"]
    assert not Path(login["docker_config"]).exists()
    assert shm_files_holding(token) == []
    later = [call for call in host.standins.calls("docker") if call["argv"][0] in ("compose", "run")]
    assert later and all(call["docker_config"] is None for call in later)


@pytest.mark.parametrize("status", [1, 2])
def test_mlflow_is_started_again_after_a_failed_vacuum(host: Host, status: int):
    host.standins.folder.joinpath("run_stdout").unlink()

    result = host.run(run=status)

    assert result.returncode == status
    assert host.commands() == [FETCH, LOGIN, PULL, STOP, vacuum_call(host), START, CURL]
    assert "vacuum-report" not in result.stdout


@pytest.mark.parametrize(("vacuum", "expected"), [(0, 1), (2, 2)])
def test_mlflow_not_healthy_again_fails_the_run(host: Host, vacuum: int, expected: int):
    result = host.run(job(host.data_dir, health_timeout=0).script(), run=vacuum, curl=7)

    assert result.returncode == expected
    assert host.commands() == [FETCH, LOGIN, PULL, STOP, vacuum_call(host), START, CURL]
    assert result.stderr.strip().endswith(f"mlflow did not answer {HEALTH} within 0 s after the vacuum")


def test_no_vacuum_when_mlflow_does_not_stop(host: Host):
    result = host.run(compose_stop=1)

    assert result.returncode == 1
    assert host.commands() == [FETCH, LOGIN, PULL, STOP, START, CURL]


def test_a_failed_pull_stops_nothing_and_removes_the_login(host: Host):
    result = host.run(pull=7)

    assert result.returncode == 7
    assert host.commands() == [FETCH, LOGIN, PULL]
    assert not Path(host.standins.docker("login")[0]["docker_config"]).exists()
    assert shm_files_holding(host.standins.token) == []


def test_waits_for_a_running_training_before_stopping_anything(host: Host):
    with (host.data_dir / "train.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = host.run()

    assert result.returncode == 1
    assert host.commands() == [FETCH, LOGIN, PULL]
    assert result.stderr.strip() == f"a training still holds {host.data_dir}/train.lock after 0 s; nothing was stopped"


def test_missing_store_pulls_and_stops_nothing(host: Host):
    host.db.unlink()

    result = host.run()

    assert (result.returncode, host.commands()) == (2, [])
    assert result.stderr.strip() == f"{host.db} does not exist; nothing was stopped"


def test_values_reach_docker_as_single_words(host: Host, tmp_path: Path):
    """Quoting is the second defence, after validation: even unvalidated values stay inert."""
    data_dir = tmp_path / "mlflow data's $HOME $(touch pwned)"
    data_dir.mkdir()
    (data_dir / "mlruns.db").write_bytes(b"SQLite format 3\x00")
    name = f"img$(touch {tmp_path}/pwned)'; touch {tmp_path}/pwned2 #"
    pull = ImagePull(ImageRef("ghcr.io", "ai-drug", name, SHA), "eu-west-1", "/ghcr/ro-token")
    hostile = MaintenanceJob(pull, str(data_dir), 4, 0, 7, HEALTH, 5)

    result = host.run(hostile.script())

    assert result.returncode == 0, result.stderr
    assert host.commands()[4] == vacuum_call(host, image=pull.image.tag, data_dir=data_dir)
    assert not list(tmp_path.rglob("pwned*"))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("data_dir", "opt/mlflow", "invoke.yaml: host.data_dir: 'opt/mlflow' is not an absolute path"),
        ("data_dir", "/opt/$(id)", "invoke.yaml: host.data_dir: '/opt/$(id)' is not an absolute path"),
        ("health_url", "http://localhost:5000/$(id)", "invoke.yaml: maintenance.health_url: "),
        ("backups_kept", 0, "invoke.yaml: maintenance.backups_kept: 0 is not a whole number from 1 to 1000"),
        ("lock_timeout", "60; id", "invoke.yaml: maintenance.lock_timeout: '60; id' is not a whole number of seconds"),
        ("region", "eu-west-1 && id", "invoke.yaml: aws.region: "),
    ],
)
def test_hostile_or_wrong_values_are_bad_input(tmp_path: Path, key: str, value: object, message: str):
    with pytest.raises(BadInput) as refused:
        job(**{"data_dir": tmp_path, key: value})
    assert str(refused.value).startswith(message)


def test_rendered_script_passes_shellcheck(tmp_path: Path):
    shellcheck = Path(sys.executable).with_name("shellcheck")
    result = subprocess.run([str(shellcheck), "-"], input=job(tmp_path).script(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_both_host_scripts_log_in_and_pull_with_the_one_shared_fragment(tmp_path: Path):
    fragment = (TEMPLATES / "host_pull.sh").read_text().rstrip("\n")
    settings = invoke_yaml()
    settings["host"]["data_dir"] = str(tmp_path)
    training = train_job(IMAGE_REF, (), typed(settings))
    for script in (training.script(), job(tmp_path).script()):
        assert script.count(fragment) == 1
        assert "# @" not in script
        assert script.count("docker login") == 1
