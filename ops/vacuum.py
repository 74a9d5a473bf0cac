"""Compact the MLflow SQLite store without risking it: check, back up, VACUUM, check again.

VACUUM rewrites the whole file: it needs room for a second copy on the database's filesystem and in
SQLite's temp folder, it cannot run while another connection writes, and it must never run during a
training. Every step before the VACUUM only reads the database and VACUUM itself is atomic, so a refusal
or a failure leaves the file as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ops.errors import OpsError
from trainer.errors import BadInput
from trainer.lock import LockTimeout, exclusive, lock_path

SQLITE_HEADER = b"SQLite format 3\x00"
REPORT_MARKER = "vacuum-report"


class VacuumError(OpsError):
    """The vacuum did not run or did not finish; the message says why and where the backup is, if any."""


@dataclass(frozen=True)
class VacuumReport:
    """What a vacuum did, in the numbers an operator and the maintenance summary need."""

    db: Path
    integrity: str
    bytes_before: int
    bytes_after: int
    backup: Path
    seconds: float
    backups_deleted: tuple[Path, ...]

    @property
    def bytes_freed(self) -> int:
        return self.bytes_before - self.bytes_after

    def lines(self) -> list[str]:
        deleted = ", ".join(path.name for path in self.backups_deleted) or "none"
        return [
            f"database: {self.db}",
            f"integrity: {self.integrity} before and after",
            f"size: {self.bytes_before:,} -> {self.bytes_after:,} bytes (freed {self.bytes_freed:,})",
            f"backup: {self.backup}",
            f"seconds: {self.seconds:.2f}",
            f"old backups deleted: {deleted}",
        ]

    def report_line(self) -> str:
        """One marked JSON line that survives being mixed into a remote command's output."""
        fields = {
            "db": str(self.db),
            "integrity": self.integrity,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "backup": str(self.backup),
            "seconds": round(self.seconds, 3),
            "backups_deleted": [str(path) for path in self.backups_deleted],
        }
        return f"{REPORT_MARKER} {json.dumps(fields, sort_keys=True)}"

    @classmethod
    def from_output(cls, output: str) -> VacuumReport:
        """The report in the last marked line of `output` (the host script's stdout); ValueError if none."""
        marked = [line for line in output.splitlines() if line.startswith(f"{REPORT_MARKER} {{")]
        if not marked:
            raise ValueError(f"no '{REPORT_MARKER}' line in the output")
        fields = json.loads(marked[-1].removeprefix(REPORT_MARKER))
        return cls(
            db=Path(fields["db"]),
            integrity=fields["integrity"],
            bytes_before=fields["bytes_before"],
            bytes_after=fields["bytes_after"],
            backup=Path(fields["backup"]),
            seconds=fields["seconds"],
            backups_deleted=tuple(Path(path) for path in fields["backups_deleted"]),
        )


def vacuum(
    db: Path,
    *,
    backups_kept: int,
    lock_timeout: float,
    busy_timeout: float,
    free_bytes: Callable[[Path], int] | None = None,
) -> VacuumReport:
    """Back up and VACUUM `db` under the training lock; keep the newest `backups_kept` (at least 1) backups.

    `free_bytes(folder)` reads the free space of a folder's filesystem (default: shutil.disk_usage).
    Raises BadInput for a missing or non-SQLite file and VacuumError for every refusal or failure.
    """
    db = db.absolute()
    require_sqlite_file(db)
    free_bytes = free_bytes or _free_bytes
    require_free_space(db, free_bytes)
    lock = lock_path(f"sqlite:///{db}")
    try:
        with exclusive(lock, lock_timeout):
            # The database may have grown while a training held the lock.
            require_free_space(db, free_bytes)
            return _vacuum_locked(db, backups_kept, busy_timeout)
    except LockTimeout:
        raise VacuumError(f"{db}: a training holds {lock}; waited {lock_timeout:g} s; database unchanged") from None
    except OSError as err:
        # The steps under the lock turn their own OSErrors into VacuumError: this one is the lock file's.
        raise VacuumError(f"{db}: cannot open the training lock {lock} ({err.strerror}); database unchanged") from err


