"""What every way of reaching the host shares: the Target interface, its result and its error.

A target runs a rendered host script and says how it ended, or describes the request for --dry-run. SSM Run
Command (ops/ssm.py) and SSH (ops/ssh.py) are the two; ops/remote.py runs any of them the same way. This module
imports neither, so they import it without a circle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO

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


class Target(Protocol):
    """A host that runs bash scripts."""

    def run(self, script: str, *, comment: str, execution_timeout: int, out: TextIO, err: TextIO) -> RemoteResult:
        """Run `script`, streaming its output to `out` and `err`; RemoteError when it could not be started."""
        ...

    def describe(self, *, comment: str, execution_timeout: int) -> dict:
        """What would be sent, for --dry-run, with the script itself left out (it is printed whole beside it)."""
        ...


def exit_code(code: int | None) -> int:
    """A remote exit status as a local one: 0-255 pass through, anything else (-1: never ran) becomes 1."""
    return code if code is not None and 0 <= code <= 255 else 1
