"""The maintenance job that `invoke maintenance` sends to the host: its values and its host script.

The script pulls the training image, stops MLflow, vacuums the store in the image and starts MLflow again;
its stdout carries the vacuum's report line, which `ops.vacuum.VacuumReport.from_output` reads back, and its
exit status is the vacuum's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ops import hostscript
from ops.host_pull import ImagePull, image_pull
from ops.images import ImageRef
from ops.settings import Settings
from trainer.lock import LOCK_NAME

TEMPLATE = "host_maintenance.sh.tmpl"


@dataclass(frozen=True)
class MaintenanceJob:
    """Everything the host script needs; build it with `maintenance_job`."""

    pull: ImagePull
    data_dir: str
    backups_kept: int
    lock_timeout: int
    busy_timeout: int
    health_url: str
    health_timeout: int

    @property
    def db(self) -> str:
        return f"{self.data_dir}/mlruns.db"

    def script(self) -> str:
        """The rendered host script."""
        return hostscript.render(
            TEMPLATE,
            {
                **self.pull.values(),
                "DATA_DIR": self.data_dir,
                "DB": self.db,
                "LOCK_FILE": f"{self.data_dir}/{LOCK_NAME}",
                "BACKUPS_KEPT": self.backups_kept,
                "LOCK_TIMEOUT": self.lock_timeout,
                "BUSY_TIMEOUT": self.busy_timeout,
                "HEALTH_URL": self.health_url,
                "HEALTH_TIMEOUT": self.health_timeout,
            },
        )

    def comment(self) -> str:
        """The SSM comment: what runs, by commit."""
        return f"maintenance {self.pull.image.name}@{self.pull.image.sha[:12]} ({self.db})"


def maintenance_job(image: ImageRef, settings: Settings) -> MaintenanceJob:
    """A MaintenanceJob from invoke.yaml's aws, host and maintenance."""
    options = settings.maintenance
    return MaintenanceJob(
        pull=image_pull(image, settings.aws),
        data_dir=settings.host.data_dir,
        backups_kept=options.backups_kept,
        lock_timeout=options.lock_timeout,
        busy_timeout=options.busy_timeout,
        health_url=options.health_url,
        health_timeout=options.health_timeout,
    )