def require_sqlite_file(db: Path) -> None:
    try:
        with db.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise BadInput(f"--db: {db} does not exist") from None
    except IsADirectoryError:
        raise BadInput(f"--db: {db} is a directory, not an SQLite database") from None
    except OSError as err:
        raise BadInput(f"--db: cannot read {db} ({err.strerror})") from err
    if header != SQLITE_HEADER:
        raise BadInput(f"--db: {db} is not an SQLite database (no SQLite header)")


def require_free_space(db: Path, free_bytes: Callable[[Path], int]) -> None:
    """Refuse unless both places VACUUM writes to have twice the database and its -wal free."""
    needed = 2 * bytes_on_disk(db)
    for folder in (db.parent, sqlite_temp_dir()):
        free = free_bytes(folder)
        if free < needed:
            raise VacuumError(
                f"{db}: only {free:,} bytes free in {folder}, VACUUM needs {needed:,} "
                "(twice the database and its -wal); database unchanged"
            )


def sqlite_temp_dir() -> Path:
    """The folder SQLite puts VACUUM's temporary copy in, searched in SQLite's own order on Unix."""
    env = (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"))
    for candidate in (*env, "/var/tmp", "/usr/tmp", "/tmp"):
        if candidate and Path(candidate).is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path.cwd()


def bytes_on_disk(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def backups_of(db: Path) -> list[Path]:
    """This database's finished backups, oldest first (the UTC timestamps in the names sort in time order)."""
    backups = db.parent.glob(f"{db.name}.backup-*")
    return sorted(path for path in backups if not path.name.endswith(".partial"))


def _vacuum_locked(db: Path, backups_kept: int, busy_timeout: float) -> VacuumReport:
    import sqlite_utils

    started = time.monotonic()
    bytes_before = bytes_on_disk(db)
    backup: Path | None = None
    state = "database unchanged"
    # mode=rw: never create a database that is not there; timeout: how long to wait for other writers.
    conn = sqlite3.connect(f"{db.as_uri()}?mode=rw", uri=True, timeout=busy_timeout, isolation_level=None)
    with closing(conn):
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            integrity = _integrity(conn, db, "before VACUUM", state)
            backup = _backup(conn, db)
            state = f"database unchanged; backup at {backup}"
            sqlite_utils.Database(conn).vacuum()
            state = f"database vacuumed; backup at {backup}"
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _integrity(conn, db, "after VACUUM", state)
        except sqlite3.Error as err:
            if getattr(err, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                cause = f"another connection is writing; waited {busy_timeout:g} s"
            else:
                cause = f"SQLite error: {err}"
            raise VacuumError(f"{db}: {cause}; {state}") from err
        except OSError as err:
            raise VacuumError(f"{db}: {err.strerror}: {err.filename}; {state}") from err
    bytes_after = bytes_on_disk(db)
    deleted = tuple(backups_of(db)[:-backups_kept])
    try:
        for old in deleted:
            old.unlink()
    except OSError as err:
        raise VacuumError(f"{db}: vacuumed, backup at {backup}, but {err.strerror}: {err.filename}") from err
    return VacuumReport(
        db=db,
        integrity=integrity,
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        backup=backup,
        seconds=time.monotonic() - started,
        backups_deleted=deleted,
    )


def _integrity(conn: sqlite3.Connection, db: Path, when: str, state: str) -> str:
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as err:
        # Damage bad enough that the check itself stops is one more problem to report.
        if not getattr(err, "sqlite_errorname", "").startswith("SQLITE_CORRUPT"):
            raise
        problems = [str(err)]
    if problems != ["ok"]:
        raise VacuumError(
            f"{db}: integrity_check {when} found {len(problems)} problem(s), first: {problems[0]}; {state}"
        )
    return "ok"


def _backup(conn: sqlite3.Connection, db: Path) -> Path:
    """A compact, consistent copy beside the database, written under a temporary name and synced to disk."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    backup = db.with_name(f"{db.name}.backup-{stamp}")
    partial = backup.with_name(backup.name + ".partial")
    try:
        conn.execute("VACUUM INTO ?", (str(partial),))
        # VACUUM INTO does not fsync its output.
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        partial.rename(backup)
        directory = os.open(db.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        partial.unlink(missing_ok=True)
    return backup


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free
