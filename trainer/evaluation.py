"""Score a trained model on the validation and test parts and log the numbers and the parity plot."""

from __future__ import annotations

import mlflow

from trainer.data import SplitData
from trainer.metrics import regression_metrics
from trainer.models import TrainedModel
from trainer.plots import parity_figure


def evaluate_and_log(model: TrainedModel, split: SplitData, family: str, target: str) -> float:
    """Log valid_* and test_* metrics and the test parity plot; returns the test RMSE."""
    scores = {}
    for name, part in (("valid", split.valid), ("test", split.test)):
        predicted = model.predict(part.smiles)
        scores.update({f"{name}_{metric}": value for metric, value in regression_metrics(part.y, predicted).items()})
        if name == "test":
            figure = parity_figure(part.y, predicted, f"{family}: test set", target)
            mlflow.log_figure(figure, "plots/parity_test.png")
    mlflow.log_metrics(scores)
    return scores["test_rmse"]
