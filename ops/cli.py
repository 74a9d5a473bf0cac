"""What the invoke tasks build, push and dispatch call: flags and invoke.yaml sections in, an exit code out.

Bad input (a flag or an invoke.yaml value) is exit 2, a host that cannot be reached is exit 1, each with one
line on stderr; a remote script's own exit code passes through.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ops import validate
from ops.dispatch import train_job
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
from ops.remote import Polling, RemoteError, SshTarget, SsmTarget, Target, run_or_show
from trainer.errors import BadInput

Section = Mapping[str, Any]


def guarded(action: Callable[[], int]) -> int:
    """Run `action`; turn BadInput into exit 2 and RemoteError into exit 1, each with its one line."""
    try:
        return action()
    except BadInput as error:
        print(f"bad input: {error}", file=sys.stderr)
        return 2
    except RemoteError as error:
        print(error, file=sys.stderr)
        return 1


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


def target(host: str, aws: Section, dispatch: Section, polling: Polling | None = None) -> Target:
    """SSH when --host is given, else the SSM-managed instance of invoke.yaml."""
    if host:
        return SshTarget(validate.ssh_host(host))
    interval = validate.seconds(dispatch["poll_interval"], "dispatch.poll_interval", low=1, high=3600)
    return SsmTarget(
        instance_id=validate.instance_id(aws["instance_id"]),
        region=validate.region(aws["region"]),
        log_group=validate.log_group(aws["log_group"]),
        polling=polling or Polling(interval=interval),
    )


def dispatch(
    settings: Section,
    *,
    root: Path,
    sha: str,
    configs: Sequence[str] = (),
    host: str = "",
    dry_run: bool = False,
    polling: Polling | None = None,
) -> int:
    """Train the image of `sha` on the host; `settings` holds invoke.yaml's image, aws, dispatch and host."""

    def action() -> int:
        aws, options, host_settings = settings["aws"], settings["dispatch"], settings["host"]
        execution_timeout = validate.seconds(
            options["execution_timeout"],
            "dispatch.execution_timeout",
            low=60,
            high=validate.EXECUTION_TIMEOUT_MAX,
        )
        job = train_job(
            _image(settings["image"], full_sha(root, sha)),
            configs,
            region=aws["region"],
            token_parameter=aws["token_parameter"],
            data_dir=host_settings["data_dir"],
            lock_timeout=options["lock_timeout"],
            network=host_settings["network"],
            tracking_uri=host_settings["tracking_uri"],
        )
        if job.lock_timeout >= execution_timeout:
            raise BadInput(
                f"dispatch.lock_timeout: {job.lock_timeout} s must be below dispatch.execution_timeout "
                f"({execution_timeout} s), or the wait for the lock outlives the run"
            )
        return run_or_show(
            job.script(),
            target(host, aws, options, polling),
            comment=job.comment(),
            execution_timeout=execution_timeout,
            dry_run=dry_run,
        )

    return guarded(action)
