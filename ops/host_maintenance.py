"""The maintenance job that `invoke maintenance` sends to the host: its values, checked, and its host script.

The script pulls the training image, stops MLflow, vacuums the store in the image and starts MLflow again;
its stdout carries the vacuum's report line, which `ops.vacuum.VacuumReport.from_output` reads back, and its
exit status is the vacuum's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ops import hostscript, validate
from ops.host_pull import ImagePull, image_pull
from ops.images import ImageRef
from trainer.lock import LOCK_NAME

TEMPLATE = "host_maintenance.sh.tmpl"


@dataclass(frozen=True)
class MaintenanceJob:
    """Everything the host script needs; build it with `maintenance_job`, which validates each value."""

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

    @property
    def longest_wait(self) -> int:
        """Seconds the script may spend waiting: for a training before it stops MLflow, once more inside the
        vacuum (a training queued on the lock may take it in between), for a writer, and for /health."""
        return 2 * self.lock_timeout + self.busy_timeout + self.health_timeout

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


def maintenance_job(
    image: ImageRef,
    *,
    region: str,
    token_parameter: str,
    data_dir: str,
    backups_kept: object,
    lock_timeout: object,
    busy_timeout: object,
    health_url: str,
    health_timeout: object,
) -> MaintenanceJob:
    """A MaintenanceJob from flags and invoke.yaml values; BadInput names the first value that is refused."""
    return MaintenanceJob(
        pull=image_pull(image, region=region, token_parameter=token_parameter),
        data_dir=validate.absolute_path(data_dir),
        backups_kept=validate.kept(backups_kept, "maintenance.backups_kept"),
        lock_timeout=validate.wait(lock_timeout, "maintenance.lock_timeout"),
        busy_timeout=validate.wait(busy_timeout, "maintenance.busy_timeout"),
        health_url=validate.http_url(health_url, "maintenance.health_url"),
        health_timeout=validate.wait(health_timeout, "maintenance.health_timeout"),
    )
