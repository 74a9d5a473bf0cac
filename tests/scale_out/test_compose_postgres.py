"""The PostgreSQL variant of the MLflow service: the password is read at start and reaches only the server's
environment, never a compose file, a command line or the image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import boto3
import pytest
import yaml

from tests.scale_out.conftest import ROOT

COMPOSE = ROOT / "compose"
ENTRYPOINT = COMPOSE / "postgres" / "entrypoint.py"
SECRET = "s3cr:et/p@ss wörd"
BASE = {"MLFLOW_DB_HOST": "db.internal", "MLFLOW_DB_NAME": "mlflow", "MLFLOW_DB_USER": "mlflow"}


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict]:
    """The entrypoint with a stand-in `mlflow` first on PATH that records its argv and environment."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    record = tmp_path / "mlflow.json"
    stand_in = folder / "mlflow"
    stand_in.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "seen = {'argv': sys.argv[1:], 'uri': os.environ.get('MLFLOW_BACKEND_STORE_URI')}\n"
        f"json.dump(seen, open({str(record)!r}, 'w'))\n"
    )
    stand_in.chmod(0o755)
    done = subprocess.run(
        [sys.executable, str(ENTRYPOINT), "--host=0.0.0.0", "--port=5000"],
        env={**os.environ, **env, "PATH": f"{folder}:{os.environ['PATH']}"}, capture_output=True, text=True,
    )  # fmt: skip
    return done, json.loads(record.read_text()) if record.exists() else {}


def test_a_password_file_reaches_the_server_environment_only(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(SECRET + "\n")
    done, seen = _start(tmp_path, {**BASE, "MLFLOW_DB_PASSWORD_FILE": str(secret)})
    assert done.returncode == 0, done.stderr
    assert seen["argv"] == ["server", "--host=0.0.0.0", "--port=5000"]
    uri = urlsplit(seen["uri"])
    assert uri.scheme == "postgresql+psycopg" and uri.hostname == "db.internal" and uri.port == 5432
    assert unquote(uri.password) == SECRET
    assert uri.query == "sslmode=require"
    assert SECRET not in json.dumps(seen["argv"]) and SECRET not in done.stdout + done.stderr


def test_an_ssm_parameter_holding_the_rds_secret_is_decrypted_at_start(tmp_path: Path, moto_endpoint: str) -> None:
    ssm = boto3.client("ssm", region_name="eu-west-1")
    value = json.dumps({"username": "mlflow", "password": SECRET})
    ssm.put_parameter(Name="/ai-drug/mlflow-db", Value=value, Type="SecureString", Overwrite=True)
    done, seen = _start(tmp_path, {**BASE, "MLFLOW_DB_PASSWORD_PARAMETER": "/ai-drug/mlflow-db"})
    assert done.returncode == 0, done.stderr
    assert unquote(urlsplit(seen["uri"]).password) == SECRET


@pytest.mark.parametrize(
    ("env", "complaint"),
    [({}, "error: set MLFLOW_DB_HOST, MLFLOW_DB_NAME, MLFLOW_DB_USER"),
     (BASE, "error: set MLFLOW_DB_PASSWORD_FILE or MLFLOW_DB_PASSWORD_PARAMETER")],
)  # fmt: skip
def test_missing_settings_stop_the_start_in_one_line(tmp_path: Path, env: dict, complaint: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_DB_")}
    done = subprocess.run([sys.executable, str(ENTRYPOINT)], env={**clean, **env}, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == complaint


def test_the_compose_file_keeps_the_names_and_holds_no_database_uri() -> None:
    text = (COMPOSE / "docker-compose.postgres.yml").read_text()
    document = yaml.safe_load(text)
    assert document["name"] == "mlflow" and list(document["services"]) == ["mlflow"]
    service = document["services"]["mlflow"]
    assert not any("backend-store-uri" in arg or "postgresql" in arg for arg in service["command"])
    assert "PASSWORD" not in "".join(k for k in service["environment"] if k != "MLFLOW_DB_PASSWORD_PARAMETER")
    assert "psycopg[binary]==3.3.9" in (COMPOSE / "postgres" / "Dockerfile").read_text()
