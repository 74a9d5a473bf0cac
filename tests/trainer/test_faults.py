"""Faults and inputs that used to give a traceback, a hang or a FAILED run: each is one line, the right exit
code, and nothing counted or written. A full disk is a real one: a small tmpfs mounted for the test."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trainer.conftest import run_trainer

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[callable]:
    """Mount tmpfs filesystems of a given size (root only); unmounted after the test."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def complete_runs(database: Path) -> int:
    with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as conn:
        query = "SELECT COUNT(*) FROM tags WHERE key = 'run_complete' AND value = 'true'"
        return conn.execute(query).fetchone()[0]


def test_too_little_free_space_is_refused_before_any_run(make_config, small_disk, tmp_path) -> None:
    disk = small_disk(tmp_path / "disk", "3m")
    config = make_config("rf")

    result = run_trainer("--config", str(config), env={"MLFLOW_TRACKING_URI": f"sqlite:///{disk}/store/mlflow.db"})

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {config}: no space left for a training in {disk}: ")
    assert line.endswith(", 268,435,456 needed (TRAINER_MIN_FREE_BYTES); nothing trained")
    assert list(disk.iterdir()) == [], "nothing was written"


def test_artifacts_filling_their_disk_mid_run_is_one_line_and_not_counted(make_config, small_disk, tmp_path) -> None:
    """The store has room (FAILED can be written); the artifacts folder fills during the run."""
    store = tmp_path / "store"
    small_disk(store / "artifacts", "200k")
    config = make_config("rf")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db", "TRAINER_MIN_FREE_BYTES": "1"}

    result = run_trainer("--config", str(config), env=env)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {config}: no space left on device writing {store / 'artifacts'}/"), line
    assert complete_runs(store / "mlflow.db") == 0
    with sqlite3.connect(store / "mlflow.db") as conn:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("FAILED",)]


def test_a_store_and_artifacts_on_a_full_disk_give_one_line_and_count_nothing(make_config, small_disk, tmp_path):
    """The measured fault: everything on one small tmpfs; the FAILED status itself cannot be written."""
    disk = small_disk(tmp_path / "disk", "1100k")
    config = make_config("rf")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{disk}/store/mlflow.db", "TRAINER_MIN_FREE_BYTES": "1"}

    result = run_trainer("--config", str(config), env=env)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {config}: no space left on device"), line
    assert str(disk) in line
    assert complete_runs(disk / "store" / "mlflow.db") == 0


@pytest.mark.parametrize(
    ("family", "params", "seed", "expected"),
    [
        ("rf", {}, 2**32, "seed: 4294967296 is above 4,294,967,295, the largest seed scikit-learn's random_state"),
        ("xgb", {}, 2**63, "seed: 9223372036854775808 is above 9,223,372,036,854,775,807, the largest seed XGBoost's"),
        ("transformer", {"device": "cpu"}, 2**32, "seed: 4294967296 is above 4,294,967,295, the largest seed NumPy's"),
        ("transformer", {"device": "cuda"}, 0, "model.device: cuda was asked for but torch sees no CUDA device"),
    ],
)
def test_values_the_framework_refuses_are_refused_before_the_lock_and_any_run(
    make_config, store_uri, family, params, seed, expected
) -> None:
    if params.get("device") == "cuda" and _has_cuda():
        pytest.skip("this machine has CUDA")
    config = make_config(family, **params)
    config.write_text(config.read_text() + f"seed: {seed}\n")

    result = run_trainer("--config", str(config))

    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {config}: {expected}")
    assert not Path(store_uri.removeprefix("sqlite:///")).parent.exists(), "a refused config created the store"


def test_a_fifo_as_data_is_refused_by_the_trainer_without_waiting(make_config, store_uri, tmp_path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    config = make_config("rf", data={"path": str(fifo)})

    result = run_trainer("--config", str(config), timeout=60)

    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [f"error: {config}: data.path: {fifo} is a named pipe (FIFO); give a regular file or an s3:// URI"],
    )
    assert not Path(store_uri.removeprefix("sqlite:///")).parent.exists()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def raise_swallowed_sigterm() -> None:
    """What XGBoost's ctypes data callback does with a SIGTERM: the exception is dropped, then XGBoost fails."""
    import signal

    from trainer import errors

    with contextlib.suppress(errors.Terminated):
        errors.raise_terminated(signal.SIGTERM, None)
    raise RuntimeError("Check failed: rbegin == Info().num_row_ (6 vs. 12)")


def test_a_sigterm_that_a_native_callback_swallowed_still_marks_the_run_killed(store_uri) -> None:
    """XGBoost builds its matrix through a ctypes callback: a SIGTERM there is 'ignored' and XGBoost fails with
    an error of its own (seen: 'Check failed: rbegin == Info().num_row_'). The run was killed all the same."""

    from mlflow import MlflowClient

    from trainer import errors
    from trainer.tracking import Store, training_run

    with pytest.raises(errors.RunKilled) as killed, training_run(Store(store_uri, "swallowed"), {}):
        raise_swallowed_sigterm()
    assert MlflowClient(store_uri).get_run(killed.value.run_id).info.status == "KILLED"


def test_an_error_after_an_earlier_runs_sigterm_still_marks_the_run_failed(store_uri) -> None:
    from mlflow import MlflowClient

    from trainer import errors
    from trainer.tracking import Store, training_run

    with pytest.raises(errors.RunKilled), training_run(Store(store_uri, "failed"), {}):
        raise_swallowed_sigterm()
    with pytest.raises(RuntimeError), training_run(Store(store_uri, "failed"), {}) as run:
        raise RuntimeError("a real failure")
    assert MlflowClient(store_uri).get_run(run.info.run_id).info.status == "FAILED"
