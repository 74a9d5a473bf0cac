"""What the tree families share: RDKit features in, a fitted estimator with an MLflow flavor out."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.features import FeatureSpec, featurize
from trainer.paths import REQUIREMENTS
from trainer.strict import Strict

if TYPE_CHECKING:
    from trainer.data import SplitData


@dataclass
class TabularModel:
    """A fitted scikit-learn-style estimator and the features it was fitted on."""

    estimator: Any
    features: FeatureSpec
    flavor: str
    facts: dict[str, Any] = field(default_factory=dict)
    log_options: dict[str, Any] = field(default_factory=dict)
    oob: tuple[np.ndarray, np.ndarray] | None = None

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        return self.predict_spread(smiles)[0]

    def predict_spread(self, smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """A forest's mean and spread over its trees; a single estimator's prediction with zero spread."""
        matrix = featurize(smiles, self.features)
        usable = ~np.isnan(matrix).all(axis=1)
        mean, spread = np.full(len(smiles), np.nan), np.full(len(smiles), np.nan)
        if usable.any():
            if hasattr(self.estimator, "estimators_"):
                per_tree = tree_predictions(self.estimator, matrix[usable])
                mean[usable], spread[usable] = per_tree.mean(axis=0), per_tree.std(axis=0)
            else:
                mean[usable], spread[usable] = self.estimator.predict(matrix[usable]), 0.0
        return mean, spread

    def out_of_bag(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.oob

    def log_native(self, name: str, sample_smiles: Sequence[str]) -> None:
        from mlflow.models import infer_signature

        sample = featurize(sample_smiles[:5], self.features)
        signature = infer_signature(sample, self.estimator.predict(sample))
        flavor = importlib.import_module(f"mlflow.{self.flavor}")
        flavor.log_model(
            self.estimator, name=name, signature=signature, pip_requirements=str(REQUIREMENTS), **self.log_options
        )

    def summary(self) -> dict[str, Any]:
        return {"n_features": self.estimator.n_features_in_, **self.facts}


def tree_predictions(forest: Any, matrix: np.ndarray) -> np.ndarray:
    """Every tree's predictions, one row per tree (a forest's prediction is their mean)."""
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    return np.stack([tree.predict(rows, check_input=False) for tree in forest.estimators_])


def out_of_bag_spread(forest: Any, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of the trees that did not draw each training molecule; NaN where every tree drew it."""
    per_tree = tree_predictions(forest, matrix)
    unseen = np.ones(per_tree.shape, dtype=bool)
    for row, drawn in enumerate(forest.estimators_samples_):
        unseen[row, drawn] = False
    votes = np.where(unseen, per_tree, np.nan)
    counts = unseen.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(votes, axis=0) / counts
        spread = np.sqrt(np.nansum((votes - mean) ** 2, axis=0) / counts)
    return np.where(counts > 0, mean, np.nan), np.where(counts > 0, spread, np.nan)


def estimator_arguments(params: Strict) -> dict[str, Any]:
    """A tree family's params as estimator arguments: every field but `features` has the estimator's own name."""
    return params.model_dump(exclude={"features"})


def matrices(split: SplitData, features: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrices of the training and validation parts, featurised in one batch."""
    both = featurize([*split.train.smiles, *split.valid.smiles], features)
    return both[: len(split.train)], both[len(split.train) :]
