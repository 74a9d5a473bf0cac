"""Model families: one public module each, all behind the same contract.

A family module `trainer/models/<name>.py` defines:

- `Params`: a pydantic model of its hyperparameters (the `model:` section of a config, less `family`);
- `train(params, split, seed, log_step) -> TrainedModel`;
- optionally `check(params, seed) -> None`: what its framework would refuse only once training has begun (a
  seed out of the framework's range, a device this machine lacks), raised as BadInput naming the key. The
  pipeline calls it after the skip check and before the lock, so a refusal leaves no run and no store.

Modules whose names start with an underscore hold code that families share; they are not families.
Family modules import their ML framework inside functions, so reading a config or skipping a run never
pays for torch, xgboost or scikit-learn.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from trainer.errors import BadInput

if TYPE_CHECKING:
    import numpy as np

StepLogger = Callable[[dict[str, float], int], None]
"""Logs per-step metrics (a learning curve): the metrics and the step number."""


class TrainedModel(Protocol):
    """What the pipeline needs from a fitted model of any family."""

    def predict(self, smiles: Sequence[str]) -> np.ndarray:
        """One prediction per SMILES; NaN where a SMILES cannot be featurised."""

    def predict_spread(self, smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Predictions and the model's own spread around them (trees, SMILES forms); zeros where it has none."""

    def out_of_bag(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Predictions and spread on the molecules it was fitted on, from the parts that did not see each one
        (a forest's out-of-bag trees), in fitting order; None for a family that holds out a validation part."""

    def log_native(self, name: str, sample_smiles: Sequence[str]) -> None:
        """Log the fitted model with its own MLflow flavor and signature in the active run."""

    def summary(self) -> dict[str, Any]:
        """Facts about the fit, logged as `fit.*` tags (best iteration, device, sizes)."""


@cache
def family_names() -> tuple[str, ...]:
    """Every public module of this package, sorted."""
    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")))


def load_family(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")


def check_family(name: str, params: Any, seed: int) -> None:
    """The family's own `check` hook, where it has one."""
    check = getattr(load_family(name), "check", None)
    if check is not None:
        check(params, seed)


def check_seed(seed: int, largest: int, framework: str) -> None:
    """BadInput unless `seed` is one that `framework` accepts (at most `largest`)."""
    if seed > largest:
        raise BadInput(f"seed: {seed} is above {largest:,}, the largest seed {framework} accepts")
