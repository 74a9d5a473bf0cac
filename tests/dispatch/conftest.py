"""Stand-in `docker` and `aws` commands that record every call, and helpers to render and run host scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ops.dispatch import TrainJob, train_job
from ops.images import image_ref

TOKEN = "ghp_TestTokenValue0123456789abcdefXYZ"
SHA = "0123456789abcdef0123456789abcdef01234567"

# Each stand-in appends one JSON line per call to calls.jsonl in its folder. Behaviour is steered by files in
# that folder (so it works the same under sshd, whose environment the test does not control):
# <docker command>_exit (pull_exit, run_exit, ...) holds an exit code; `docker run` waits while
# hold_<FAKE_TAG> exists.
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
    record("end")
else:
    record("call")
sys.exit(setting(argv[0] + "_exit") if tool == "docker" else 0)
"""


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


@pytest.fixture
def standins(tmp_path: Path) -> Standins:
    """Stand-in docker and aws commands in tmp_path/bin."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("docker", "aws"):
        path = folder / tool
        path.write_text(_RECORDER.format(python=sys.executable, folder=str(folder), token=TOKEN))
        path.chmod(0o755)
    return Standins(folder)


def _job(data_dir: Path, *, configs: tuple[str, ...] = (), lock_timeout: int = 30) -> TrainJob:
    """A training job as invoke.yaml's defaults make it, with the lock in `data_dir`."""
    return train_job(
        image_ref("ghcr.io", "ai-drug", "ai-drug-trainer", SHA),
        configs,
        region="eu-west-1",
        token_parameter="/ghcr/ro-token",
        data_dir=str(data_dir),
        lock_timeout=lock_timeout,
        network="mlflow_default",
        tracking_uri="http://mlflow:5000",
    )


@pytest.fixture
def make_job() -> Callable[..., TrainJob]:
    return _job


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Poll until `condition` holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def wait_for() -> Callable[..., None]:
    return _wait_for


@pytest.fixture
def settings(project_root: Path) -> dict:
    """invoke.yaml as the tasks read it (sections image, aws, dispatch, host, ...)."""
    return yaml.safe_load((project_root / "invoke.yaml").read_text())
