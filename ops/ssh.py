"""The same host scripts over SSH with fabric, for hosts outside SSM.

Host keys are checked against ~/.ssh/known_hosts (fabric alone accepts any key): an unknown host is refused,
so a first connection is a deliberate `ssh user@host` by a person. User, port and key come from the command
line and ~/.ssh/config as with ssh.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ops.transport import RemoteError, RemoteResult, exit_code
from trainer.errors import BadInput

_DESTINATION = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.-]*@)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?")


@dataclass(frozen=True)
class SshTarget:
    """A host reached over SSH (`user@host[:port]`), for teams with their own machine; build it with
    `ssh_target`, which checks the destination."""

    host: str

    def run(self, script: str, *, comment: str, execution_timeout: int, out: TextIO, err: TextIO) -> RemoteResult:
        return run_script(self.host, script, execution_timeout=execution_timeout, out=out, err=err)

    def describe(self, *, comment: str, execution_timeout: int) -> dict:
        return request(self.host, execution_timeout=execution_timeout)


def ssh_target(host: str, where: str = "--host") -> SshTarget:
    """An SshTarget for a --host flag; BadInput unless it is a plain destination (no option, no shell word)."""
    if not _DESTINATION.fullmatch(host):
        raise BadInput(f"{where}: {host!r} is not an SSH destination such as user@host or user@host:2222")
    return SshTarget(host)


def request(host: str, *, execution_timeout: int) -> dict:
    """What runs, for --dry-run: the script goes as one argument of `bash -c`, nothing through stdin."""
    return {"host": host, "command": "bash -c <script>", "timeout_s": execution_timeout}


def run_script(host: str, script: str, *, execution_timeout: int, out: TextIO, err: TextIO) -> RemoteResult:
    """Run `script` on `host` with bash, streaming its output; the result carries its exit code."""
    from fabric import Connection
    from invoke.exceptions import CommandTimedOut
    from paramiko import RejectPolicy, SSHException

    connection = Connection(host)
    known_hosts = Path(connection.ssh_config.get("userknownhostsfile", "~/.ssh/known_hosts").split()[0])
    if known_hosts.expanduser().is_file():
        connection.client.load_host_keys(str(known_hosts.expanduser()))
    connection.client.set_missing_host_key_policy(RejectPolicy())
    try:
        with connection:
            result = connection.run(
                f"bash -c {shlex.quote(script)}",
                warn=True,
                hide=False,
                in_stream=False,
                out_stream=out,
                err_stream=err,
                timeout=execution_timeout,
            )
    except CommandTimedOut:
        return RemoteResult(1, f"ssh {host}: TimedOut after {execution_timeout} s")
    except (SSHException, OSError) as error:
        hint = "; connect once with ssh to check and accept its key" if "known_hosts" in str(error) else ""
        raise RemoteError(f"ssh {host}: {error or type(error).__name__}{hint}") from error
    code = exit_code(result.exited)
    status = "Success" if code == 0 else "Failed"
    return RemoteResult(code, f"ssh {host}: {status}, exit code {result.exited}")
