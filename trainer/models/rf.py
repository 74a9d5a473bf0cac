"""Random forest on RDKit features (scikit-learn)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from trainer.features import FeatureSpec
from trainer.models import StepLogger
from trainer.models._tabular import TabularModel, estimator_arguments, matrices
from trainer.strict import Strict

if TYPE_CHECKING:
    from trainer.data import SplitData


class Params(Strict):
    features: FeatureSpec = FeatureSpec()
    n_estimators: int = Field(500, ge=1, le=10000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: float = Field(0.3, gt=0, le=1, description="Fraction of features tried at each split.")


def train(params: Params, split: SplitData, seed: int, log_step: StepLogger) -> TabularModel:
    from sklearn.ensemble import RandomForestRegressor

    train_x, _ = matrices(split, params.features)
    forest = RandomForestRegressor(**estimator_arguments(params), random_state=seed, n_jobs=-1)
    forest.fit(train_x, split.train.y)
    return TabularModel(
        estimator=forest,
        features=params.features,
        flavor="sklearn",
        log_options={"skops_trusted_types": ["sklearn.tree._tree.Tree"]},
    )
