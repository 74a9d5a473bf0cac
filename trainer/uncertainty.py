"""How far to trust a prediction: a calibrated interval and an applicability domain, fixed at training time.

- Interval: split-conformal regression (crepes), normalised by the model's own spread, so an uncertain molecule
  gets a wider interval. It is calibrated on molecules the model did not fit (the validation part, or a forest's
  out-of-bag predictions), so its coverage holds by construction for molecules like those, not by assuming
  Gaussian errors. The spread is offset by its median on the calibration set (the usual sigma + beta), which keeps
  a model with no spread at all (one XGBoost replicate) on plain, constant-width conformal intervals.
- Domain: the largest Tanimoto similarity of a molecule's Morgan bits to the training part. The threshold is the
  similarity that DOMAIN_QUANTILE of the validation molecules fall below, so "out of domain" means farther from
  the training set than nine validation molecules in ten.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

CONFIDENCE = 0.9
DOMAIN_QUANTILE = 0.1
FINGERPRINT_RADIUS = 2
FINGERPRINT_SIZE = 2048


class Interval:
    """A normalised split-conformal regressor at CONFIDENCE."""

    def __init__(self, residuals: np.ndarray, spread: np.ndarray) -> None:
        from crepes import ConformalRegressor

        usable = np.isfinite(residuals) & np.isfinite(spread)
        if not usable.any():
            raise ValueError("no calibration molecule has a prediction")
        median = float(np.median(spread[usable]))
        self.beta = median if median > 0 else 1.0
        self.calibration_size = int(usable.sum())
        self.regressor = ConformalRegressor().fit(residuals[usable], sigmas=spread[usable] + self.beta)

    def bounds(self, mean: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper ends; NaN where there is no prediction."""
        lower, upper = np.full(len(mean), np.nan), np.full(len(mean), np.nan)
        usable = np.isfinite(mean) & np.isfinite(spread)
        if usable.any():
            with warnings.catch_warnings():
                # Under 9 calibration molecules crepes warns and returns its largest float: infinite ends here.
                warnings.simplefilter("ignore", UserWarning)
                ends = self.regressor.predict_int(
                    mean[usable], sigmas=spread[usable] + self.beta, confidence=CONFIDENCE
                )
            ends[np.abs(ends) >= np.finfo(float).max] = np.nan
            lower[usable] = np.where(np.isnan(ends[:, 0]), -np.inf, ends[:, 0])
            upper[usable] = np.where(np.isnan(ends[:, 1]), np.inf, ends[:, 1])
        return lower, upper


class Domain:
    """Similarity to the training part, and the threshold above which a molecule counts as in domain."""

    def __init__(self, reference_smiles: Sequence[str], validation_smiles: Sequence[str]) -> None:
        self.reference = [fp for fp in fingerprints(reference_smiles) if fp is not None]
        validation = self.similarity(validation_smiles)
        validation = validation[np.isfinite(validation)]
        self.threshold = float(np.quantile(validation, DOMAIN_QUANTILE)) if len(validation) else 0.0

    def similarity(self, smiles: Sequence[str]) -> np.ndarray:
        """Largest Tanimoto similarity to the reference set; NaN for a SMILES that does not parse."""
        from rdkit import DataStructs

        result = np.full(len(smiles), np.nan)
        for row, fingerprint in enumerate(fingerprints(smiles)):
            if fingerprint is not None and self.reference:
                result[row] = max(DataStructs.BulkTanimotoSimilarity(fingerprint, self.reference))
        return result

    def inside(self, similarity: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return similarity >= self.threshold

    def __getstate__(self) -> dict[str, Any]:
        """Fingerprints travel as RDKit's own binary form."""
        return {"threshold": self.threshold, "reference": [fp.ToBinary() for fp in self.reference]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from rdkit.DataStructs import ExplicitBitVect

        self.threshold = state["threshold"]
        self.reference = [ExplicitBitVect(binary) for binary in state["reference"]]


def fingerprints(smiles: Sequence[str]) -> list[Any]:
    """Morgan bit vectors; None for a SMILES RDKit cannot parse."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=FINGERPRINT_RADIUS, fpSize=FINGERPRINT_SIZE)
    molecules = [Chem.MolFromSmiles(text) if isinstance(text, str) and text else None for text in smiles]
    return [generator.GetFingerprint(molecule) if molecule is not None else None for molecule in molecules]
