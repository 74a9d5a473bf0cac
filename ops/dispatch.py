"""The training job that `invoke dispatch` sends to the host: its values, checked, and its host script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ops import hostscript, validate
from ops.images import ImageRef

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
