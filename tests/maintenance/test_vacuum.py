"""The vacuum on real MLflow stores: it compacts, keeps every run, rotates backups and refuses safely."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.vacuum import VacuumError, VacuumReport, backups_of, vacuum
from trainer.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
PATIENT = {"lock_timeout": 5.0, "busy_timeout": 5.0}
IMPATIENT = {"lock_timeout": 0.3, "busy_timeout": 0.3}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def run_task(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "maintenance.vacuum", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_vacuum_shrinks_a_garbage_collected_store_and_keeps_every_run(store_copy: Path, gc_store, read_store):
    size_before = store_copy.stat().st_size
    counts_before = table_counts(store_copy)

    report = vacuum(store_copy, backups_kept=3, **PATIENT)

    assert report.bytes_before == size_before
    assert report.bytes_after == store_copy.stat().st_size
    assert report.bytes_freed == size_before - report.bytes_after
    assert report.bytes_after < 0.7 * size_before, "gc'd runs left free pages that VACUUM should drop"
    assert report.integrity == "ok"
    assert integrity(store_copy) == "ok"
    assert read_store(store_copy) == gc_store.contents
    assert sum(len(runs) for runs in gc_store.contents.values()) == 2
    assert table_counts(store_copy) == counts_before
    assert report.backup.parent == store_copy.parent
    assert integrity(report.backup) == "ok"
    assert table_counts(report.backup) == counts_before


def test_backups_rotate_and_only_this_databases_backups(store_copy: Path):
    folder = store_copy.parent
    strangers = [folder / "other.db.backup-20200101T000000.000000Z", folder / "mlruns.db.bak"]
    for stranger in strangers:
        stranger.write_bytes(b"not ours")

    reports = [vacuum(store_copy, backups_kept=3, **PATIENT) for _ in range(5)]

    assert backups_of(store_copy) == [report.backup for report in reports[-3:]]
    assert reports[3].backups_deleted == (reports[0].backup,)
    assert reports[4].backups_deleted == (reports[1].backup,)
    assert all(stranger.read_bytes() == b"not ours" for stranger in strangers)


def test_vacuum_waits_for_a_writer_that_finishes_within_the_bound(store_copy: Path):
    writer = sqlite3.connect(store_copy, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO tags (key, value, run_uuid) SELECT 'late', 'tag', run_uuid FROM runs LIMIT 1")
    finisher = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    finisher.start()
    try:
        report = vacuum(store_copy, backups_kept=3, lock_timeout=5.0, busy_timeout=30.0)
    finally:
        finisher.join()
        writer.close()

    assert report.integrity == "ok"
    with sqlite3.connect(store_copy) as conn:
        assert conn.execute("SELECT count(*) FROM tags WHERE key = 'late'").fetchone()[0] == 1


def test_wal_file_counts_for_space_and_is_checkpointed(tmp_path: Path):
    db = tmp_path / "wal.db"
    keeper = sqlite3.connect(db, isolation_level=None)  # open, so the -wal file stays
    keeper.execute("PRAGMA journal_mode=WAL")
    with keeper:
        keeper.execute("BEGIN")
        keeper.execute("CREATE TABLE t (x TEXT)")
        keeper.executemany("INSERT INTO t VALUES (?)", [("y" * 200,)] * 5000)
        keeper.execute("DELETE FROM t WHERE rowid % 2 = 0")
    wal = tmp_path / "wal.db-wal"
    try:
        db_bytes, wal_bytes = db.stat().st_size, wal.stat().st_size
        assert wal_bytes > 0
        with pytest.raises(VacuumError, match="twice the database and its -wal"):
            vacuum(db, backups_kept=1, free_bytes=lambda _folder: 2 * db_bytes, **IMPATIENT)

        report = vacuum(db, backups_kept=1, **PATIENT)
    finally:
        keeper.close()

    assert report.bytes_before == db_bytes + wal_bytes
    assert report.bytes_after == db.stat().st_size
    assert not wal.exists() or wal.stat().st_size == 0


# Refusals: each one leaves the database byte-identical and makes no backup.


@pytest.fixture
def unchanged(store_copy: Path) -> Iterator[Path]:
    digest = sha256(store_copy)
    yield store_copy
    assert sha256(store_copy) == digest
    assert backups_of(store_copy) == []


def test_refuses_when_the_databases_filesystem_lacks_twice_its_size(unchanged: Path):
    needed = 2 * unchanged.stat().st_size

    def free_bytes(folder: Path) -> int:
        return needed - 1 if folder == unchanged.parent else needed * 10

    with pytest.raises(VacuumError, match=f"only {needed - 1:,} bytes free in {unchanged.parent}"):
        vacuum(unchanged, backups_kept=3, free_bytes=free_bytes, **IMPATIENT)


def test_exactly_twice_the_size_free_is_enough(store_copy: Path):
    needed = 2 * store_copy.stat().st_size
    report = vacuum(store_copy, backups_kept=3, free_bytes=lambda _folder: needed, **IMPATIENT)
    assert report.integrity == "ok"


def test_refuses_when_the_temp_folder_lacks_twice_its_size(unchanged: Path, tmp_path: Path, monkeypatch):
    temp = tmp_path / "sqlite-temp"
    temp.mkdir()
    monkeypatch.setenv("SQLITE_TMPDIR", str(temp))
    needed = 2 * unchanged.stat().st_size

    def free_bytes(folder: Path) -> int:
        return 0 if folder == temp else needed

    with pytest.raises(VacuumError, match=f"only 0 bytes free in {temp}"):
        vacuum(unchanged, backups_kept=3, free_bytes=free_bytes, **IMPATIENT)


@pytest.fixture
def small_tmpfs(tmp_path: Path, store_copy: Path) -> Iterator[Path]:
    """A tmpfs with room for one and a half copies of the store; skipped where mounting is not allowed."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    size_kib = store_copy.stat().st_size * 3 // 2 // 1024
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_refuses_on_a_nearly_full_filesystem(small_tmpfs: Path, store_copy: Path):
    db = Path(shutil.copy2(store_copy, small_tmpfs / "mlruns.db"))
    digest = sha256(db)

    with pytest.raises(VacuumError, match=f"bytes free in {small_tmpfs}, VACUUM needs"):
        vacuum(db, backups_kept=3, **IMPATIENT)

    assert sha256(db) == digest
    assert sorted(path.name for path in small_tmpfs.iterdir()) == ["mlruns.db"]


