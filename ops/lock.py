"""The training lock seen from the operator side: an exclusive flock on `train.lock` beside the database.

Training, the host's dispatch script and the maintenance vacuum all lock this one file, so a vacuum never
runs while a training writes to the store.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_SECONDS = 0.2


class LockTimeoutError(Exception):
    """The lock stayed taken for longer than the caller was willing to wait."""


def training_lock_path(db: Path) -> Path:
    return db.parent / "train.lock"


@contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive flock on `path`; retry without blocking for up to `timeout` seconds, then raise."""
    # Read-only is enough for flock, and works where the lock file belongs to another user.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(f"{path} is still locked after {timeout:g} s") from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)
