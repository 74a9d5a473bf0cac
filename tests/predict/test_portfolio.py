"""Two endpoints in one store, trained through the real pipeline: each its own model, champion and columns."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from trainer import cli
from trainer.errors import BadInput
from trainer.predict import predict_file
from trainer.registry import CHAMPION
from trainer.tracking import COMPLETE_TAG

ROOT = Path(__file__).resolve().parents[2]
TINY_XGB = {"family": "xgb", "features": {"morgan_size": 64, "descriptors": "properties"}, "n_estimators": 30}
SOLUBILITY_COLUMNS = [
    f"solubility_xgb_logS{suffix}" for suffix in ("", "_std", "_lower", "_upper", "_similarity", "_in_domain")
]
FREESOLV_COLUMNS = [c.replace("solubility_xgb_logS", "freesolv_xgb_kcal_mol") for c in SOLUBILITY_COLUMNS]


def every_nth(source: Path, target: Path, step: int) -> Path:
    with source.open() as handle:
        rows = list(csv.reader(handle))
    with target.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([rows[0], *rows[1::step]])
    return target


def config(folder: Path, name: str, endpoint: dict, data: dict, **top: object) -> Path:
    document = {"endpoint": endpoint, **top, "data": {"validation_fraction": 0.2, **data}, "model": TINY_XGB}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite store for this test, seen by subprocesses too; the SIGTERM handler is put back after."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    handler = signal.getsignal(signal.SIGTERM)
    yield uri
    signal.signal(signal.SIGTERM, handler)


@pytest.fixture
def panel(tmp_path: Path, store_uri: str) -> dict[str, Path]:
    """Tiny solubility and FreeSolv configs, and a solubility config on another split."""
    solubility = every_nth(ROOT / "data" / "solubility.csv", tmp_path / "solubility.csv", 12)
    freesolv = every_nth(ROOT / "data" / "freesolv.csv", tmp_path / "freesolv.csv", 6)
    folder = tmp_path / "configs"
    folder.mkdir()
    on_solubility = {"path": str(solubility), "target_column": "logS", "on_invalid": "drop"}
    return {
        "solubility": config(folder, "solubility", {"name": "solubility", "unit": "logS"}, on_solubility),
        "freesolv": config(
            folder,
            "freesolv",
            {"name": "freesolv", "unit": "kcal/mol"},
            {"path": str(freesolv), "target_column": "dG_hyd", "split": {"method": "random"}},
            replicates=2,
        ),
        "other_split": config(
            folder,
            "other_split",
            {"name": "solubility", "unit": "logS"},
            {**on_solubility, "split": {"method": "random", "test_fraction": 0.3}},
        ),
    }


def train(*configs: Path) -> int:
    return cli.run([str(path) for path in configs], explain=False, configs_dir=Path("configs"), lock_timeout=60)


def champion_run(uri: str, name: str) -> str:
    return MlflowClient(uri).get_model_version_by_alias(name, CHAMPION).run_id


def test_two_endpoints_each_have_their_own_model_and_champion_and_columns(panel, store_uri, tmp_path) -> None:
    assert train(panel["solubility"], panel["freesolv"]) == 0
    client = MlflowClient(store_uri)
    names = sorted(model.name for model in client.search_registered_models())
    assert names == ["ai-drug-freesolv-xgb", "ai-drug-solubility-xgb"]
    for name in names:
        run = client.get_run(champion_run(store_uri, name))
        assert run.data.tags["champion_reason"] == "first version"
        assert run.data.tags["endpoint"] == name.split("-")[2]
    freesolv_run = client.get_run(champion_run(store_uri, "ai-drug-freesolv-xgb"))
    metrics = freesolv_run.data.metrics
    assert [metrics[f"replicate_{i}_test_rmse"] for i in (0, 1)] != [metrics["test_rmse_mean"]] * 2
    assert metrics["test_rmse_mean"] == pytest.approx(np.mean([metrics[f"replicate_{i}_test_rmse"] for i in (0, 1)]))
    assert 0.0 <= metrics["test_interval_coverage"] <= 1.0 and metrics["rows_valid"] >= 9
    assert float(freesolv_run.data.params["domain.threshold"]) > 0

    molecules = tmp_path / "molecules.csv"
    molecules.write_text("smiles\nCCO\nC1CC(\nc1ccccc1O\n")
    both = tmp_path / "both.csv"
    predict_file("", str(molecules), str(both), "smiles")
    written = pd.read_csv(both)
    assert list(written.columns) == ["smiles", *FREESOLV_COLUMNS, *SOLUBILITY_COLUMNS, "reason"]
    for column in (FREESOLV_COLUMNS[0], SOLUBILITY_COLUMNS[0]):
        values = written[column]
        assert values.isna().tolist() == [False, True, False]
        lower, upper = written[f"{column}_lower"], written[f"{column}_upper"]
        assert ((lower[[0, 2]] <= values[[0, 2]]) & (values[[0, 2]] <= upper[[0, 2]])).all()
        assert written[f"{column}_std"][[0, 2]].ge(0).all()
        assert written[f"{column}_similarity"][[0, 2]].between(0, 1).all()

    # Predicting one endpoint never touches the other: it works with the other's model files gone.
    source = client.get_model_version_by_alias("ai-drug-freesolv-xgb", CHAMPION).source  # models:/<model id>
    shutil.rmtree(urlparse(client.get_logged_model(source.removeprefix("models:/")).artifact_location).path)
    narrowed = tmp_path / "solubility-only.csv"
    predict_file("", str(molecules), str(narrowed), "smiles", endpoint="solubility")
    alone = pd.read_csv(narrowed)
    assert list(alone.columns) == ["smiles", *SOLUBILITY_COLUMNS, "reason"]
    pd.testing.assert_frame_equal(alone[SOLUBILITY_COLUMNS], written[SOLUBILITY_COLUMNS])

    with pytest.raises(
        BadInput, match=r"^--endpoint herg: no such endpoint in the store \(known: freesolv, solubility\)$"
    ):
        predict_file("", str(molecules), str(tmp_path / "never.csv"), "smiles", endpoint="herg")
    assert not (tmp_path / "never.csv").exists()


def test_a_challenger_on_another_split_does_not_take_the_alias(panel, store_uri) -> None:
    assert train(panel["solubility"], panel["other_split"]) == 0
    client = MlflowClient(store_uri)
    held = client.get_model_version_by_alias("ai-drug-solubility-xgb", CHAMPION)
    assert str(held.version) == "1"
    challenger = client.get_model_version("ai-drug-solubility-xgb", "2")
    tags = client.get_run(challenger.run_id).data.tags
    assert tags["champion"] == "false"
    assert tags["test_set_hash"] != client.get_run(held.run_id).data.tags["test_set_hash"]
    assert "another split" in tags["champion_reason"]


def test_sigterm_between_registration_and_completion_leaves_the_alias_alone(panel, store_uri, monkeypatch) -> None:
    import trainer.tracking

    complete = trainer.tracking.mark_complete

    def terminated_first() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        complete()

    monkeypatch.setattr(trainer.tracking, "mark_complete", terminated_first)
    assert train(panel["solubility"]) == 1
    client = MlflowClient(store_uri)
    (killed,) = client.search_model_versions("name = 'ai-drug-solubility-xgb'")
    run = client.get_run(killed.run_id)
    assert (run.info.status, run.data.tags.get(COMPLETE_TAG)) == ("KILLED", None)
    assert client.get_registered_model("ai-drug-solubility-xgb").aliases == {}

    monkeypatch.setattr(trainer.tracking, "mark_complete", complete)
    # As an older store could hold it: the alias on the killed run's version. The complete retrain takes it.
    client.set_registered_model_alias("ai-drug-solubility-xgb", CHAMPION, killed.version)
    assert train(panel["solubility"]) == 0
    winner = client.get_model_version_by_alias("ai-drug-solubility-xgb", CHAMPION)
    assert str(winner.version) == "2" and winner.run_id != killed.run_id
    assert client.get_run(winner.run_id).data.tags["champion_reason"] == (
        "champion version 1's run is not complete (KILLED), so it cannot keep it"
    )


def test_the_snapshot_is_logged_as_a_dataset_input_of_each_part(panel, store_uri) -> None:
    assert train(panel["freesolv"]) == 0
    client = MlflowClient(store_uri)
    run = client.get_run(champion_run(store_uri, "ai-drug-freesolv-xgb"))
    inputs = {item.tags[0].value: item.dataset for item in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["test", "train"]
    for dataset in inputs.values():
        assert dataset.digest == run.data.tags["data_hash"][:36]
        assert yaml.safe_load(dataset.source) == {"uri": str(panel["freesolv"].parent.parent / "freesolv.csv")}
    # One name per meaning: the learning curve is per replicate and step, the final figures a single value.
    assert [m.step for m in client.get_metric_history(run.info.run_id, "valid_rmse")] == [0]
    assert len(client.get_metric_history(run.info.run_id, "replicate_1_curve_valid_rmse")) > 1


def run_trainer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"endpoint": {"name": "solubility", "unit": "mol/L"}},
            "endpoint.unit: 'mol/L' disagrees with 'logS' in {first}",
        ),
        (
            {"endpoint": {"name": "esol", "unit": "logS"}},
            "endpoint.name: 'esol' disagrees with 'solubility' in {first}",
        ),
    ],
)
def test_configs_that_disagree_on_an_endpoint_are_refused_before_anything_is_written(
    panel, store_uri, change, expected
) -> None:
    first = panel["solubility"]
    document = {**yaml.safe_load(first.read_text()), **change}
    second = first.with_name("second.yaml")
    second.write_text(yaml.safe_dump(document))
    refused = run_trainer("--config", str(first), "--config", str(second))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {second}: {expected.format(first=first)}")
    assert refused.stderr.count("\n") == 1 and refused.stdout == ""
    assert not Path(urlparse(store_uri).path).parent.exists()


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"replicates": 0}, "replicates: Input should be greater than or equal to 1"),
        ({"replicates": 21}, "replicates: Input should be less than or equal to 20"),
        ({"selection": {"margin": -0.01}}, "selection.margin: Input should be greater than or equal to 0"),
    ],
)
def test_bad_replicates_or_margin_are_one_line_and_exit_2(panel, store_uri, top, expected) -> None:
    path = panel["solubility"]
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **top}))
    refused = run_trainer("--config", str(path))
    assert (refused.returncode, refused.stderr, refused.stdout) == (2, f"error: {path}: {expected}\n", "")
    assert not Path(urlparse(store_uri).path).parent.exists()


def test_an_unknown_endpoint_in_invoke_predict_is_one_line_and_exit_2(panel, store_uri, tmp_path) -> None:
    assert train(panel["solubility"]) == 0
    molecules = tmp_path / "in.csv"
    molecules.write_text("smiles\nCCO\n")
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "predict", "--input", str(molecules), "--output", str(tmp_path / "o.csv"),
         "--endpoint", "herg"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr == "error: --endpoint herg: no such endpoint in the store (known: solubility)\n"
    assert not (tmp_path / "o.csv").exists()