def test_refuses_when_tmpdir_is_a_nearly_full_filesystem(small_tmpfs: Path, unchanged: Path, monkeypatch):
    monkeypatch.delenv("SQLITE_TMPDIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(small_tmpfs))
    with pytest.raises(VacuumError, match=f"bytes free in {small_tmpfs}, VACUUM needs"):
        vacuum(unchanged, backups_kept=3, **IMPATIENT)


def test_refuses_while_a_writer_holds_a_transaction(unchanged: Path):
    writer = sqlite3.connect(unchanged, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE runs SET name = 'renamed'")
    try:
        message = r"another connection is writing; waited 0\.3 s; database unchanged$"
        with pytest.raises(VacuumError, match=message):
            vacuum(unchanged, backups_kept=3, **IMPATIENT)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_refuses_while_a_training_holds_the_lock(unchanged: Path):
    with (unchanged.parent / "train.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        message = r"a training holds .*train\.lock; waited 0\.3 s; database unchanged$"
        with pytest.raises(VacuumError, match=message):
            vacuum(unchanged, backups_kept=3, **IMPATIENT)


def test_refuses_a_corrupt_database(tmp_path: Path):
    db = tmp_path / "corrupt.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("CREATE INDEX t_x ON t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(2000)])
        conn.execute("PRAGMA writable_schema = ON")
        # Point the index at the table's pages: the file still opens, but the index is wrong.
        table_root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 't'").fetchone()[0]
        conn.execute("UPDATE sqlite_schema SET rootpage = ? WHERE name = 't_x'", (table_root,))
    digest = sha256(db)

    message = r"integrity_check before VACUUM found \d+ problem\(s\), first: .*; database unchanged$"
    with pytest.raises(VacuumError, match=message):
        vacuum(db, backups_kept=3, **IMPATIENT)

    assert sha256(db) == digest
    assert backups_of(db) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is not an SQLite database"),
        (b"id,smiles\n1,CCO\n", "is not an SQLite database"),
    ],
)
def test_missing_or_non_sqlite_file_is_bad_input(tmp_path: Path, content: bytes | None, message: str):
    db = tmp_path / "mlruns.db"
    if content is not None:
        db.write_bytes(content)

    with pytest.raises(BadInput, match=f"--db: {db} {message}"):
        vacuum(db, backups_kept=3, **IMPATIENT)

    assert sorted(path.name for path in tmp_path.iterdir()) == ([] if content is None else ["mlruns.db"])
    assert content is None or db.read_bytes() == content


