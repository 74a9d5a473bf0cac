"""What the invoke tasks build, push and dispatch call: flags and invoke.yaml sections in, an exit code out.

Bad input (a flag or an invoke.yaml value) is exit 2, a host that cannot be reached is exit 1, each with one
line on stderr; a remote script's own exit code passes through.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ops.images import (
    ImageRef,
    build_command,
    build_sha,
    execute,
    full_sha,
    head_sha,
    image_ref,
    push_command,
)
from trainer.errors import BadInput

Section = Mapping[str, Any]


def guarded(action: Callable[[], int]) -> int:
    """Run `action`; turn BadInput into exit 2 with its one line."""
    try:
        return action()
    except BadInput as error:
        print(f"bad input: {error}", file=sys.stderr)
        return 2


def _image(image: Section, sha: str) -> ImageRef:
    return image_ref(image["registry"], image["owner"], image["name"], sha)


def build(image: Section, *, root: Path, sha: str = "", dry_run: bool = False) -> int:
    """docker build of the working tree at `root`, tagged with its commit."""

    def action() -> int:
        ref = _image(image, build_sha(root, sha))
        return execute(build_command(ref, source=image["source"], root=root), dry_run=dry_run)

    return guarded(action)


def push(image: Section, *, root: Path, sha: str = "", dry_run: bool = False) -> int:
    """docker push of the tag that `build` made (HEAD's unless --sha)."""

    def action() -> int:
        ref = _image(image, full_sha(root, sha) if sha else head_sha(root))
        return execute(push_command(ref), dry_run=dry_run)

    return guarded(action)
