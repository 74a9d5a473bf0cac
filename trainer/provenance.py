"""Where the code came from: recorded as a tag, never hashed into the key; and the one way to ask git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_TIMEOUT = 10


def git_sha(root: Path) -> tuple[str, bool]:
    """(commit SHA, dirty): GIT_SHA from the environment, else git, else ("unknown", False)."""
    if sha := os.environ.get("GIT_SHA", "").strip():
        return sha, False
    try:
        head = git(root, "rev-parse", "HEAD")
        status = git(root, "status", "--porcelain", "--untracked-files=no")
    except OSError:
        return "unknown", False
    if head.returncode or status.returncode:
        return "unknown", False
    return head.stdout.strip(), bool(status.stdout.strip())


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`git -C root args` with its output captured as text; the caller reads the exit status.

    OSError when git is not installed, subprocess.TimeoutExpired when it hangs past GIT_TIMEOUT seconds.
    """
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT)
