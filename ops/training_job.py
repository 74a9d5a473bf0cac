"""The training job that `invoke dispatch` sends to the host: its values and its host script."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ops import hostscript
from ops.host_pull import ImagePull, image_pull
from ops.images import ImageRef
from ops.settings import Settings
from trainer.errors import BadInput
from trainer.lock import LOCK_NAME

TEMPLATE = "host_train.sh.tmpl"
_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class TrainJob:
    """Everything the host script needs; build it with `train_job`."""

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


def train_job(image: ImageRef, configs: Sequence[str], settings: Settings) -> TrainJob:
    """A TrainJob from --config flags and invoke.yaml's aws, host and dispatch; BadInput names a refused flag."""
    return TrainJob(
        pull=image_pull(image, settings.aws),
        configs=tuple(config_name(name) for name in configs),
        lock_file=f"{settings.host.data_dir}/{LOCK_NAME}",
        lock_timeout=settings.dispatch.lock_timeout,
        network=settings.host.network,
        tracking_uri=settings.host.tracking_uri,
    )


def config_name(value: str, where: str = "--config") -> str:
    """A training config by name: `xgb`, `xgb.yaml` and `configs/xgb.yaml` all mean configs/xgb.yaml."""
    name = str(value).removeprefix("configs/").removesuffix(".yaml")
    if not _CONFIG_NAME.fullmatch(name):
        raise BadInput(f"{where}: {name!r} is not a config name such as xgb or configs/xgb.yaml")
    return name
