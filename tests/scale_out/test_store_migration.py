"""`invoke store.migrate`: a SQLite store with history into PostgreSQL, compared run by run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, ViewType

from tests.scale_out.conftest import ROOT, Postgres, WriteConfig, trainer
from trainer.pipeline import prepare, skip_or_train
from trainer.tracking import Store


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip


@pytest.fixture
def sqlite_store(tmp_path: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch):
    """Two trained configs (registered, champion aliases), a killed run with a 30-step curve, a deleted run."""
    uri = f"sqlite:///{tmp_path / 'old' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    configs = [write_config("xgb", "m-xgb", "migrated"), write_config("rf", "m-rf", "migrated")]
    for config in configs:
        prepared = prepare(config)
        assert skip_or_train(prepared, Store(uri, "migrated"), 60, print).action == "trained"
    client = MlflowClient(uri)
    other = client.create_experiment("other", artifact_location=(tmp_path / "old" / "other").as_uri())
    killed = client.create_run(other, tags={"note": "killed"})
    curve = [Metric("loss", 1.0 / (step + 1), 1_700_000_000_000 + step, step) for step in range(30)]
    client.log_batch(killed.info.run_id, metrics=curve, params=[])
    client.log_param(killed.info.run_id, "lr", "0.1")
    client.set_terminated(killed.info.run_id, "KILLED")
    gone = client.create_run(other)
    client.delete_run(gone.info.run_id)
    return uri, configs


def comparable(metrics: dict[str, float]) -> dict[str, str]:
    """Metrics with NaN (a run may log one, e.g. a spread with no range) equal to NaN: compared by repr."""
    return {name: repr(value) for name, value in metrics.items()}


def test_migrate_copies_runs_histories_and_registry_and_train_skips_after(
    sqlite_store, postgres: Postgres, tmp_path: Path
) -> None:
    source, configs = sqlite_store
    target = postgres.database("migrated")
    done = _invoke("store.migrate", "--source", source, "--to", target)
    assert done.returncode == 0, done.stderr
    assert "experiments" in done.stdout and "metric values" in done.stdout

    old, new = MlflowClient(source), MlflowClient(target)
    old_experiments = old.search_experiments(view_type=ViewType.ALL)
    assert [(e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage) for e in old_experiments] == [
        (e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage)
        for e in new.search_experiments(view_type=ViewType.ALL)
    ]
    ids = [e.experiment_id for e in old_experiments]
    old_runs = old.search_runs(ids, run_view_type=ViewType.ALL)
    assert len(old_runs) == 4
    for run in old_runs:
        copy = new.get_run(run.info.run_id)
        assert copy.info == run.info
        assert copy.data.params == run.data.params
        assert copy.data.tags == run.data.tags
        assert comparable(copy.data.metrics) == comparable(run.data.metrics)
        for name in run.data.metrics:
            history = [(repr(m.value), m.step, m.timestamp) for m in old.get_metric_history(run.info.run_id, name)]
            copied = new.get_metric_history(run.info.run_id, name)
            assert [(repr(m.value), m.step, m.timestamp) for m in copied] == history
    killed = next(run for run in old_runs if run.data.tags.get("note") == "killed")
    assert len(new.get_metric_history(killed.info.run_id, "loss")) == 30
    assert new.get_run(killed.info.run_id).info.status == "KILLED"

    models = old.search_registered_models()
    assert len(models) == 2
    for model in models:
        # The stores hand an alias's version back as int (SQLite) or str (PostgreSQL): compare the numbers.
        aliases = [new.get_registered_model(model.name).aliases, model.aliases]
        assert [{name: int(version) for name, version in held.items()} for held in aliases] == [{"champion": 1}] * 2
        versions = old.search_model_versions(f"name = '{model.name}'")
        copies = new.search_model_versions(f"name = '{model.name}'")
        assert [(v.version, v.run_id, v.source, v.status) for v in copies] == [
            (v.version, v.run_id, v.source, v.status) for v in versions
        ]
    # Artifacts stayed where they were and are read from there through the new store.
    run_id = old_runs[0].info.run_id
    assert [a.path for a in new.list_artifacts(run_id)] == [a.path for a in old.list_artifacts(run_id)]
    # New ids continue after the copied ones.
    assert int(new.create_experiment("after-migration")) > max(int(i) for i in ids)

    skipped = trainer(
        *[arg for config in configs for arg in ("--config", str(config))],
        env={"MLFLOW_TRACKING_URI": target},
        tmp=tmp_path / "machine",
    )
    stdout, stderr = skipped.communicate(timeout=300)
    assert skipped.returncode == 0, stderr
    lines = stdout.splitlines()
    assert [line.split()[2] for line in lines] == ["skipped", "skipped"]
    trained_ids = {run.info.run_id for run in old_runs if run.data.tags.get("run_complete") == "true"}
    assert {line.split()[4] for line in lines} == trained_ids

    again = _invoke("store.migrate", "--source", source, "--to", target)
    assert again.returncode == 2
    assert again.stderr.startswith("error: --to: postgresql+psycopg://postgres@127.0.0.1:")
    assert "is not empty (" in again.stderr and len(again.stderr.splitlines()) == 1


def test_a_database_that_mlflow_has_only_initialised_counts_as_empty(postgres: Postgres, tmp_path: Path) -> None:
    """A first `mlflow server` start on the new database writes its schema and the Default experiment."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    source = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(source)
    run = client.create_run(client.create_experiment("small"))
    client.log_metric(run.info.run_id, "loss", 0.5, step=3)
    target = postgres.database("seeded")
    SqlAlchemyStore(target, (tmp_path / "artifacts").as_uri()).engine.dispose()
    done = _invoke("store.migrate", "--source", source, "--to", target)
    assert done.returncode == 0, done.stderr
    assert [(m.value, m.step) for m in MlflowClient(target).get_metric_history(run.info.run_id, "loss")] == [(0.5, 3)]


PG = "postgresql+psycopg://u@127.0.0.1/x"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--source", "sqlite:////nowhere/mlflow.db", "--to", PG], "--source: /nowhere"),
        (["--source", "http://127.0.0.1:5000", "--to", PG], "--source: 'http"),
        (["--to", "mysql://u:secret@db/x"], "--to: 'mysql://u:***@db/x' is not a PostgreSQL URI"),
    ],
)
def test_bad_flags_are_refused_in_one_line(args: list[str], complaint: str, tmp_path: Path) -> None:
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"")
    refused = _invoke("store.migrate", *(["--source", f"sqlite:///{store}"] if "--source" not in args else []), *args)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {complaint}"), refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert "secret" not in refused.stderr
