"""Dispatch over SSH with fabric, against a real OpenSSH server on 127.0.0.1 with a throw-away key."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops import cli

SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class SshServer:
    destination: str  # user@127.0.0.1:port
    host_key: str  # the server's public key line
    known_hosts: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def ssh_server(tmp_path: Path, standins, monkeypatch) -> Iterator[SshServer]:
    """sshd on a free loopback port, the stand-ins first on its PATH; HOME (here and in the sessions, so no
    ~/.bashrc of this machine's user reorders PATH) holds a fresh ~/.ssh with the client key and the server's
    host key, as a person's would after a first `ssh` to the host."""
    sshd = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin")
    if not sshd or not shutil.which("ssh-keygen"):
        pytest.skip("OpenSSH server not installed (Debian: apt-get install openssh-server)")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder, made by its service unit
    server = tmp_path / "sshd"
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    server.mkdir()
    host_key = _keygen(server / "host_key")
    client_key = _keygen(home / ".ssh" / "id_ed25519")
    (server / "authorized_keys").write_text(client_key + "\n")
    port = _free_port()
    (server / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {server / 'host_key'}\n"
        f"AuthorizedKeysFile {server / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {server / 'sshd.pid'}\n"
        f"SetEnv PATH={standins.path} HOME={home}\n"
    )
    known_hosts = home / ".ssh" / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
    log = (server / "sshd.log").open("w")
    process = subprocess.Popen([sshd, "-D", "-e", "-f", str(server / "sshd_config")], stderr=log)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sshd did not start: {(server / 'sshd.log').read_text()}")
            time.sleep(0.05)
    monkeypatch.setenv("HOME", str(home))
    try:
        yield SshServer(f"{getpass.getuser()}@127.0.0.1:{port}", host_key, known_hosts)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def settings(settings: dict, tmp_path: Path) -> dict:
    """invoke.yaml, with the host's data folder (the lock's home) in tmp_path."""
    settings["host"]["data_dir"] = str(tmp_path)
    return settings


def test_dispatch_over_ssh_runs_the_host_script(ssh_server, standins, settings, project_root, capsys):
    code = cli.dispatch(settings, root=project_root, sha=SHA, configs=["rf"], host=ssh_server.destination)

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

    code = cli.dispatch(settings, root=project_root, sha=SHA, host=ssh_server.destination)

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
    other = _keygen(ssh_server.known_hosts.parent / "other").split()[1]
    ssh_server.known_hosts.write_text(known.format(port=port, other=other))

    code = cli.dispatch(settings, root=project_root, sha=SHA, host=ssh_server.destination)

    errors = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(errors) == 1 and errors[0].startswith(f"ssh {ssh_server.destination}: ")
    assert reason in errors[0]
    assert standins.calls() == []
