"""The champion alias, through the real registry: like with like, beyond the noise, complete runs only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from trainer.endpoints import registered_name
from trainer.registry import CHAMPION, contest, create_version
from trainer.tracking import COMPLETE_TAG

NAME = registered_name("demo", "rf")


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context: object, model_input: pd.DataFrame, params: dict | None = None) -> list[float]:
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


@pytest.fixture
def model(experiment: str):
    with mlflow.start_run(experiment_id=experiment):
        return mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=[])


def challenge(
    client: MlflowClient,
    experiment: str,
    model,
    mean: float,
    sd: float = 0.0,
    replicates: int = 1,
    test_set: str = "test-a",
    data: str = "data-a",
    status: str = "FINISHED",
    margin: float | None = None,
) -> tuple[str, dict[str, str]]:
    """A run scored like the pipeline scores one, registered inside it and contested after: version, run tags."""
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metrics({"test_rmse_mean": mean, "test_rmse_sd": sd})
        mlflow.log_param("replicates", replicates)
        mlflow.set_tags({"test_set_hash": test_set, "data_hash": data})
        name, version = create_version(client, run.info.run_id, "demo", "kcal/mol", "rf", model)
        if status == "FINISHED":
            mlflow.set_tag(COMPLETE_TAG, "true")
        else:
            mlflow.end_run(status)
    contest(client, name, version, margin)
    return version, client.get_run(run.info.run_id).data.tags


def champion_version(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias(NAME, CHAMPION).version)


def test_a_challenger_within_the_combined_standard_error_does_not_take_the_alias(client, experiment, model) -> None:
    version, tags = challenge(client, experiment, model, 0.600, sd=0.020, replicates=5)
    assert (version, champion_version(client), tags["champion_reason"]) == ("1", "1", "first version")
    assert tags["registered_model"] == f"{NAME}/1"

    # 0.590 is lower, but by less than hypot(0.02, 0.02) / sqrt(5) = 0.0126.
    version, tags = challenge(client, experiment, model, 0.590, sd=0.020, replicates=5)
    assert (version, champion_version(client), tags["champion"]) == ("2", "1", "false")
    assert tags["champion_reason"] == (
        "mean test RMSE 0.5900 vs 0.6000 of version 1: not better by more than combined standard error 0.0126"
    )

    version, tags = challenge(client, experiment, model, 0.580, sd=0.020, replicates=5)
    assert (version, champion_version(client), tags["champion"]) == ("3", "3", "true")
    assert tags["champion_reason"].endswith("better by 0.0200 > combined standard error 0.0126")


def test_a_config_margin_decides_instead_when_set(client, experiment, model) -> None:
    challenge(client, experiment, model, 0.600, sd=0.020, replicates=5)
    _, tags = challenge(client, experiment, model, 0.580, sd=0.020, replicates=5, margin=0.05)
    assert (champion_version(client), tags["champion"]) == ("1", "false")
    assert tags["champion_reason"].endswith("not better by more than margin 0.0500")


def test_another_test_set_takes_the_alias_only_with_a_new_snapshot(client, experiment, model) -> None:
    challenge(client, experiment, model, 0.600)
    _, tags = challenge(client, experiment, model, 0.100, test_set="test-b")
    assert (champion_version(client), tags["champion"]) == ("1", "false"), "an easier split of the same data"
    assert "another split" in tags["champion_reason"]

    version, tags = challenge(client, experiment, model, 1.500, test_set="test-c", data="data-b")
    assert (version, champion_version(client), tags["champion"]) == ("3", "3", "true")
    assert tags["champion_reason"] == "new data snapshot (champion version 1 was tested on another)"


def test_a_version_whose_run_is_not_complete_never_takes_or_keeps_the_alias(client, experiment, model) -> None:
    version, tags = challenge(client, experiment, model, 0.300, status="KILLED")
    assert version == "1" and tags["champion"] == "false"
    assert tags["champion_reason"] == "version 1's run is not complete (KILLED)"
    assert client.get_registered_model(NAME).aliases == {}

    # A store from before this rule: the alias on a killed run's version. The next complete version takes it over.
    client.set_registered_model_alias(NAME, CHAMPION, "1")
    version, tags = challenge(client, experiment, model, 0.900)
    assert (version, champion_version(client), tags["champion"]) == ("2", "2", "true")
    assert tags["champion_reason"] == "champion version 1's run is not complete (KILLED), so it cannot keep it"


def test_the_registered_model_names_its_endpoint_family_and_unit(client, experiment, model) -> None:
    challenge(client, experiment, model, 0.6)
    assert client.get_registered_model(NAME).tags == {"endpoint": "demo", "family": "rf", "unit": "kcal/mol"}


def test_each_trained_run_is_registered_under_its_endpoint_and_family_and_tagged(trained_store) -> None:
    client = MlflowClient(trained_store.uri)
    for family, run_id in trained_store.run_ids.items():
        tags = client.get_run(run_id).data.tags
        assert tags["registered_model"] == f"ai-drug-solubility-{family}/1"
        assert (tags["champion"], tags["champion_reason"]) == ("true", "first version")
        held = client.get_model_version_by_alias(f"ai-drug-solubility-{family}", CHAMPION)
        assert (str(held.version), held.run_id) == ("1", run_id)
