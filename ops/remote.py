"""Run a rendered host script on the training host, through any `Target` (SSM Run Command or SSH).

`run_remote` is the one entry point: any host script (training, maintenance) goes through it, so every
remote run gets the same output handling, final status line and exit code.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from ops.transport import RemoteResult, Target


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
    return target.run(
        script, comment=comment, execution_timeout=execution_timeout, out=out or sys.stdout, err=err or sys.stderr
    )


def show(script: str, target: Target, *, comment: str, execution_timeout: int) -> None:
    """What --dry-run prints: the script and the request that would run it."""
    print(script)
    print(json.dumps(target.describe(comment=comment, execution_timeout=execution_timeout), indent=2))


def run_or_show(script: str, target: Target, *, comment: str, execution_timeout: int, dry_run: bool = False) -> int:
    """What a task does with a host script: run it and print how it ended, or with dry_run `show` it; returns
    the exit code."""
    if dry_run:
        show(script, target, comment=comment, execution_timeout=execution_timeout)
        return 0
    result = run_remote(script, target, comment=comment, execution_timeout=execution_timeout)
    print(result.summary, file=sys.stderr if result.exit_code else sys.stdout)
    return result.exit_code
