"""The champion alias moves only to a version that beats it on the same data snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from trainer.registry import CHAMPION, register, registered_name


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0.0] * len(model_input)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    yield MlflowClient(uri)
    mlflow.set_tracking_uri(None)


@pytest.fixture
def experiment(client: MlflowClient, tmp_path: Path) -> str:
    return client.create_experiment("registry", (tmp_path / "artifacts").as_uri())


def contest(client: MlflowClient, experiment: str, model, rmse: float, data_hash: str) -> tuple[str, dict[str, str]]:
    """A run scored like the pipeline scores one, then registered: its version and its tags."""
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metric("test_rmse", rmse)
        mlflow.set_tag("data_hash", data_hash)
    registration = register(client, run.info.run_id, "demo", model, rmse, data_hash)
    return registration.version, client.get_run(run.info.run_id).data.tags


def champion_version(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias(registered_name("demo"), CHAMPION).version)


def test_alias_moves_only_on_a_strictly_better_test_rmse_on_the_same_snapshot(
    client: MlflowClient, experiment: str
) -> None:
    with mlflow.start_run(experiment_id=experiment):
        model = mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=[])

    version, tags = contest(client, experiment, model, 0.80, "snapshot-a")
    assert (version, champion_version(client)) == ("1", "1")
    assert tags["champion"] == "true" and tags["champion_reason"] == "first version"
    assert tags["registered_model"] == "ai-drug-demo/1"

    version, tags = contest(client, experiment, model, 0.90, "snapshot-a")
    assert (version, champion_version(client)) == ("2", "1")
    assert tags["champion"] == "false"
    assert tags["champion_reason"] == "test RMSE 0.9000 does not beat 0.8000 of version 1"

    version, tags = contest(client, experiment, model, 0.70, "snapshot-a")
    assert (version, champion_version(client)) == ("3", "3")
    assert tags["champion"] == "true"

    version, tags = contest(client, experiment, model, 0.70, "snapshot-a")
    assert (version, champion_version(client)) == ("4", "3"), "a tie does not beat the champion"
    assert tags["champion"] == "false"

    version, tags = contest(client, experiment, model, 1.50, "snapshot-b")
    assert (version, champion_version(client)) == ("5", "5"), "RMSEs on another snapshot are not comparable"
    assert tags["champion"] == "true" and "first on this data snapshot" in tags["champion_reason"]

    version, tags = contest(client, experiment, model, 1.60, "snapshot-b")
    assert (version, champion_version(client)) == ("6", "5")


def test_each_trained_run_is_registered_under_its_family_and_tagged(trained_store) -> None:
    client = MlflowClient(trained_store.uri)
    for family, run_id in trained_store.run_ids.items():
        tags = client.get_run(run_id).data.tags
        assert tags["registered_model"] == f"ai-drug-{family}/1"
        assert tags["champion"] == "true"
        held = client.get_model_version_by_alias(f"ai-drug-{family}", CHAMPION)
        assert (str(held.version), held.run_id) == ("1", run_id)
