"""Gradient-boosted trees on RDKit features (XGBoost), early-stopped on the validation part."""

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
    n_estimators: int = Field(2000, ge=1, le=100000, description="Upper bound; early stopping picks the count.")
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(6, ge=1, le=20)
    min_child_weight: float = Field(1.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.5, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(100, ge=1)


def train(params: Params, split: SplitData, seed: int, log_step: StepLogger) -> TabularModel:
    from xgboost import XGBRegressor

    train_x, valid_x = matrices(split, params.features)
    booster = XGBRegressor(**estimator_arguments(params), tree_method="hist", random_state=seed)
    booster.fit(train_x, split.train.y, eval_set=[(valid_x, split.valid.y)], verbose=False)
    curve = booster.evals_result()["validation_0"]["rmse"]
    for step, value in enumerate(curve):
        log_step({"valid_rmse_curve": value}, step)
    return TabularModel(
        estimator=booster,
        features=params.features,
        flavor="xgboost",
        facts={"best_iteration": booster.best_iteration},
    )
