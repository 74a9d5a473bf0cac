"""Dispatch over SSH with fabric, against a real OpenSSH server on 127.0.0.1 with a throw-away key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import commands
from tests.ops_fixtures import SHA, keygen, run_command


@pytest.fixture
def settings(settings: dict, tmp_path: Path) -> dict:
    """invoke.yaml, with the host's data folder (the lock's home) in tmp_path."""
    settings["host"]["data_dir"] = str(tmp_path)
    return settings


def test_dispatch_over_ssh_runs_the_host_script(ssh_server, standins, settings, project_root, capsys):
    code = run_command(
        commands.dispatch, settings, root=project_root, sha=SHA, configs=["rf"], host=ssh_server.destination
    )

    shown = capsys.readouterr()
    assert code == 0, shown.err
    assert "training container exited 0" in shown.out
    assert shown.out.strip().endswith(f"ssh {ssh_server.destination}: Success, exit code 0")
    (login,) = standins.docker("login")
    assert login["stdin"].strip() == standins.token
    assert not Path(login["docker_config"]).exists()
    start, _ = standins.docker("run")
    assert start["argv"][:6] == ["run", "--rm", "--pull", "never", "--network", "mlflow_default"]
    assert "MLFLOW_TRACKING_URI=http://mlflow:5000" in start["argv"]
    assert start["argv"][-2:] == ["--config", "configs/rf.yaml"]
    assert all(standins.token not in " ".join(call["argv"]) for call in standins.calls())


def test_the_container_exit_code_comes_back_over_ssh(ssh_server, standins, settings, project_root, capsys):
    standins.set("run_exit", 3)

    code = run_command(commands.dispatch, settings, root=project_root, sha=SHA, host=ssh_server.destination)

    assert code == 3
    assert capsys.readouterr().err.splitlines()[-1] == f"ssh {ssh_server.destination}: Failed, exit code 3"


@pytest.mark.parametrize(
    ("known", "reason"),
    [
        ("", "not found in known_hosts; connect once with ssh to check and accept its key"),
        ("[127.0.0.1]:{port} ssh-ed25519 {other}", "Host key for server '127.0.0.1' does not match"),
    ],
)
def test_an_unknown_or_changed_host_key_is_refused(ssh_server, standins, settings, project_root, capsys, known, reason):
    port = ssh_server.destination.rsplit(":", 1)[1]
    other = keygen(ssh_server.known_hosts.parent / "other").split()[1]
    ssh_server.known_hosts.write_text(known.format(port=port, other=other))

    code = run_command(commands.dispatch, settings, root=project_root, sha=SHA, host=ssh_server.destination)

    errors = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(errors) == 1 and errors[0].startswith(f"error: ssh {ssh_server.destination}: ")
    assert reason in errors[0]
    assert standins.calls() == []
