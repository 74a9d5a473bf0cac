"""Shared fixtures: real services on 127.0.0.1, started once per test session."""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.mlflow_server import mlflow_server as mlflow_server_at

ROOT = Path(__file__).resolve().parent.parent
# A commit of this checkout, for the tasks that refuse a --sha the repository lacks.
HEAD_SHA = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"

SNAPSHOT = ROOT / "data" / "solubility.csv"
# Model params for the tiny snapshot: each family trains in a second or two.
TINY_PARAMS = {
    "rf": {"features": {"morgan_size": 64, "descriptors": "properties"}, "n_estimators": 8},
    "xgb": {
        "features": {"morgan_size": 64, "descriptors": "properties"},
        "n_estimators": 40,
        "early_stopping_rounds": 5,
    },
    "transformer": {
        "d_model": 64,
        "heads": 2,
        "layers": 2,
        "feedforward": 64,
        "epochs": 3,
        "warmup_epochs": 1,
        "augment": 2,
        "tta": 2,
        "device": "cpu",
    },
}


def write_tiny_snapshot(path: Path) -> Path:
    """Every 16th molecule of the solubility snapshot (81 rows, both splits) into `path`."""
    with SNAPSHOT.open() as handle:
        rows = list(csv.reader(handle))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([rows[0], *rows[1::16]])
    return path


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server mode on a free loopback port; boto3 reaches it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {name: os.environ.get(name) for name in _AWS_ENV}
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
    )
    try:
        yield endpoint
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_AWS_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 with a SQLite backend, shared by the whole session."""
    home = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server_at(f"sqlite:///{home / 'mlruns.db'}", home) as url:
        yield url
