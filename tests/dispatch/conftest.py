"""Helpers to render and run the training host script; the stand-in commands come from tests/ops_fixtures.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.images import ImageRef
from ops.training_job import TrainJob, train_job
from tests.ops_fixtures import (  # noqa: F401 (fixtures)
    SHA,
    aws_session,
    invoke_yaml,
    managed_instance,
    no_aws,
    settings,
    ssh_server,
    standins,
    typed,
)


def _job(data_dir: Path, *, configs: tuple[str, ...] = (), lock_timeout: int = 30) -> TrainJob:
    """A training job as invoke.yaml's defaults make it, with the lock in `data_dir`."""
    values = invoke_yaml()
    values["host"]["data_dir"] = str(data_dir)
    values["dispatch"]["lock_timeout"] = lock_timeout
    return train_job(ImageRef("ghcr.io", "ai-drug", "ai-drug-trainer", SHA), configs, typed(values))


@pytest.fixture
def make_job() -> Callable[..., TrainJob]:
    return _job


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Poll until `condition` holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def wait_for() -> Callable[..., None]:
    return _wait_for
