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

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        matrix = featurize(smiles, self.features)
        usable = ~np.isnan(matrix).all(axis=1)
        result = np.full(len(smiles), np.nan)
        if usable.any():
            result[usable] = self.estimator.predict(matrix[usable])
        return result

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


def estimator_arguments(params: Strict) -> dict[str, Any]:
    """A tree family's params as estimator arguments: every field but `features` has the estimator's own name."""
    return params.model_dump(exclude={"features"})


def matrices(split: SplitData, features: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrices of the training and validation parts, featurised in one batch."""
    both = featurize([*split.train.smiles, *split.valid.smiles], features)
    return both[: len(split.train)], both[len(split.train) :]
