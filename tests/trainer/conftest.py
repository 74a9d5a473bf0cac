"""Tiny data and configs, so a real training takes a second or two, and a private store per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_PARAMS, write_tiny_snapshot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    return write_tiny_snapshot(tmp_path / "tiny.csv")


MakeConfig = Callable[..., Path]


@pytest.fixture
def make_config(tmp_path: Path, tiny_csv: Path) -> MakeConfig:
    """Write a tiny config for `family`; keyword arguments override the model params, `data` the data section."""

    def make(
        family: str, name: str | None = None, data: dict | None = None, top: dict | None = None, **params: object
    ) -> Path:
        """`top` sets top-level keys (endpoint, replicates, selection)."""
        document = {
            "endpoint": {"name": "solubility", "unit": "logS"},
            **(top or {}),
            "data": {"path": str(tiny_csv), "target_column": "logS", "on_invalid": "drop", **(data or {})},
            "model": {"family": family, **TINY_PARAMS.get(family, {}), **params},
        }
        path = tmp_path / "configs" / f"{name or family}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return make


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite store for this test, also seen by subprocesses through MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def run_trainer(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m trainer` in the project root, as the container runs it."""
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
