"""One training at a time per tracking store: an exclusive flock with a bounded wait.

For a SQLite store the lock file is `train.lock` beside the database, the same file that the host script
and the maintenance vacuum lock on the EC2 host (/opt/mlflow/train.lock). For a server store it is a file
in the temp folder named after the store's URI, which serialises trainings on one machine; across machines
the host script's lock does that job.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trainer.tracking import sqlite_path

POLL_SECONDS = 0.2
LOCK_NAME = "train.lock"


class LockTimeout(Exception):
    """The lock stayed taken for longer than the caller was willing to wait."""


def lock_path(tracking_uri: str) -> Path:
    if override := os.environ.get("TRAINER_LOCK_FILE"):
        return Path(override)
    if database := sqlite_path(tracking_uri):
        return database.parent / LOCK_NAME
    digest = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ai-drug-train-{digest}.lock"


@contextmanager
def exclusive(path: Path, timeout: float, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive flock on `path`; wait up to `timeout` seconds, then raise LockTimeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    deadline = time.monotonic() + timeout
    told = False
    with handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{path} is still locked after {timeout:g} s") from None
                if on_wait and not told:
                    on_wait()
                    told = True
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
