"""Room to write a run: free space checked before a fit where it can be known, and a full disk told in one line.

A store on this machine (SQLite, with its artifacts folder beside it) is checked before the lock: with less
than TRAINER_MIN_FREE_BYTES free there, nothing starts. A server store's disk is the server's and cannot be
seen from here. When a disk fills anyway, SQLAlchemy and MLflow wrap the OSError or SQLite's "database or
disk is full" in further errors (the last one blames an autoflush); `disk_full` finds the cause in the chain.
"""

from __future__ import annotations

import errno
import os
import shutil

from trainer.errors import BadInput, ProjectError
from trainer.tracking import sqlite_path

MIN_FREE_VARIABLE = "TRAINER_MIN_FREE_BYTES"
DEFAULT_MIN_FREE = 256 << 20
SQLITE_FULL = "database or disk is full"


def min_free() -> int:
    text = os.environ.get(MIN_FREE_VARIABLE, str(DEFAULT_MIN_FREE)).strip()
    if not text.isdigit():
        raise BadInput(f"{MIN_FREE_VARIABLE}: {text!r} is not a whole number of bytes")
    return int(text)


def require_free_space(uri: str) -> None:
    """ProjectError (exit 1) when a local store's filesystem has less than min_free() bytes free."""
    database = sqlite_path(uri)
    if database is None:
        return
    folder = database.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free, needed = shutil.disk_usage(folder).free, min_free()
    if free < needed:
        raise ProjectError(
            f"no space left for a training in {folder}: {free:,} bytes free, {needed:,} needed "
            f"({MIN_FREE_VARIABLE}); nothing trained"
        )


def disk_full(err: BaseException, uri: str) -> str | None:
    """'no space left on device' and where, when `err` or an error behind it is a full disk; else None. The
    file that could not be written is named when an OSError says it, else the store."""
    pending, seen, store_full = [err], set(), False
    while pending:
        cause = pending.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            # A copy (shutil's sendfile path) names its source in filename and its destination in filename2.
            where = cause.filename2 or cause.filename or sqlite_path(uri) or uri
            return f"no space left on device writing {where}"
        store_full = store_full or SQLITE_FULL in str(cause).strip().split("\n")[0]
        pending += [inner for inner in (cause.__cause__, cause.__context__) if inner is not None]
    if store_full:
        return f"no space left on device: the store {sqlite_path(uri) or uri} is full ({SQLITE_FULL})"
    return None
