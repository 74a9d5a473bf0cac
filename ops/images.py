"""`invoke build` and `invoke push`: the training image, tagged with the commit it was built from.

Logging in to the registry is the caller's business (CI logs in with its own token before `push`).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ops.errors import OpsError
from ops.settings import ImageSettings
from trainer.errors import BadInput
from trainer.provenance import git

_SHA = re.compile(r"[0-9a-f]{7,40}")


@dataclass(frozen=True)
class ImageRef:
    """registry/owner/name:sha; build it with `image_ref`, from validated settings and a checked SHA."""

    registry: str
    owner: str
    name: str
    sha: str

    @property
    def tag(self) -> str:
        return f"{self.registry}/{self.owner}/{self.name}:{self.sha}"


def image_ref(image: ImageSettings, sha: str) -> ImageRef:
    return ImageRef(image.registry, image.owner, image.name, commit_sha(sha))


def commit_sha(value: str, where: str = "--sha") -> str:
    """A git commit SHA, 7 to 40 hex digits; lowercased, as git prints it."""
    sha = str(value).strip().lower()
    if not _SHA.fullmatch(sha):
        raise BadInput(f"{where}: {sha!r} is not a git commit SHA (7 to 40 hex characters)")
    return sha


def head_sha(root: Path) -> str:
    """The checked-out commit of `root`; BadInput when it is not a git checkout."""
    found = git(root, "rev-parse", "HEAD")
    if found.returncode:
        raise BadInput(f"--sha: {root} is not a git checkout ({found.stderr.strip()}); pass --sha")
    return found.stdout.strip()


def full_sha(root: Path, sha: str) -> str:
    """`sha` validated and spelt out in full, so that a short SHA names the same tag as the full one that `build`
    and CI use; BadInput when `root` is a git checkout that has no such commit (no image was built for it)."""
    sha = commit_sha(sha)
    found = git(root, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}")
    if found.returncode == 0:
        return found.stdout.strip()
    if git(root, "rev-parse", "--git-dir").returncode == 0:
        raise BadInput(f"--sha: {sha} is not a commit of {root} (fetch it, or pass a commit that CI built)")
    return sha


def dirty_files(root: Path) -> list[str]:
    """Paths that differ from HEAD or are untracked (and not ignored): what a build context has and HEAD lacks."""
    found = git(root, "status", "--porcelain")
    return [line[3:] for line in found.stdout.splitlines()] if found.returncode == 0 else []


def build_sha(root: Path, sha: str) -> str:
    """The SHA to tag a build of `root` with: HEAD. A given --sha must be HEAD, because the build context is
    the working tree: any other commit would get code it does not have."""
    head = head_sha(root)
    if sha and not head.startswith(commit_sha(sha)):
        raise BadInput(f"--sha: {sha} is not the checked-out commit {head}; check it out and build there")
    return head


def build_command(ref: ImageRef, *, source: str, root: Path, created: datetime | None = None) -> list[str]:
    """docker build of `root` with the OCI labels; GIT_SHA goes in as a build argument."""
    created = created or datetime.now(UTC)
    return [
        "docker",
        "build",
        "--tag",
        ref.tag,
        "--build-arg",
        f"GIT_SHA={ref.sha}",
        "--label",
        f"org.opencontainers.image.revision={ref.sha}",
        "--label",
        f"org.opencontainers.image.source={source}",
        "--label",
        f"org.opencontainers.image.created={created.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "--file",
        str(root / "Dockerfile"),
        str(root),
    ]


def push_command(ref: ImageRef) -> list[str]:
    return ["docker", "push", ref.tag]


def execute(command: list[str], *, dry_run: bool) -> None:
    """Print the command; run it unless dry_run. OpsError when it cannot run or fails."""
    print(shlex.join(command), flush=True)
    if dry_run:
        return
    try:
        code = subprocess.run(command).returncode
    except FileNotFoundError:
        raise OpsError(f"{command[0]}: not found on PATH") from None
    if code:
        raise OpsError(f"{shlex.join(command[:2])} failed with exit code {code}")
