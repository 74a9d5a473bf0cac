"""Replicates: N seeds of one family on the same split, served as one model with its uncertainty.

The served prediction is the replicates' mean. Its spread combines the replicates' disagreement with each
replicate's own spread (a forest's trees, the transformer's SMILES forms) by the law of total variance. The
interval and the domain are fixed here, at training time, from data the replicates did not fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from trainer.data import SplitData
from trainer.models import StepLogger, TrainedModel
from trainer.uncertainty import CONFIDENCE, DOMAIN_QUANTILE, Domain, Interval


@dataclass(frozen=True)
class Prediction:
    """Everything the ensemble says about a list of molecules; `members` holds each replicate's mean."""

    members: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    similarity: np.ndarray
    in_domain: np.ndarray


def combine(means: np.ndarray, spreads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over replicates (rows), and the standard deviation of the mixture they form."""
    with np.errstate(invalid="ignore"):
        mean = means.mean(axis=0)
        variance = means.var(axis=0) + (spreads**2).mean(axis=0)
    return mean, np.sqrt(variance)


class Ensemble:
    """The fitted replicates with their calibrated interval and applicability domain."""

    def __init__(self, members: Sequence[TrainedModel], split: SplitData) -> None:
        self.members = list(members)
        self.domain = Domain(split.train.smiles, split.valid.smiles)
        held_out = self._out_of_bag()
        if held_out is None:
            held_out, self.calibration_source = self.predict_spread(split.valid.smiles), "valid"
            observed = split.valid.y
        else:
            self.calibration_source = "out_of_bag"
            observed = np.concatenate([split.train.y, split.valid.y])
        mean, spread = held_out
        self.interval = Interval(observed - mean, spread)

    def _out_of_bag(self) -> tuple[np.ndarray, np.ndarray] | None:
        found = [member.out_of_bag() for member in self.members]
        if any(item is None for item in found):
            return None
        return combine(np.stack([mean for mean, _ in found]), np.stack([spread for _, spread in found]))

    def _members(self, smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        pairs = [member.predict_spread(smiles) for member in self.members]
        return np.stack([mean for mean, _ in pairs]), np.stack([spread for _, spread in pairs])

    def predict_spread(self, smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return combine(*self._members(smiles))

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        return self.predict_spread(smiles)[0]

    def describe(self, smiles: Sequence[str]) -> Prediction:
        means, spreads = self._members(smiles)
        mean, std = combine(means, spreads)
        lower, upper = self.interval.bounds(mean, std)
        similarity = self.domain.similarity(smiles)
        return Prediction(means, mean, std, lower, upper, similarity, self.domain.inside(similarity))

    def log_native(self, name: str, sample_smiles: Sequence[str]) -> None:
        """The first replicate in its family's own flavor; the served ensemble is the pyfunc model."""
        self.members[0].log_native(name, sample_smiles)

    def summary(self) -> dict[str, Any]:
        """Each fact once when every replicate agrees, else every replicate's value in order."""
        facts = [member.summary() for member in self.members]
        merged = {}
        for key in facts[0]:
            values = [fact.get(key) for fact in facts]
            merged[key] = values[0] if len(set(map(str, values))) == 1 else ",".join(map(str, values))
        return {**merged, "replicates": len(self.members)}

    def params(self) -> dict[str, str]:
        """What was fixed at training time, logged as params."""
        return {
            "uncertainty.interval_confidence": str(CONFIDENCE),
            "uncertainty.calibration_source": self.calibration_source,
            "uncertainty.calibration_size": str(self.interval.calibration_size),
            "uncertainty.spread_offset": f"{self.interval.beta:.6g}",
            "domain.threshold": f"{self.domain.threshold:.6g}",
            "domain.quantile": str(DOMAIN_QUANTILE),
        }


def train_replicates(
    family: ModuleType, params: Any, split: SplitData, seed: int, replicates: int, log_step: StepLogger
) -> Ensemble:
    """Replicate i is fitted with seed + i; its per-step metrics are named `replicate_<i>_<metric>`."""
    members = []
    for index in range(replicates):

        def logged(metrics: dict[str, float], step: int, index: int = index) -> None:
            log_step({f"replicate_{index}_{name}": value for name, value in metrics.items()}, step)

        members.append(family.train(params, split, seed + index, logged))
    return Ensemble(members, split)
