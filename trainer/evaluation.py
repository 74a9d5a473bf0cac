"""Score a trained ensemble on the validation and test parts and log the numbers and the parity plot.

One metric name per meaning: `test_rmse` is the served ensemble's, `replicate_<i>_test_rmse` each replicate's,
`test_rmse_mean` and `test_rmse_sd` their mean and standard deviation (what the champion contest compares), and
the `test_interval_*`, `test_*_domain` figures say how far the uncertainty can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np

from trainer.data import SplitData
from trainer.ensemble import Ensemble, Prediction
from trainer.metrics import regression_metrics
from trainer.plots import close_figure, parity_figure


@dataclass(frozen=True)
class Scores:
    """What the registry needs: the served model's test RMSE and the replicates' mean, sd and count."""

    test_rmse: float
    rmse_mean: float
    rmse_sd: float
    replicates: int


def evaluate_and_log(model: Ensemble, split: SplitData, title: str, unit: str) -> Scores:
    """Log valid_*, test_*, per-replicate and uncertainty metrics and the test parity plot."""
    scores = {}
    if model.calibration_source == "valid":  # a forest fits the validation carve, so it scores only on test
        predicted = model.predict(split.valid.smiles)
        scores.update({f"valid_{name}": value for name, value in regression_metrics(split.valid.y, predicted).items()})
    test = model.describe(split.test.smiles)
    scores.update({f"test_{name}": value for name, value in regression_metrics(split.test.y, test.mean).items()})
    replicate_rmse = []
    for index, predicted in enumerate(test.members):
        metrics = regression_metrics(split.test.y, predicted)
        scores.update({f"replicate_{index}_test_{name}": value for name, value in metrics.items()})
        replicate_rmse.append(metrics["rmse"])
    rmse_sd = float(np.std(replicate_rmse, ddof=1)) if len(replicate_rmse) > 1 else 0.0
    scores.update(test_rmse_mean=float(np.mean(replicate_rmse)), test_rmse_sd=rmse_sd)
    scores.update(trust_metrics(split.test.y, test))
    mlflow.log_metrics(scores)
    figure = parity_figure(split.test.y, test, title, unit)
    mlflow.log_figure(figure, "plots/parity_test.png")
    close_figure(figure)
    return Scores(scores["test_rmse"], scores["test_rmse_mean"], rmse_sd, len(replicate_rmse))


def trust_metrics(observed: np.ndarray, predicted: Prediction) -> dict[str, float]:
    """Interval coverage and width, how well the spread ranks the errors, and RMSE in and out of domain."""
    from scipy.stats import spearmanr

    error = predicted.mean - observed
    inside = predicted.in_domain.astype(bool)
    covered = (observed >= predicted.lower) & (observed <= predicted.upper)
    bounded = np.isfinite(predicted.lower) & np.isfinite(predicted.upper)
    figures = {
        "test_interval_coverage": float(covered.mean()),
        "test_interval_width": float(np.mean(predicted.upper - predicted.lower)) if bounded.all() else float("nan"),
        "test_spearman_error_std": (
            float(spearmanr(np.abs(error), predicted.std).statistic) if np.ptp(predicted.std) > 0 else float("nan")
        ),
        "test_in_domain_fraction": float(inside.mean()),
    }
    for name, rows in (("in_domain", inside), ("out_domain", ~inside)):
        figures[f"test_rmse_{name}"] = float(np.sqrt(np.mean(error[rows] ** 2))) if rows.any() else float("nan")
    return figures
