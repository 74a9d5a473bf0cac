"""The one path, in process, against real SQLite stores: what a trained run holds, and when it is skipped."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from trainer.config import load_config
from trainer.models import load_family
from trainer.pipeline import prepare, skip_or_train
from trainer.runkey import KEY_SCHEMA, PROJECT
from trainer.tracking import COMPLETE_TAG, Store


def train(config: Path, uri: str):
    prepared = prepare(config)
    return skip_or_train(prepared, Store(uri, prepared.config.experiment), 60, print)


@pytest.mark.parametrize("family", ["rf", "xgb"])
def test_a_trained_run_holds_tags_params_metrics_plot_and_both_models(make_config, store_uri, tiny_csv, family) -> None:
    config = make_config(family)
    outcome = train(config, store_uri)
    assert outcome.action == "trained"
    run = MlflowClient(store_uri).get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    parts = prepare(config).parts
    assert {name: tags[name] for name in parts.tags()} == parts.tags()
    assert tags["data_hash"] == hashlib.sha256(tiny_csv.read_bytes()).hexdigest()
    assert tags["config_hash"] == hashlib.sha256(load_config(config).key_json().encode()).hexdigest()
    assert (
        tags["run_key"]
        == hashlib.sha256(
            "\n".join([KEY_SCHEMA, tags["code_hash"], tags["config_hash"], tags["data_hash"]]).encode()
        ).hexdigest()
    )
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", tags["git_sha"]), tags["git_sha"]
    assert tags[COMPLETE_TAG] == "true"
    assert tags["model_family"] == family
    assert tags["config_file"] == str(config)
    module = f"trainer/models/{family}.py"
    expected_digest = hashlib.sha256((PROJECT / module).read_bytes()).hexdigest()[:12]
    assert json.loads(tags["code_files"])[module] == expected_digest
    assert run.data.params["model.features.morgan_size"] == "64"
    assert run.data.params["data.split.method"] == "column"
    metrics = run.data.metrics
    assert metrics["rows_total"] == 81
    assert metrics["rows_train"] + metrics["rows_valid"] + metrics["rows_test"] + metrics["rows_dropped"] == 81
    # The forest fits the validation carve too (out-of-bag predictions calibrate it), so it has no valid_* figures.
    for part in ("valid", "test") if family == "xgb" else ("test",):
        for name in ("rmse", "mae", "r2", "spearman"):
            assert np.isfinite(metrics[f"{part}_{name}"]), f"{part}_{name}"
    assert ("valid_rmse" in metrics) == (family == "xgb")
    assert run.data.params["uncertainty.calibration_source"] == ("valid" if family == "xgb" else "out_of_bag")
    assert metrics["test_rmse"] == pytest.approx(outcome.test_rmse)
    assert 0.2 < metrics["test_rmse"] < 3.0
    config_text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config.json")
    assert json.loads(config_text)["model"]["family"] == family
    png = Path(mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/plots/parity_test.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_pyfunc_model_predicts_new_molecules_like_the_native_model(make_config, store_uri) -> None:
    outcome = train(make_config("xgb"), store_uri)
    mlflow.set_tracking_uri(store_uri)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{outcome.run_id}/pyfunc")
    new = ["CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C(O)c1ccccc1O", "not a molecule", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C"]
    predicted = pyfunc.predict(pd.DataFrame({"smiles": new}))["prediction"].to_numpy()
    assert np.isnan(predicted[2])
    assert np.isfinite(predicted[[0, 1, 3]]).all()

    from trainer.features import FeatureSpec, featurize

    native = mlflow.xgboost.load_model(f"runs:/{outcome.run_id}/model")
    features = featurize([new[i] for i in (0, 1, 3)], FeatureSpec(morgan_size=64, descriptors="properties"))
    np.testing.assert_allclose(predicted[[0, 1, 3]], native.predict(features), rtol=1e-6)


def test_the_same_key_gives_the_same_test_rmse(make_config, tmp_path) -> None:
    for family in ("rf", "xgb"):
        config = make_config(family)
        first = train(config, f"sqlite:///{tmp_path / family / 'a.db'}")
        second = train(config, f"sqlite:///{tmp_path / family / 'b.db'}")
        assert second.action == "trained"
        assert abs(first.test_rmse - second.test_rmse) < 1e-6


def test_a_complete_run_is_skipped_and_named(make_config, store_uri) -> None:
    config = make_config("rf")
    first = train(config, store_uri)
    again = train(config, store_uri)
    assert (again.action, again.run_id) == ("skipped", first.run_id)
    assert len(MlflowClient(store_uri).search_runs([_experiment_id(store_uri)])) == 1


@pytest.mark.parametrize(
    ("status", "complete"),
    [("FAILED", True), ("KILLED", True), ("RUNNING", True), ("FINISHED", False)],
    ids=["failed", "killed", "still-running", "finished-without-completion-tag"],
)
def test_an_unfinished_or_incomplete_run_never_blocks_training(make_config, store_uri, status, complete) -> None:
    prepared = prepare(make_config("rf"))
    store = Store(store_uri, prepared.config.experiment)
    client = MlflowClient(store_uri)
    tags = {**prepared.parts.tags(), "model_family": "rf", **({COMPLETE_TAG: "true"} if complete else {})}
    stale = client.create_run(store.ensure_experiment(), tags=tags)
    if status != "RUNNING":
        client.set_terminated(stale.info.run_id, status)
    outcome = skip_or_train(prepared, store, 60, print)
    assert outcome.action == "trained"
    assert outcome.run_id != stale.info.run_id
    assert train(make_config("rf"), store_uri).run_id == outcome.run_id


def test_an_exception_in_fit_marks_the_run_failed_without_the_completion_tag(make_config, store_uri, monkeypatch):
    def crash(*args: object) -> None:
        raise RuntimeError("out of memory in fit")

    monkeypatch.setattr(load_family("rf"), "train", crash)
    with pytest.raises(RuntimeError, match="out of memory in fit"):
        train(make_config("rf"), store_uri)
    (run,) = MlflowClient(store_uri).search_runs([_experiment_id(store_uri)])
    assert run.info.status == "FAILED"
    assert COMPLETE_TAG not in run.data.tags
    monkeypatch.undo()
    assert train(make_config("rf"), store_uri).action == "trained"


def _experiment_id(uri: str) -> str:
    return MlflowClient(uri).get_experiment_by_name("ai-drug").experiment_id


def test_every_tree_param_but_features_reaches_the_estimator_under_its_own_name() -> None:
    from sklearn.ensemble import RandomForestRegressor
    from xgboost import XGBRegressor

    from trainer.models._tabular import estimator_arguments

    for family, estimator in (("rf", RandomForestRegressor), ("xgb", XGBRegressor)):
        params = load_family(family).Params(max_depth=3, n_estimators=7)
        arguments = estimator_arguments(params)
        assert set(arguments) == set(type(params).model_fields) - {"features"}
        assert {name: estimator(**arguments).get_params()[name] for name in arguments} == arguments
