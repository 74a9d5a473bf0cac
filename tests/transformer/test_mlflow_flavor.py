"""The fitted network logged with mlflow.pytorch loads back, as torch and as pyfunc, and predicts the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trainer.models import _transformer_net as net
from trainer.models.transformer import tokenize


@pytest.fixture(scope="module")
def logged_model(tmp_path_factory: pytest.TempPathFactory, tiny_fit) -> str:
    import mlflow

    model, _ = tiny_fit
    store = tmp_path_factory.mktemp("mlflow")
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("transformer-flavor", artifact_location=(store / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            model.log_native("transformer", ["CCO", "c1ccccc1O"])
        yield f"runs:/{run.info.run_id}/transformer"
    finally:
        mlflow.set_tracking_uri(None)


def canonical_ids(model, smiles: list[str]) -> np.ndarray:
    return net.pad([model.vocabulary.encode(tokenize(text), with_cls=False) for text in smiles]).numpy()


def in_process(model, smiles: list[str]) -> np.ndarray:
    """The fitted network's predictions for the SMILES as written, without test-time augmentation."""
    return net.predict_ids(model.network, list(canonical_ids(model, smiles)), 64, "cpu")


def test_torch_model_loads_and_matches_the_in_process_network(logged_model: str, tiny_fit, small_split) -> None:
    import mlflow.pytorch
    import torch

    model, _ = tiny_fit
    loaded = mlflow.pytorch.load_model(logged_model)
    for smiles in (small_split.test.smiles[:12], small_split.test.smiles[20:23]):  # other batch and length
        with torch.inference_mode():
            from_torch = loaded(torch.from_numpy(canonical_ids(model, smiles))).numpy()
        np.testing.assert_allclose(from_torch, in_process(model, smiles), atol=1e-5)


def test_pyfunc_of_the_torch_flavor_takes_token_ids(logged_model: str, tiny_fit, small_split) -> None:
    import mlflow.pyfunc

    model, _ = tiny_fit
    smiles = small_split.test.smiles[:5]
    pyfunc = mlflow.pyfunc.load_model(logged_model)
    predictions = np.asarray(pyfunc.predict(canonical_ids(model, smiles))).ravel()
    np.testing.assert_allclose(predictions, in_process(model, smiles), atol=1e-5)
    inputs = pyfunc.metadata.get_input_schema().inputs[0]
    assert inputs.type == np.dtype(np.int64) and inputs.shape == (-1, -1)


def test_vocabulary_file_travels_with_the_model(logged_model: str, tiny_fit) -> None:
    import mlflow.artifacts

    model, _ = tiny_fit
    folder = Path(mlflow.artifacts.download_artifacts(logged_model))
    vocabulary = json.loads((folder / "extra_files" / "vocabulary.json").read_text())
    assert vocabulary["tokens"] == list(model.vocabulary.tokens)
    assert vocabulary["pad_id"] == 0
