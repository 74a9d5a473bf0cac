"""Where the code came from: recorded as a tag, never hashed into the key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_sha(root: Path) -> tuple[str, bool]:
    """(commit SHA, dirty): GIT_SHA from the environment, else git, else ("unknown", False)."""
    if sha := os.environ.get("GIT_SHA", "").strip():
        return sha, False
    try:
        sha = _git(root, "rev-parse", "HEAD")
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return sha, dirty


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()
