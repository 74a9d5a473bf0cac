"""Random forest on RDKit features (scikit-learn), fitted on the whole training part.

A forest does not early-stop, so it also fits the validation molecules; its out-of-bag predictions stand in
for held-out ones when the intervals are calibrated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from trainer.cpus import allowed_cpus
from trainer.features import FeatureSpec
from trainer.models import StepLogger, check_seed
from trainer.models._tabular import TabularModel, estimator_arguments, matrices, out_of_bag_spread
from trainer.strict import Strict

if TYPE_CHECKING:
    from trainer.data import SplitData


class Params(Strict):
    features: FeatureSpec = FeatureSpec()
    n_estimators: int = Field(500, ge=1, le=10000)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: float = Field(0.3, gt=0, le=1, description="Fraction of features tried at each split.")


def check(params: Params, seed: int) -> None:
    check_seed(seed, 2**32 - 1, "scikit-learn's random_state")


def train(params: Params, split: SplitData, seed: int, log_step: StepLogger) -> TabularModel:
    from sklearn.ensemble import RandomForestRegressor

    train_x, valid_x = matrices(split, params.features)
    whole_x, whole_y = np.vstack([train_x, valid_x]), np.concatenate([split.train.y, split.valid.y])
    forest = RandomForestRegressor(**estimator_arguments(params), random_state=seed, n_jobs=allowed_cpus())
    forest.fit(whole_x, whole_y)
    return TabularModel(
        estimator=forest,
        features=params.features,
        flavor="sklearn",
        log_options={"skops_trusted_types": ["sklearn.tree._tree.Tree"]},
        oob=out_of_bag_spread(forest, whole_x),
    )
