"""Training behaviour of the transformer family on a small slice of the snapshot, on the CPU."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.config import load_config
from trainer.errors import BadInput
from trainer.models import _transformer_net as net
from trainer.models import transformer


def rmse(predicted: np.ndarray, observed: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - observed) ** 2)))


def test_each_epoch_logs_train_and_validation_loss_as_a_step(tiny_fit) -> None:
    model, recorder = tiny_fit
    epochs_run = model.summary()["epochs_run"]
    assert [step for step, _ in recorder.steps] == list(range(1, epochs_run + 1))
    assert all(
        set(metrics) == {"curve_train_loss", "curve_valid_loss", "curve_valid_rmse"} for _, metrics in recorder.steps
    )
    assert np.isfinite(recorder.series("curve_train_loss")).all()
    assert recorder.series("curve_train_loss")[-1] < recorder.series("curve_train_loss")[0]


def test_the_best_validation_weights_are_restored(small_split, tiny_params, step_recorder) -> None:
    recorder = step_recorder
    model = transformer.train(tiny_params(tta=0, epochs=8, patience=3), small_split, 3, recorder)
    summary = model.summary()
    curve = recorder.series("curve_valid_rmse")
    assert summary["best_epoch"] == int(np.argmin(curve)) + 1
    assert summary["best_valid_rmse"] == pytest.approx(curve.min(), abs=1e-6)
    # With no test-time augmentation, predicting the validation part repeats the best epoch's evaluation.
    assert rmse(model.predict(small_split.valid.smiles), small_split.valid.y) == pytest.approx(curve.min(), abs=1e-5)
    stopped_early = summary["epochs_run"] < 8
    assert summary["epochs_run"] - summary["best_epoch"] == (3 if stopped_early else 8 - summary["best_epoch"])


def test_a_tiny_model_learns_more_than_the_training_mean(tiny_fit, small_split) -> None:
    model, _ = tiny_fit
    test = small_split.test
    baseline = rmse(np.full(len(test), small_split.train.y.mean()), test.y)
    assert rmse(model.predict(test.smiles), test.y) < baseline


def test_same_seed_gives_the_same_predictions_on_cpu(small_split, tiny_params) -> None:
    first = transformer.train(tiny_params(epochs=2), small_split, 7, lambda metrics, step: None)
    second = transformer.train(tiny_params(epochs=2), small_split, 7, lambda metrics, step: None)
    np.testing.assert_allclose(
        first.predict(small_split.test.smiles), second.predict(small_split.test.smiles), atol=1e-4
    )
    other_seed = transformer.train(tiny_params(epochs=2), small_split, 8, lambda metrics, step: None)
    assert np.abs(other_seed.predict(small_split.test.smiles) - first.predict(small_split.test.smiles)).max() > 1e-4


def test_prediction_gives_nan_for_unusable_smiles_and_handles_unseen_tokens(tiny_fit) -> None:
    model, _ = tiny_fit
    predictions = model.predict(["CCO", "not a smiles", "", "C[Se]C", "OCC"])
    assert np.isnan(predictions[[1, 2]]).all()
    assert np.isfinite(predictions[[0, 3, 4]]).all()
    # Both spellings of ethanol are canonicalised first, so they agree.
    assert predictions[0] == pytest.approx(predictions[4], abs=1e-6)


def test_test_time_augmentation_is_seeded_and_changes_the_average(tiny_fit, small_split) -> None:
    model, _ = tiny_fit
    test = small_split.test.smiles
    np.testing.assert_array_equal(model.predict(test), model.predict(test))
    canonical_only = pickle.loads(pickle.dumps(model))
    canonical_only.params = canonical_only.params.model_copy(update={"tta": 0})
    assert np.abs(canonical_only.predict(test) - model.predict(test)).max() > 1e-6


def test_a_pickled_model_predicts_the_same(tiny_fit, small_split) -> None:
    model, _ = tiny_fit
    restored = pickle.loads(pickle.dumps(model))
    assert restored.device == torch.device("cpu")
    np.testing.assert_allclose(
        restored.predict(small_split.test.smiles), model.predict(small_split.test.smiles), atol=1e-6
    )


def test_summary_names_device_sizes_and_best_epoch(tiny_fit) -> None:
    model, _ = tiny_fit
    summary = model.summary()
    assert summary["device"] == "cpu"
    assert summary["vocabulary_size"] == len(model.vocabulary) > 3
    assert summary["parameters"] == sum(p.numel() for p in model.network.parameters())
    assert 1 <= summary["best_epoch"] <= summary["epochs_run"] <= 4


def test_cls_pooling_trains_too(small_split, tiny_params) -> None:
    model = transformer.train(tiny_params(pooling="cls", epochs=1), small_split, 0, lambda metrics, step: None)
    assert model.vocabulary.encode(["C"], with_cls=True)[0] == model.vocabulary.tokens.index(transformer.CLS)
    assert np.isfinite(model.predict(small_split.test.smiles)).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_auto_falls_back_to_cpu_and_cuda_without_one_is_refused() -> None:
    assert net.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(BadInput, match=r"model\.device: cuda"):
        net.resolve_device("cuda")


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ("heads: 3", "heads (3) must divide d_model (128)"),
        ("d_model: 32", "model.d_model"),
        ("layers: 5", "model.layers"),
        ("pooling: max", "model.pooling"),
        ("device: tpu", "model.device"),
        ("augment: '3'", "model.augment"),
        ("dropout_rate: 0.1", "model.dropout_rate"),
    ],
)
def test_bad_model_keys_are_refused_naming_the_key(tmp_path: Path, change: str, complaint: str) -> None:
    path = tmp_path / "transformer.yaml"
    path.write_text(f"data:\n  path: d.csv\n  target_column: y\nmodel:\n  family: transformer\n  {change}\n")
    with pytest.raises(BadInput) as refusal:
        load_config(path)
    assert str(refusal.value).startswith(f"{path}: ")
    assert complaint in str(refusal.value)


@pytest.mark.parametrize("endpoint", ["solubility", "freesolv"])
def test_the_committed_configs_are_valid(project_root: Path, endpoint: str) -> None:
    config = load_config(project_root / "configs" / endpoint / "transformer.yaml")
    assert (config.family, config.endpoint.name) == ("transformer", endpoint)
    assert config.params.augment > 0 and config.params.tta > 0, "enumeration is set in the config"
    assert config.params.device == "auto"
