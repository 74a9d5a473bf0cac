"""Intervals and domain on data whose answer is known: conformal coverage, spread combination, similarity."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from trainer.ensemble import combine
from trainer.uncertainty import CONFIDENCE, Domain, Interval


@pytest.mark.parametrize("heteroscedastic", [False, True])
def test_coverage_on_a_synthetic_set_with_known_noise_lands_at_90_percent(heteroscedastic: bool) -> None:
    rng = np.random.default_rng(7)
    n_calibration, n_test = 2000, 20_000
    sigma = rng.uniform(0.2, 2.0, n_calibration + n_test) if heteroscedastic else np.full(n_calibration + n_test, 0.5)
    truth = rng.normal(0, 3, n_calibration + n_test)
    observed = truth + rng.normal(0, sigma)
    # The model predicts the truth and knows its noise only roughly (a spread off by up to 30%).
    spread = sigma * rng.uniform(0.7, 1.3, len(sigma))
    interval = Interval((observed - truth)[:n_calibration], spread[:n_calibration])
    lower, upper = interval.bounds(truth[n_calibration:], spread[n_calibration:])
    covered = (observed[n_calibration:] >= lower) & (observed[n_calibration:] <= upper)
    # Split-conformal coverage is 90% on average over calibration sets; one set of 2,000 spreads it by ~0.7%.
    assert CONFIDENCE - 0.02 <= covered.mean() <= CONFIDENCE + 0.02
    if heteroscedastic:
        width = upper - lower
        assert np.corrcoef(width, spread[n_calibration:])[0, 1] > 0.95, "wider where the model is less sure"


def test_a_model_without_spread_gets_constant_width_intervals_and_nan_stays_nan() -> None:
    rng = np.random.default_rng(1)
    residuals = rng.normal(0, 1, 200)
    interval = Interval(residuals, np.zeros(200))
    lower, upper = interval.bounds(np.array([0.0, 5.0, np.nan]), np.zeros(3))
    assert upper[0] - lower[0] == pytest.approx(upper[1] - lower[1])
    assert upper[0] == pytest.approx(np.quantile(np.abs(residuals), 0.9), rel=0.05)
    assert np.isnan([lower[2], upper[2]]).all()


def test_too_few_calibration_molecules_give_infinite_intervals_not_false_confidence() -> None:
    interval = Interval(np.array([0.1, -0.2, 0.3]), np.ones(3))
    lower, upper = interval.bounds(np.array([1.0]), np.ones(1))
    assert (lower[0], upper[0]) == (-np.inf, np.inf)


def test_the_combined_spread_is_the_mixture_of_the_replicates() -> None:
    means = np.array([[1.0, 0.0], [3.0, 0.0]])
    spreads = np.array([[1.0, 0.0], [1.0, 2.0]])
    mean, std = combine(means, spreads)
    np.testing.assert_allclose(mean, [2.0, 0.0])
    np.testing.assert_allclose(std, [np.sqrt(1.0 + 1.0), np.sqrt(0.0 + 2.0)])


def test_similarity_is_one_for_a_training_molecule_and_the_threshold_comes_from_validation() -> None:
    train = ["CCO", "CCCO", "CCCCO", "c1ccccc1O", "c1ccccc1N"]
    validation = ["CCCCCO", "c1ccccc1C", "CC(=O)O"]
    domain = Domain(train, validation)
    similarity = domain.similarity(["OCC", "C1CCC2CCCCC2C1", "not smiles"])
    assert similarity[0] == 1.0
    assert similarity[1] < domain.threshold
    assert np.isnan(similarity[2])
    expected = np.quantile(domain.similarity(validation), 0.1)
    assert domain.threshold == pytest.approx(expected)
    assert domain.inside(similarity).tolist() == [True, False, False]
    restored = pickle.loads(pickle.dumps(domain))
    np.testing.assert_array_equal(restored.similarity(["OCC", "CCCCCO"]), domain.similarity(["OCC", "CCCCCO"]))
