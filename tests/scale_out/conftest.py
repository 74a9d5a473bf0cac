"""A real PostgreSQL 15 server in a temporary folder and a real `mlflow server` on it, for the session.

initdb and pg_ctl refuse to run as root, so under root they run as the `postgres` user (`runuser`), in a
folder that user owns. Where PostgreSQL is not installed (Debian: postgresql-15) these tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ops.mlflow_server import free_port, mlflow_server
from tests.conftest import TINY_PARAMS, write_tiny_snapshot

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass(frozen=True)
class Postgres:
    """A running cluster; `database(name)` creates a database and returns its SQLAlchemy URI."""

    port: int

    def uri(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    initdb = PG_BIN / "initdb"
    if not initdb.is_file():
        pytest.skip(f"PostgreSQL is not installed ({initdb} is missing; Debian: apt-get install postgresql-15)")
    home = Path(tempfile.mkdtemp(prefix="ai-drug-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    data, port = home / "data", free_port()
    subprocess.run(
        _as_postgres([str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -h 127.0.0.1 -k {home} -c fsync=off -c max_connections=200"
    pg_ctl = str(PG_BIN / "pg_ctl")
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-l", str(home / "log"), "-w", "-o", options, "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield Postgres(port)
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@dataclass(frozen=True)
class Server:
    url: str
    backend: str


@pytest.fixture(scope="session")
def pg_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One MLflow server on PostgreSQL for the session, with two workers and artifacts proxied to a local
    folder, as the host's server proxies S3."""
    backend = postgres.database("mlflow")
    with mlflow_server(backend, tmp_path_factory.mktemp("pg-server"), workers=2) as url:
        yield Server(url, backend)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_snapshot(tmp_path_factory.mktemp("tiny-data") / "tiny.csv")


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path, tiny_data: Path) -> WriteConfig:
    """A tiny config in tmp_path/configs; `experiment` files it, keyword arguments override model params."""

    def write(family: str, name: str, experiment: str, seed: int = 0, **params: object) -> Path:
        document = {
            "experiment": experiment,
            "endpoint": {"name": "solubility", "unit": "logS"},
            "seed": seed,
            "data": {"path": str(tiny_data), "target_column": "logS", "on_invalid": "drop"},
            "model": {"family": family, **TINY_PARAMS[family], **params},
        }
        path = tmp_path / "configs" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return write


def trainer(*args: str, env: dict[str, str], tmp: Path) -> subprocess.Popen[str]:
    """`python -m trainer` as a machine of its own: its own TMPDIR, so no flock is shared."""
    tmp.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", *args],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp), "MLFLOW_DISABLE_TELEMETRY": "true", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
