"""The MLflow Model Registry: each trained run's SMILES-in model, under one registered name per family.

The `champion` alias marks the version to serve. It moves to a new version only when that version's test
RMSE beats the champion's on the same data snapshot (the runs' `data_hash` tags). Test RMSEs on different
snapshots cannot be compared, so the first version trained on a new snapshot takes the alias, as does the
very first version. Each run records the outcome as tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainer.tracking import NOT_FOUND_CODES

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models.model import ModelInfo

NAME_PREFIX = "ai-drug-"
CHAMPION = "champion"


def registered_name(family: str) -> str:
    return f"{NAME_PREFIX}{family}"


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    champion: bool
    reason: str

    def tags(self) -> dict[str, str]:
        return {
            "registered_model": f"{self.name}/{self.version}",
            "champion": str(self.champion).lower(),
            "champion_reason": self.reason,
        }


def register(
    client: MlflowClient, run_id: str, family: str, model: ModelInfo, test_rmse: float, data_hash: str
) -> Registration:
    """Register the run's model as a new version, move the alias if it wins, and tag the run."""
    name = registered_name(family)
    _ensure_registered_model(client, name)
    current = champion(client, name)
    version = client.create_model_version(name, model.model_uri, run_id=run_id, model_id=model.model_id).version
    wins, reason = _contest(client, current, test_rmse, data_hash)
    if wins:
        client.set_registered_model_alias(name, CHAMPION, version)
    registration = Registration(name=name, version=str(version), champion=wins, reason=reason)
    for key, value in registration.tags().items():
        client.set_tag(run_id, key, value)
    return registration


def champion(client: MlflowClient, name: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as err:
        if err.error_code in NOT_FOUND_CODES:
            return None
        raise


def _contest(client: MlflowClient, current: ModelVersion | None, test_rmse: float, data_hash: str) -> tuple[bool, str]:
    if current is None or not current.run_id:
        return True, "first version"
    held = client.get_run(current.run_id).data
    their_rmse = held.metrics.get("test_rmse")
    if held.tags.get("data_hash") != data_hash:
        return True, f"first on this data snapshot (champion version {current.version} used another)"
    if their_rmse is None:
        return True, f"champion version {current.version} has no test RMSE"
    if test_rmse < their_rmse:
        return True, f"test RMSE {test_rmse:.4f} beats {their_rmse:.4f} of version {current.version}"
    return False, f"test RMSE {test_rmse:.4f} does not beat {their_rmse:.4f} of version {current.version}"


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    """Create the registered model once; finding it already there is success."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
