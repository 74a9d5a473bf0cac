"""The MLflow Model Registry: each trained run's SMILES-in model, under one registered name per endpoint and family.

The version is created inside the run, before its completion tag; the contest for the `champion` alias runs only
after the run has ended FINISHED and complete, and considers only complete versions (trainer/selection.py), so a
run killed between the two never holds the alias. SIGTERM is held back while the alias and the run's outcome tags
are written, so they are written together. Each run records the outcome as tags.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainer.endpoints import registered_name
from trainer.selection import Standing, decide
from trainer.tracking import COMPLETE_TAG, NOT_FOUND_CODES

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models.model import ModelInfo

CHAMPION = "champion"


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    champion: bool
    reason: str

    def tags(self) -> dict[str, str]:
        return {"champion": str(self.champion).lower(), "champion_reason": self.reason}


def create_version(
    client: MlflowClient, run_id: str, endpoint: str, unit: str, family: str, model: ModelInfo
) -> tuple[str, str]:
    """Register the run's model as a new version of `ai-drug-<endpoint>-<family>`; (name, version)."""
    name = registered_name(endpoint, family)
    _ensure_registered_model(client, name, {"endpoint": endpoint, "unit": unit, "family": family})
    version = str(client.create_model_version(name, model.model_uri, run_id=run_id, model_id=model.model_id).version)
    client.set_tag(run_id, "registered_model", f"{name}/{version}")
    return name, version


def contest(client: MlflowClient, name: str, version: str, margin: float | None) -> Registration:
    """Move the alias to `version` if it wins against the champion, and tag its run with the outcome."""
    with sigterm_deferred():
        current = champion(client, name)
        challenger = standing(client, client.get_model_version(name, version))
        holder = standing(client, current) if current is not None and str(current.version) != version else None
        if current is not None and str(current.version) == version:
            wins, reason = True, "already the champion"
        else:
            wins, reason = decide(challenger, holder, margin)
        if wins:
            client.set_registered_model_alias(name, CHAMPION, version)
        registration = Registration(name=name, version=version, champion=wins, reason=reason)
        run_id = client.get_model_version(name, version).run_id
        for key, value in registration.tags().items():
            client.set_tag(run_id, key, value)
    return registration


def standing(client: MlflowClient, version: ModelVersion) -> Standing:
    """A version's claim from its run; a run written before replicates counts as one replicate of `test_rmse`."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(version.run_id) if version.run_id else None
    except MlflowException:
        run = None
    if run is None:
        return Standing(str(version.version), False, "no run", None, None, None, 0.0, 1)
    metrics, tags, params = run.data.metrics, run.data.tags, run.data.params
    status = run.info.status
    return Standing(
        version=str(version.version),
        complete=status == "FINISHED" and tags.get(COMPLETE_TAG) == "true",
        status=status if status != "FINISHED" else "no completion tag",
        test_set_hash=tags.get("test_set_hash"),
        data_hash=tags.get("data_hash"),
        rmse_mean=metrics.get("test_rmse_mean", metrics.get("test_rmse")),
        rmse_sd=metrics.get("test_rmse_sd", 0.0),
        replicates=int(params.get("replicates", "1")),
    )


def champion(client: MlflowClient, name: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as err:
        if err.error_code in NOT_FOUND_CODES:
            return None
        raise


@contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Hold a SIGTERM that arrives inside the block and deliver it to the previous handler after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[int, object]] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if received and callable(previous):
            previous(*received[0])


def _ensure_registered_model(client: MlflowClient, name: str, tags: dict[str, str]) -> None:
    """Create the registered model once; finding it already there is success."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name, tags=tags)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
