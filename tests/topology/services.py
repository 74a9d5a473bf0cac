"""The host's compose services as processes on this machine, started from compose/docker-compose.yml itself.

Each service runs its own `command` and `environment` from the compose file, with the `.env` values that
Terraform writes filled in, its bind-mounted host folders mapped to test folders, and `0.0.0.0` (a container
binds all of its interfaces) replaced by the loopback address that stands for the compose network here. A
flag edited in the compose file is therefore the flag that runs in these tests.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
BIN = Path(sys.executable).parent
_VARIABLE = re.compile(r"\$\{(\w+)(?::\?[^}]*)?\}")


@dataclass(frozen=True)
class Compose:
    """compose/docker-compose.yml with the `.env` values filled in."""

    document: dict[str, Any]
    dotenv: Mapping[str, str]

    @classmethod
    def read(cls, dotenv: Mapping[str, str]) -> Compose:
        return cls(yaml.safe_load(COMPOSE_FILE.read_text()), dotenv)

    @property
    def network(self) -> str:
        return f"{self.document['name']}_default"

    def service(self, name: str) -> dict[str, Any]:
        return self.document["services"][name]

    def fill(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            if match[1] not in self.dotenv:
                raise KeyError(f"{COMPOSE_FILE}: ${{{match[1]}}} has no value in .env")
            return self.dotenv[match[1]]

        return _VARIABLE.sub(value, text)

    def command(self, name: str) -> list[str]:
        return [self.fill(str(word)) for word in self.service(name)["command"]]

    def environment(self, name: str) -> dict[str, str]:
        return {key: self.fill(str(value)) for key, value in (self.service(name).get("environment") or {}).items()}

    def binds(self, name: str) -> list[str]:
        """The container paths that the service bind-mounts from the host."""
        return [volume["target"] for volume in self.service(name).get("volumes", []) if volume["type"] == "bind"]

    def published_port(self, name: str) -> int:
        (mapping,) = self.service(name)["ports"]
        return int(str(mapping).split(":")[-1])


def loopback_with_free_port(port: int) -> str:
    """A 127.0.0.x address on which `port` is free: the compose network's address for one test session."""
    for last in range(2 + os.getpid() % 200, 255):
        address = f"127.0.0.{last}"
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
        return address
    raise RuntimeError(f"no loopback address with port {port} free")


@dataclass
class Service:
    """One compose service running as a local process."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(timeout=30)


def start(
    compose: Compose,
    name: str,
    *,
    host_dirs: Mapping[str, Path],
    address: str,
    aws_env: Mapping[str, str],
    log: Path,
) -> Service:
    """Start service `name`: the compose command with its binds mapped to `host_dirs` (container path -> test
    folder) and 0.0.0.0 to `address`; the environment is the compose file's plus the AWS credentials that the
    instance role gives the real container."""
    words = compose.command(name)
    for target in compose.binds(name):
        words = [word.replace(target, str(host_dirs[target])) for word in words]
    words = [word.replace("0.0.0.0", address) for word in words]
    executable = BIN / words[0]
    if not executable.exists():
        raise FileNotFoundError(f"{name}: {words[0]} is not installed beside {sys.executable}")
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(log.parent), **compose.environment(name), **aws_env}
    argv = [str(executable), *words[1:]]
    handle = log.open("ab")
    process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    handle.close()
    return Service(name, argv, process, log)


def wait_healthy(service: Service, url: str, host_header: str, timeout: float = 180) -> None:
    """Poll `url` with the Host header a client on the compose network sends, until it answers 200."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Host": host_header})
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited {service.process.returncode}: {service.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{service.name} not healthy at {url} after {timeout} s: {service.log.read_text()[-3000:]}")
