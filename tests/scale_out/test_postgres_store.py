"""The whole path against an MLflow server on PostgreSQL: train, skip, explain, predict."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from tests.scale_out.conftest import ROOT, Server, WriteConfig, trainer
from trainer.tracking import COMPLETE_TAG


def _run(*args: str, server: Server, tmp: Path) -> subprocess.CompletedProcess[str]:
    process = trainer(*args, env={"MLFLOW_TRACKING_URI": server.url}, tmp=tmp)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_train_skip_explain_and_predict_on_postgresql(pg_server: Server, write_config: WriteConfig, tmp_path) -> None:
    assert pg_server.backend.startswith("postgresql+psycopg://")
    configs = [write_config("xgb", "pg-xgb", "pg-path"), write_config("rf", "pg-rf", "pg-path")]
    args = [arg for config in configs for arg in ("--config", str(config))]

    first = _run(*args, server=pg_server, tmp=tmp_path / "a")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split()[2] for line in lines] == ["trained", "trained"], first.stdout
    run_ids = [line.split()[4] for line in lines]

    client = MlflowClient(pg_server.url)
    experiment = client.get_experiment_by_name("pg-path")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.run_id for run in runs) == sorted(run_ids)
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags[COMPLETE_TAG] == "true"
        assert 0.2 < run.data.metrics["test_rmse"] < 3.0
    # The artifacts went through the server's proxy into its folder.
    assert {a.path for a in client.list_artifacts(run_ids[0])} >= {"config.json", "plots"}

    again = _run(*args, server=pg_server, tmp=tmp_path / "b")
    assert again.returncode == 0, again.stderr
    assert [line.split()[2] for line in again.stdout.splitlines()] == ["skipped", "skipped"]
    assert [line.split()[4] for line in again.stdout.splitlines()] == run_ids
    assert len(client.search_runs([experiment.experiment_id])) == 2

    explained = _run("--explain", "--config", str(configs[0]), server=pg_server, tmp=tmp_path / "c")
    assert explained.returncode == 0, explained.stderr
    assert f"hit: run {run_ids[0]} holds this key" in explained.stdout

    changed = write_config("xgb", "pg-xgb", "pg-path", max_depth=3)
    explained = _run("--explain", "--config", str(changed), server=pg_server, tmp=tmp_path / "d")
    assert "config differs: model.max_depth 6 -> 3" in explained.stdout, explained.stdout

    molecules = tmp_path / "molecules.csv"
    molecules.write_text("smiles\nCCO\nnot-a-smiles\nc1ccccc1O\n")
    output = tmp_path / "predictions.csv"
    predicted = subprocess.run(
        [sys.executable, "-m", "invoke", "predict", "--model", f"runs:/{run_ids[0]}/pyfunc",
         "--input", str(molecules), "--output", str(output)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**_env(), "MLFLOW_TRACKING_URI": pg_server.url},
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.DictReader(output.open()))
    assert [row["reason"] for row in rows] == ["", "SMILES does not parse", ""]
    assert all(-15 < float(rows[i]["prediction"]) < 5 for i in (0, 2))


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
