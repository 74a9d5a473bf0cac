"""`invoke dispatch`: train one commit's image on the host through SSM (or SSH); pass on its exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ops import hostscript, validate
from ops.images import ImageRef
from ops.remote import Target, describe_request, run_remote

TEMPLATE = "host_train.sh.tmpl"


@dataclass(frozen=True)
class TrainJob:
    """Everything the host script needs; build it with `train_job`, which validates each value."""

    image: ImageRef
    configs: tuple[str, ...]
    region: str
    token_parameter: str
    lock_file: str
    lock_timeout: int
    network: str
    tracking_uri: str

    def script(self) -> str:
        """The rendered host script."""
        train_args = [arg for name in self.configs for arg in ("--config", f"configs/{name}.yaml")]
        return hostscript.render(
            TEMPLATE,
            {
                "IMAGE": self.image.tag,
                "GIT_SHA": self.image.sha,
                "REGISTRY": self.image.registry,
                "REGISTRY_USER": self.image.owner,
                "AWS_REGION": self.region,
                "TOKEN_PARAMETER": self.token_parameter,
                "LOCK_FILE": self.lock_file,
                "LOCK_TIMEOUT": self.lock_timeout,
                "NETWORK": self.network,
                "TRACKING_URI": self.tracking_uri,
                "TRAIN_ARGS": train_args,
            },
        )

    def comment(self) -> str:
        """The SSM comment: what runs, by commit."""
        configs = ",".join(self.configs) or "all configs"
        return f"train {self.image.name}@{self.image.sha[:12]} ({configs})"


def train_job(
    image: ImageRef,
    configs: Sequence[str],
    *,
    region: str,
    token_parameter: str,
    data_dir: str,
    lock_timeout: object,
    network: str,
    tracking_uri: str,
) -> TrainJob:
    """A TrainJob from flags and invoke.yaml values; BadInput names the first value that is refused."""
    return TrainJob(
        image=image,
        configs=tuple(validate.config_name(name) for name in configs),
        region=validate.region(region),
        token_parameter=validate.parameter_name(token_parameter),
        lock_file=validate.absolute_path(data_dir) + "/train.lock",
        lock_timeout=validate.seconds(
            lock_timeout, "dispatch.lock_timeout", low=0, high=validate.EXECUTION_TIMEOUT_MAX
        ),
        network=validate.docker_name(network),
        tracking_uri=validate.http_url(tracking_uri),
    )


def run_job(job: TrainJob, target: Target, *, execution_timeout: int, dry_run: bool = False) -> int:
    """Run the job's script on the target (with dry_run, print it and the request); return the exit code."""
    script = job.script()
    if dry_run:
        request = describe_request(target, comment=job.comment(), execution_timeout=execution_timeout)
        print(script)
        print(json.dumps(request, indent=2))
        return 0
    result = run_remote(script, target, comment=job.comment(), execution_timeout=execution_timeout)
    print(result.summary, file=sys.stderr if result.exit_code else sys.stdout)
    return result.exit_code
