"""Fixtures for maintenance tests: a real MLflow SQLite store with garbage-collected runs, built once; a fresh
moto EC2 region; the ops stand-ins and SSM fixtures shared with the dispatch tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.maintenance.ec2_account import account  # noqa: F401 (fixtures)
from tests.ops_fixtures import aws_session, managed_instance, no_aws, settings, ssh_server, standins  # noqa: F401 (fixtures)

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

RUNS = 6
KEPT_RUNS = 2
METRIC_STEPS = 400


@dataclass(frozen=True)
class MlflowStore:
    """A store file after `mlflow gc`, and everything its runs held, as read through MLflow."""

    path: Path
    contents: dict[str, Any]


def _history(client: Any, run_id: str, key: str) -> list[tuple[float, int, int]]:
    return [(m.value, m.timestamp, m.step) for m in client.get_metric_history(run_id, key)]


def read_store(db: Path) -> dict[str, Any]:
    """Every experiment and run with its info, params, tags and full metric histories, through MLflow."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    contents: dict[str, Any] = {}
    for experiment in client.search_experiments(view_type=ViewType.ALL):
        runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000)
        contents[experiment.name] = {
            run.info.run_id: {
                "info": dict(run.info),
                "params": run.data.params,
                "tags": run.data.tags,
                "metrics": {key: _history(client, run.info.run_id, key) for key in sorted(run.data.metrics)},
            }
            for run in runs
        }
    return contents


@pytest.fixture(scope="session")
def gc_store(tmp_path_factory: pytest.TempPathFactory) -> MlflowStore:
    """Runs with params, tags and metric histories; most deleted and removed by the real `mlflow gc`."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    folder = tmp_path_factory.mktemp("mlflow-store")
    db = folder / "mlruns.db"
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("solubility", artifact_location=(folder / "artifacts").as_uri())
    run_ids = []
    for index in range(RUNS):
        run = client.create_run(experiment, run_name=f"run-{index}", tags={"model_family": "rf"})
        metrics = [
            Metric(key, value=index + step / 7 + offset, timestamp=1_700_000_000_000 + step, step=step)
            for offset, key in enumerate(("rmse", "mae", "r2"))
            for step in range(METRIC_STEPS)
        ]
        for start in range(0, len(metrics), 1000):
            client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
        client.log_batch(
            run.info.run_id,
            params=[Param(f"param_{n}", f"{index}-{n}") for n in range(5)],
            tags=[RunTag("run_key", f"{index:064x}"), RunTag("mlflow.note.content", "x" * 500)],
        )
        client.set_terminated(run.info.run_id)
        run_ids.append(run.info.run_id)
    for run_id in run_ids[KEPT_RUNS:]:
        client.delete_run(run_id)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    subprocess.run(
        [str(mlflow_cli), "gc", "--backend-store-uri", uri],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        check=True,
        capture_output=True,
    )
    return MlflowStore(path=db, contents=read_store(db))


@pytest.fixture(name="read_store")
def read_store_fixture():
    """`read_store` for the tests, which cannot import this file."""
    return read_store


@pytest.fixture
def store_copy(gc_store: MlflowStore, tmp_path: Path) -> Path:
    """A private copy of the garbage-collected store, in its own folder."""
    folder = tmp_path / "store"
    folder.mkdir()
    return Path(shutil.copy2(gc_store.path, folder / "mlruns.db"))
