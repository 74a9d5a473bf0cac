"""Endpoints: what each config predicts, the registered model it feeds, and the columns `invoke predict` writes.

A team trains a panel of endpoints into one store. Each endpoint and family has its own registered model
(`ai-drug-<endpoint>-<family>`), so a config for a new property can never take over another property's champion.
Configs that train on the same data and target must agree on what it is (name and unit), and one endpoint name
has one unit, or the columns of `invoke predict` would mislabel numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trainer.config import TrainConfig
from trainer.errors import BadInput

NAME_PREFIX = "ai-drug-"
COLUMN_SUFFIXES = ("", "_std", "_lower", "_upper", "_similarity", "_in_domain")


def registered_name(endpoint: str, family: str) -> str:
    return f"{NAME_PREFIX}{endpoint}-{family}"


@dataclass(frozen=True)
class Served:
    """A registered model of one endpoint and family, as `invoke predict` names its columns."""

    name: str
    endpoint: str
    family: str
    unit: str

    @property
    def column(self) -> str:
        """e.g. `solubility_xgb_logS`, `freesolv_rf_kcal_mol`."""
        unit = re.sub(r"[^A-Za-z0-9]+", "_", self.unit).strip("_")
        return f"{self.endpoint}_{self.family}_{unit}" if unit else f"{self.endpoint}_{self.family}"


def check_consistent(configs: Sequence[tuple[Path, TrainConfig, str]]) -> None:
    """Refuse configs that disagree on an endpoint: (path, config, data hash) each; BadInput names file and key."""
    by_target: dict[tuple[str, str], tuple[Path, TrainConfig]] = {}
    by_name: dict[str, tuple[Path, TrainConfig]] = {}
    for path, config, data_hash in configs:
        endpoint = config.endpoint
        first = by_target.setdefault((data_hash, config.data.target_column), (path, config))
        other_path, other = first
        for key in ("name", "unit"):
            mine, theirs = getattr(endpoint, key), getattr(other.endpoint, key)
            if mine != theirs:
                raise BadInput(
                    f"{path}: endpoint.{key}: {mine!r} disagrees with {theirs!r} in {other_path},"
                    f" which trains on the same data and target ({config.data.target_column})"
                )
        other_path, other = by_name.setdefault(endpoint.name, (path, config))
        if endpoint.unit != other.endpoint.unit:
            raise BadInput(
                f"{path}: endpoint.unit: {endpoint.unit!r} disagrees with {other.endpoint.unit!r} in {other_path}"
                f" for the same endpoint {endpoint.name!r}"
            )
