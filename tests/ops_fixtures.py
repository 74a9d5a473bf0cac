"""Fixtures shared by the ops tests (dispatch, maintenance): stand-in host commands, an SSM-managed instance, and
a real OpenSSH server on 127.0.0.1.

A conftest imports the fixtures it needs from here: `from tests.ops_fixtures import standins`.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse

from ops.commands import FAILURES
from ops.mlflow_server import free_port
from ops.settings import Settings, load_settings
from tests.conftest import HEAD_SHA, ROOT
from trainer.errors import guard

TOKEN = "ghp_TestTokenValue0123456789abcdefXYZ"
SHA = HEAD_SHA

# Each stand-in appends one JSON line per call to calls.jsonl in its folder. Behaviour is steered by files in
# that folder (so it works the same under sshd, whose environment the test does not control): <name>_exit holds
# an exit code, where name is the docker command (pull, run, ...), compose_<action> (compose_stop, ...) or the
# tool (aws, curl); `docker run` waits while hold_<FAKE_TAG> exists, then prints run_stdout if it exists.
_RECORDER = """#!{python}
import json, os, sys, time
from pathlib import Path

folder = Path({folder!r})
tool, argv = Path(sys.argv[0]).name, sys.argv[1:]
tag = os.environ.get("FAKE_TAG", "")


def record(event, **extra):
    config = os.environ.get("DOCKER_CONFIG")
    line = dict(tool=tool, argv=argv, tag=tag, event=event, docker_config=config, **extra)
    with open(folder / "calls.jsonl", "a") as log:
        log.write(json.dumps(line) + "\\n")


def setting(name, default=0):
    path = folder / name
    return int(path.read_text()) if path.exists() else default


if tool != "docker":
    name = tool
elif argv[0] == "compose":
    name = "compose_" + argv[-2]
else:
    name = argv[0]
if tool == "aws":
    record("call")
    print({token!r})
elif argv[0] == "login":
    secret = sys.stdin.read()
    record("call", stdin=secret)
    config = Path(os.environ["DOCKER_CONFIG"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.json").write_text(json.dumps({{"auths": {{argv[-1]: {{"auth": secret.strip()}}}}}}))
elif argv[0] == "run":
    record("start")
    hold = folder / ("hold_" + tag)
    deadline = time.monotonic() + 60
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    if (folder / "run_stdout").exists():
        print((folder / "run_stdout").read_text(), flush=True)
    record("end")
else:
    record("call")
sys.exit(setting(name + "_exit"))
"""
TOOLS = ("docker", "aws", "curl")


class Sleeps(list):
    """A `sleep` that records what it was asked to wait, and waits for nothing."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Standins:
    """The folder holding the stand-in commands, their call log and their behaviour files."""

    folder: Path
    token: str = TOKEN

    @property
    def path(self) -> str:
        return f"{self.folder}:{os.environ['PATH']}"

    def calls(self, tool: str | None = None) -> list[dict]:
        log = self.folder / "calls.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [call for call in map(json.loads, lines) if tool in (None, call["tool"])]

    def commands(self) -> list[list[str]]:
        """Every command line in the order they started, as [tool, *argv]."""
        return [[call["tool"], *call["argv"]] for call in self.calls() if call["event"] != "end"]

    def docker(self, command: str) -> list[dict]:
        return [call for call in self.calls("docker") if call["argv"][0] == command]

    def set(self, name: str, value: int | str) -> None:
        (self.folder / name).write_text(str(value))

    def start(self, script: str, tag: str = "") -> subprocess.Popen[str]:
        """bash running `script` with the stand-ins first on PATH."""
        env = {**os.environ, "PATH": self.path, "FAKE_TAG": tag}
        return subprocess.Popen(
            ["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


def invoke_yaml() -> dict:
    """invoke.yaml as invoke reads it (sections train, image, aws, dispatch, host, maintenance)."""
    return yaml.safe_load((ROOT / "invoke.yaml").read_text())


@pytest.fixture
def settings() -> dict:
    """invoke.yaml's sections, for a test to change."""
    return invoke_yaml()


def typed(settings: dict) -> Settings:
    """`settings` validated as the tasks validate invoke.yaml, with no INVOKE_* variable set."""
    return load_settings(settings, {})


def run_command(command: Callable[..., int], settings: dict, **flags: object) -> int:
    """An ops.commands function as its task runs it: settings validated first, every error one line, exit code."""
    return guard(lambda: command(typed(settings), **flags), FAILURES)


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    """Stand-in docker, aws and curl commands in tmp_path/bin."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS:
        path = folder / tool
        path.write_text(_RECORDER.format(python=sys.executable, folder=str(folder), token=TOKEN))
        path.chmod(0o755)
    return Standins(folder)


@pytest.fixture
def aws_session(monkeypatch) -> boto3.session.Session:
    """A fresh default boto3 session for the test, on which it can answer what moto cannot."""
    session = boto3.session.Session()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return session


@pytest.fixture
def managed_instance(aws_session: boto3.session.Session) -> Callable[[str], None]:
    """Make SSM list an instance as managed and Online: moto 5.2 does not implement DescribeInstanceInformation,
    so the default session answers that call itself, before it is sent."""

    def manage(instance_id: str) -> None:
        def answer(**_) -> tuple[AWSResponse, dict]:
            listing = [{"InstanceId": instance_id, "PingStatus": "Online", "PlatformType": "Linux"}]
            return AWSResponse(None, 200, {}, None), {"InstanceInformationList": listing}

        aws_session.events.register("before-call.ssm.DescribeInstanceInformation", answer)

    return manage


@pytest.fixture
def no_aws(monkeypatch) -> None:
    """Any AWS client made after a refusal fails the test."""

    def refuse(*_, **__):
        pytest.fail("an AWS client was made for refused input")

    monkeypatch.setattr(boto3, "client", refuse)


def shm_files_holding(secret: str) -> list[Path]:
    """Files under /dev/shm whose text holds `secret`."""
    found = []
    for path in Path("/dev/shm").rglob("*"):
        try:
            if path.is_file() and secret in path.read_text(errors="replace"):
                found.append(path)
        except OSError:
            continue
    return found


@dataclass
class SshServer:
    destination: str  # user@127.0.0.1:port
    host_key: str  # the server's public key line
    known_hosts: Path


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def ssh_server(tmp_path: Path, standins: Standins, monkeypatch) -> Iterator[SshServer]:
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
    host_key = keygen(server / "host_key")
    client_key = keygen(home / ".ssh" / "id_ed25519")
    (server / "authorized_keys").write_text(client_key + "\n")
    port = free_port()
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
