"""The training job that `invoke dispatch` sends to the host: its values, checked, and its host script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ops import hostscript, validate
from ops.host_pull import ImagePull, image_pull
from ops.images import ImageRef
from trainer.lock import LOCK_NAME

TEMPLATE = "host_train.sh.tmpl"


@dataclass(frozen=True)
class TrainJob:
    """Everything the host script needs; build it with `train_job`, which validates each value."""

    pull: ImagePull
    configs: tuple[str, ...]
    lock_file: str
    lock_timeout: int
    network: str
    tracking_uri: str

    @property
    def image(self) -> ImageRef:
        return self.pull.image

    def script(self) -> str:
        """The rendered host script."""
        train_args = [arg for name in self.configs for arg in ("--config", f"configs/{name}.yaml")]
        return hostscript.render(
            TEMPLATE,
            {
                **self.pull.values(),
                "GIT_SHA": self.image.sha,
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
        pull=image_pull(image, region=region, token_parameter=token_parameter),
        configs=tuple(validate.config_name(name) for name in configs),
        lock_file=validate.absolute_path(data_dir) + f"/{LOCK_NAME}",
        lock_timeout=validate.wait(lock_timeout, "dispatch.lock_timeout"),
        network=validate.docker_name(network),
        tracking_uri=validate.http_url(tracking_uri),
    )
