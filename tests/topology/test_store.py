"""The store's history outlives the host: Litestream (the compose service) streams mlruns.db to moto's S3, the
host is lost (server and Litestream killed at once), and `invoke store.restore` brings back every row that
was replicated, checked by PRAGMA integrity_check and compared table by table. Runs after test_deployed.py
(file order), on the same session's services, which it ends."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlflow import MlflowClient

from ops.store import restore
from ops.vacuum import vacuum
from tests.topology.conftest import Host
from tests.topology.services import ROOT

pytestmark = pytest.mark.timeout(600)
HEARTBEAT = "heartbeat"
# Litestream syncs the WAL every second; this much quiet lets a write reach S3 before the next step.
SETTLE = 3.0


def write_history(client: MlflowClient) -> dict[str, object]:
    """Runs with params, metric histories and tags, and a registered model with two versions and an alias."""
    experiment = client.create_experiment("store-history", tags={"purpose": "restore"})
    runs = []
    for number in range(4):
        run = client.create_run(experiment, tags={"kind": "history", "number": str(number)})
        client.log_param(run.info.run_id, "alpha", str(number / 10))
        for step in range(25):
            client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1 + number), step=step)
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
    client.create_registered_model("store-history-model", tags={"owner": "tests"})
    for run_id in runs[:2]:
        client.create_model_version("store-history-model", f"runs:/{run_id}/model", run_id)
    client.set_registered_model_alias("store-history-model", "champion", "2")
    return {"experiment": experiment, "runs": runs}


def tables(db: Path, skip_run: str = "") -> dict[str, list[tuple]]:
    """Every row of every table, sorted; `skip_run`'s metric rows left out."""
    with closing(sqlite3.connect(db)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        rows = {}
        for name in names:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({name})")]
            where = " WHERE run_uuid != ?" if skip_run and "run_uuid" in columns and "metric" in name else ""
            found = conn.execute(f"SELECT * FROM {name}{where}", (skip_run,) if where else ()).fetchall()
            rows[name] = sorted(found, key=repr)
    return rows


def heartbeats(db: Path, run_id: str) -> list[float]:
    with closing(sqlite3.connect(db)) as conn:
        query = "SELECT value FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY value"
        return [row[0] for row in conn.execute(query, (run_id, HEARTBEAT))]


def copy_of(db: Path, folder: Path) -> Path:
    """The live store as the killed server left it (file and WAL), opened elsewhere so nothing touches it."""
    for suffix in ("", "-wal"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", folder / f"{db.name}{suffix}")
    return folder / db.name


def invoke_restore(host: Host, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INVOKE_STORE_REPLICA_URL": host.replica}
    invoke = Path(sys.executable).parent / "invoke"
    return subprocess.run([str(invoke), "store.restore", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def lost(host: Host, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """History written and replicated, a mid-point, a late run, then heartbeats until the host is lost."""
    client = MlflowClient(host.url)
    history = write_history(client)
    time.sleep(SETTLE)
    middle = datetime.now(UTC)
    time.sleep(SETTLE)
    late = client.create_run(history["experiment"], tags={"kind": "late"}).info.run_id
    time.sleep(SETTLE)
    beating = client.create_run(history["experiment"], tags={"kind": HEARTBEAT}).info.run_id
    acknowledged: list[float] = []
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            client.log_metric(beating, HEARTBEAT, time.time())
            acknowledged.append(time.time())

    writer = threading.Thread(target=beat, daemon=True)
    writer.start()
    time.sleep(4)
    # The host is lost: the server and Litestream die together, mid-write.
    killed_at = time.time()
    host.services["mlflow"].stop(kill=True)
    host.services["litestream"].stop(kill=True)
    stop.set()
    writer.join(timeout=30)
    return {
        **history,
        "middle": middle,
        "late": late,
        "beating": beating,
        "killed_at": killed_at,
        "acknowledged": acknowledged,
        "live": copy_of(host.db, tmp_path_factory.mktemp("live")),
    }


def test_a_restore_after_the_host_is_lost_holds_every_replicated_row(
    host: Host, lost: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = tmp_path_factory.mktemp("restored") / "mlruns.db"
    assert list(target.parent.iterdir()) == []

    done = invoke_restore(host, "--to", str(target))

    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"{target}: restored from {host.replica} as of its newest write; integrity ok; ")
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    live, restored = tables(lost["live"], skip_run=lost["beating"]), tables(target, skip_run=lost["beating"])
    assert live.keys() == restored.keys()
    for name in live:
        assert restored[name] == live[name], f"table {name} differs"
    assert len([row for row in restored["runs"] if row[0] in lost["runs"]]) == 4
    assert [row[:2] for row in restored["model_versions"] if row[0] == "store-history-model"] == [
        ("store-history-model", 1),
        ("store-history-model", 2),
    ]
    assert [row for row in restored["registered_model_aliases"] if "store-history-model" in row]

    kept, written = heartbeats(target, lost["beating"]), heartbeats(lost["live"], lost["beating"])
    assert kept == written[: len(kept)], "the restored heartbeats are the first ones written, with no gap"
    recovery_point = lost["killed_at"] - max(kept)
    figures = {
        "recovery_point_s": round(recovery_point, 2),
        "heartbeats_written": len(written),
        "heartbeats_restored": len(kept),
        "writes_per_s": round(len(lost["acknowledged"]) / 4, 1),
    }
    print(f"\nrestore figures: {json.dumps(figures)}")
    (Path(os.environ.get("TOPOLOGY_FIGURES", str(target.parent))) / "restore-figures.json").write_text(
        json.dumps(figures)
    )
    assert 0 <= recovery_point < 5, figures


def test_a_restore_to_a_timestamp_stops_there(host: Host, lost: dict, tmp_path: Path) -> None:
    target = tmp_path / "then.db"

    restored = restore(host.replica, target, lost["middle"].isoformat())

    with closing(sqlite3.connect(target)) as conn:
        run_ids = {row[0] for row in conn.execute("SELECT run_uuid FROM runs")}
    assert set(lost["runs"]) <= run_ids
    assert lost["late"] not in run_ids and lost["beating"] not in run_ids
    assert restored.runs == len(run_ids)


def test_a_restore_refuses_an_existing_file_and_a_bad_time_and_writes_nothing(host: Host, lost: dict, tmp_path: Path):
    existing = tmp_path / "mlruns.db"
    existing.write_text("keep me")

    refused = invoke_restore(host, "--to", str(existing))
    bad_time = invoke_restore(host, "--to", str(tmp_path / "new.db"), "--timestamp", "yesterday")
    too_early = invoke_restore(host, "--to", str(tmp_path / "early.db"), "--timestamp", "2000-01-01T00:00:00Z")

    assert (refused.returncode, refused.stderr) == (
        2,
        f"error: --to: {existing} exists; a restore writes a new file and never replaces one\n",
    )
    assert bad_time.returncode == 2 and bad_time.stderr.startswith("error: --timestamp: 'yesterday' is not")
    assert too_early.returncode == 1 and too_early.stderr.count("\n") == 1, too_early.stderr
    assert "nothing written" in too_early.stderr
    assert existing.read_text() == "keep me"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mlruns.db"]


def test_the_maintenance_vacuum_runs_beside_litestream_and_the_replica_follows(
    host: Host, lost: dict, tmp_path: Path
) -> None:
    """The maintenance path stops MLflow only; Litestream goes on replicating through the VACUUM."""
    host.start("litestream")
    time.sleep(SETTLE)

    report = vacuum(host.db, backups_kept=1, lock_timeout=5, busy_timeout=30)
    time.sleep(SETTLE)
    host.services["litestream"].stop()

    assert report.integrity == "ok"
    assert report.seconds < 15, report.lines()
    target = tmp_path / "after-vacuum.db"
    restore(host.replica, target)
    assert tables(target) == tables(host.db)
