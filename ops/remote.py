"""Run a rendered host script on the training host, over SSM Run Command (the default) or SSH.

`run_remote` is the one entry point: any host script (training, maintenance) goes through it, so every
remote run gets the same checks, output handling, final status line and exit code.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ops.errors import OpsError


class RemoteError(OpsError):
    """The script could not be run at all (host not reachable, not managed, no answer); exit code 1."""


@dataclass(frozen=True)
class RemoteResult:
    """How a remote run ended: the exit code to pass on and one line naming the final status."""

    exit_code: int
    summary: str


@dataclass(frozen=True)
class Polling:
    """How SSM is polled; `sleep` and `clock` are parameters so that a replayed run need not wait."""

    interval: float = 10.0
    not_found_delays: tuple[float, ...] = (1, 2, 4, 8, 8, 8, 8, 8)  # InvocationDoesNotExist backoff, ~47 s
    sleep: Callable[[float], object] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class SsmTarget:
    """An instance managed by SSM; output goes to CloudWatch too when a log group is named."""

    instance_id: str
    region: str
    log_group: str = ""
    polling: Polling = field(default_factory=Polling)


@dataclass(frozen=True)
class SshTarget:
    """A host reached over SSH (`user@host[:port]`), for teams with their own machine."""

    host: str


Target = SsmTarget | SshTarget


def describe_request(target: Target, *, comment: str, execution_timeout: int) -> dict:
    """What would be sent, for --dry-run, with the script itself left out (it is printed whole beside it)."""
    if isinstance(target, SshTarget):
        from ops import ssh

        return ssh.request(target.host, execution_timeout=execution_timeout)
    from ops import ssm

    return ssm.request(
        target.instance_id,
        "<the host script>",
        comment=comment,
        execution_timeout=execution_timeout,
        log_group=target.log_group,
    )


def run_remote(
    script: str,
    target: Target,
    *,
    comment: str,
    execution_timeout: int,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> RemoteResult:
    """Run `script` with bash on the target, print its output, and say how it ended.

    The exit code is the script's own when it ran to an end (0 on success), else 1. Raises RemoteError when
    the script could not be started.
    """
    out, err = out or sys.stdout, err or sys.stderr
    if isinstance(target, SshTarget):
        from ops import ssh

        return ssh.run_script(target.host, script, execution_timeout=execution_timeout, out=out, err=err)
    import boto3

    from ops import ssm

    client = boto3.client("ssm", region_name=target.region)
    return ssm.run_script(
        client,
        target.instance_id,
        script,
        comment=comment,
        execution_timeout=execution_timeout,
        log_group=target.log_group,
        polling=target.polling,
        out=out,
        err=err,
    )


def show(script: str, target: Target, *, comment: str, execution_timeout: int) -> None:
    """What --dry-run prints: the script and the request that would run it."""
    print(script)
    print(json.dumps(describe_request(target, comment=comment, execution_timeout=execution_timeout), indent=2))


def run_or_show(script: str, target: Target, *, comment: str, execution_timeout: int, dry_run: bool = False) -> int:
    """What a task does with a host script: run it and print how it ended, or with dry_run `show` it; returns
    the exit code."""
    if dry_run:
        show(script, target, comment=comment, execution_timeout=execution_timeout)
        return 0
    result = run_remote(script, target, comment=comment, execution_timeout=execution_timeout)
    print(result.summary, file=sys.stderr if result.exit_code else sys.stdout)
    return result.exit_code


def exit_code(code: int | None) -> int:
    """A remote exit status as a local one: 0-255 pass through, anything else (-1: never ran) becomes 1."""
    return code if code is not None and 0 <= code <= 255 else 1