# The invoke task: exit codes, one-line messages, config from invoke.yaml and the environment.


def test_task_prints_a_report_line_that_reads_back(store_copy: Path):
    result = run_task("--db", str(store_copy), "--json", INVOKE_MAINTENANCE_BACKUPS_KEPT="1")
    assert result.returncode == 0, result.stderr
    report = VacuumReport.from_output("docker noise\n" + result.stdout)
    assert report.db == store_copy
    assert report.integrity == "ok"
    assert report.bytes_after == store_copy.stat().st_size < report.bytes_before
    assert backups_of(store_copy) == [report.backup]


@pytest.mark.parametrize("case", ["missing", "not sqlite", "writer", "training"])
def test_task_refusals_exit_with_one_line(case: str, store_copy: Path):
    target = store_copy.with_name("absent.db") if case == "missing" else store_copy
    if case == "not sqlite":
        store_copy.write_text("id,smiles\n")
    digest = sha256(store_copy)
    env = {"INVOKE_MAINTENANCE_BUSY_TIMEOUT": "0", "INVOKE_MAINTENANCE_LOCK_TIMEOUT": "0"}
    writer = sqlite3.connect(store_copy, isolation_level=None)
    with (store_copy.parent / "train.lock").open("a") as lock:
        if case == "training":
            fcntl.flock(lock, fcntl.LOCK_EX)
        if case == "writer":
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("DELETE FROM params")
        result = run_task("--db", str(target), **env)
        if case == "writer":
            writer.execute("ROLLBACK")
        writer.close()

    lock_file = target.parent / "train.lock"
    expected_code, expected = {
        "missing": (2, f"--db: {target} does not exist"),
        "not sqlite": (2, f"--db: {target} is not an SQLite database (no SQLite header)"),
        "writer": (1, f"{target}: another connection is writing; waited 0 s; database unchanged"),
        "training": (1, f"{target}: a training holds {lock_file}; waited 0 s; database unchanged"),
    }[case]
    assert (result.returncode, result.stderr.strip(), result.stdout) == (expected_code, f"error: {expected}", "")
    assert sha256(store_copy) == digest
    assert backups_of(store_copy) == []
    assert not store_copy.with_name("absent.db").exists()


def test_task_refuses_a_missing_flag_or_a_folder_as_bad_input(store_copy: Path):
    digest = sha256(store_copy)

    no_flag = run_task()
    folder = run_task("--db", str(store_copy.parent))

    assert (no_flag.returncode, no_flag.stderr, no_flag.stdout) == (
        2,
        "error: --db: required: the MLflow SQLite store to compact\n",
        "",
    )
    assert (folder.returncode, folder.stderr, folder.stdout) == (
        2,
        f"error: --db: {store_copy.parent} is a directory, not an SQLite database\n",
        "",
    )
    assert sha256(store_copy) == digest
    assert backups_of(store_copy) == []


def test_task_refuses_with_one_line_when_the_lock_file_cannot_be_opened(store_copy: Path):
    digest = sha256(store_copy)
    lock = store_copy.parent / "train.lock"
    lock.mkdir()

    result = run_task("--db", str(store_copy))

    expected = f"error: {store_copy}: cannot open the training lock {lock} (Is a directory); database unchanged\n"
    assert (result.returncode, result.stderr, result.stdout) == (1, expected, "")
    assert sha256(store_copy) == digest
    assert backups_of(store_copy) == []


def test_an_old_backup_that_cannot_be_deleted_is_named_after_the_vacuum(store_copy: Path):
    stuck = store_copy.with_name(f"{store_copy.name}.backup-00000000T000000.000000Z")
    stuck.mkdir()

    with pytest.raises(VacuumError) as refused:
        vacuum(store_copy, backups_kept=1, **PATIENT)

    new_backup = backups_of(store_copy)[-1]
    assert str(refused.value) == f"{store_copy}: vacuumed, backup at {new_backup}, but Is a directory: {stuck}"
    assert integrity(new_backup) == integrity(store_copy) == "ok"


def test_report_seconds_cover_the_work(store_copy: Path):
    started = time.monotonic()
    report = vacuum(store_copy, backups_kept=3, **PATIENT)
    assert 0 < report.seconds <= time.monotonic() - started
