"""The deployed whole on loopback: dispatch -> SSM -> host script -> docker -> `python -m trainer` -> MLflow
server -> S3, then the models back through the server, a second dispatch that skips, and no token anywhere."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import HEAD_SHA
from tests.topology.conftest import BUCKET, CONFIGS, Dispatched, Host

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def first(host: Host) -> Dispatched:
    return host.dispatch()


@pytest.fixture(scope="module")
def second(host: Host, first: Dispatched) -> Dispatched:
    return host.dispatch()


@pytest.fixture(scope="module")
def client(host: Host) -> MlflowClient:
    mlflow.set_tracking_uri(host.url)
    return MlflowClient(host.url)


def runs_by_config(client: MlflowClient) -> dict[str, object]:
    experiment = client.get_experiment_by_name("ai-drug")
    runs = client.search_runs([experiment.experiment_id], "tags.run_complete = 'true'")
    return {run.data.tags["config_file"]: run for run in runs}


def test_every_config_trains_through_the_host_script(host: Host, first: Dispatched, client: MlflowClient) -> None:
    assert first.dispatch_code == 0, first.dispatch_out
    assert first.code == 0, first.err[-3000:]
    assert [line.split()[:3] for line in first.lines()] == [
        [f"configs/{name}.yaml", name.removeprefix("topology-"), "trained"] for name in CONFIGS
    ]
    runs = runs_by_config(client)
    assert sorted(runs) == sorted(f"configs/{name}.yaml" for name in CONFIGS)
    for line in first.lines():
        config, _, _, _, run_id = line.split()[:5]
        assert runs[config].info.run_id == run_id
        assert runs[config].info.status == "FINISHED"
        assert runs[config].data.tags["git_sha"] == HEAD_SHA
    (run_call,) = [call for call in host.calls() if call.get("event") == "run"]
    assert run_call["network"] == host.compose.network
    assert run_call["env"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert run_call["command"] == [word for name in CONFIGS for word in ("--config", f"configs/{name}.yaml")]


def test_the_artifacts_are_objects_in_the_bucket_written_by_the_server(
    host: Host, first: Dispatched, client: MlflowClient
) -> None:
    keys = [
        item["Key"]
        for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page.get("Contents", [])
    ]
    for run in runs_by_config(client).values():
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), "clients must not write to S3 themselves"
        prefix = f"{run.info.experiment_id}/{run.info.run_id}/artifacts/"
        assert f"{prefix}config.json" in keys
        models = client.search_logged_models(
            [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
        )
        assert len(models) == 2  # the family's own flavor and the SMILES-in pyfunc
        for model in models:
            stored = model.artifact_location.removeprefix("mlflow-artifacts:/")
            assert f"{stored.split('://')[-1].lstrip('/')}/MLmodel" in keys or any(
                key.endswith(f"{model.model_id}/artifacts/MLmodel") for key in keys
            )


def test_each_model_loads_back_through_the_server_and_predicts(first: Dispatched, client: MlflowClient) -> None:
    molecules = pd.DataFrame({"smiles": ["CCO", "c1ccccc1O", "not-a-smiles"]})
    for config, run in runs_by_config(client).items():
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/pyfunc")
        predicted = model.predict(molecules)["prediction"].tolist()
        assert all(math.isfinite(value) and -15 < value < 5 for value in predicted[:2]), config
        assert math.isnan(predicted[2]), config


def test_a_second_dispatch_skips_every_config(
    host: Host, first: Dispatched, second: Dispatched, client: MlflowClient
) -> None:
    assert second.code == 0, second.err[-3000:]
    trained = {line.split()[0]: line.split()[4] for line in first.lines()}
    assert {line.split()[0]: (line.split()[2], line.split()[4]) for line in second.lines()} == {
        config: ("skipped", run_id) for config, run_id in trained.items()
    }
    experiment = client.get_experiment_by_name("ai-drug")
    assert len(client.search_runs([experiment.experiment_id])) == len(CONFIGS)


def test_the_token_is_in_no_argv_log_file_or_ssm_command(
    host: Host, first: Dispatched, second: Dispatched, tmp_path_factory: pytest.TempPathFactory
) -> None:
    token = host.token
    for run in (first, second):
        assert run.token_seen_in == []
        assert token not in run.script and token not in run.out and token not in run.err
        assert token not in run.dispatch_out
    logins = [call for call in host.calls() if call.get("event") == "login"]
    assert len(logins) == 2, "the stand-in docker accepted the token from stdin on each dispatch"
    assert all(not Path(call["docker_config"]).exists() for call in logins)
    holding = [path for path in files_under(tmp_path_factory.getbasetemp(), Path("/dev/shm")) if holds(path, token)]
    assert holding == []
    ssm = boto3.client("ssm", region_name=host.settings["aws"]["region"])
    commands = ssm.list_commands(InstanceId=host.settings["aws"]["instance_id"])["Commands"]
    assert len(commands) == 2
    assert all(token not in str(command) for command in commands)


def test_the_server_answers_only_the_hosts_the_compose_file_allows(host: Host) -> None:
    api = f"{host.url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert status(api, "mlflow:5000") == 200
    assert status(api, f"localhost:{host.port}") == 200
    assert status(api, "attacker.example:5000") == 403


def test_a_network_the_compose_file_does_not_make_runs_nothing(host: Host, first: Dispatched) -> None:
    wrong = host.dispatch(configs=CONFIGS[:1], network="compose_default")

    assert wrong.code == 125
    assert "network compose_default not found" in wrong.err
    assert [
        call for call in host.calls() if call.get("event") == "run" and call["network"] != host.compose.network
    ] == []


def status(url: str, host_header: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host_header}), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def files_under(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]


def holds(path: Path, secret: str) -> bool:
    try:
        return secret.encode() in path.read_bytes()
    except OSError:
        return False
