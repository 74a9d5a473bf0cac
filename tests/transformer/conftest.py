"""A small slice of the solubility snapshot and a tiny transformer fitted on it once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from trainer.config import DataConfig
from trainer.data import Dataset, Part, SplitData, load_dataset
from trainer.models import transformer

TINY = {
    "d_model": 64,
    "heads": 2,
    "layers": 2,
    "feedforward": 64,
    "epochs": 4,
    "patience": 2,
    "warmup_epochs": 1,
    "learning_rate": 0.002,
    "augment": 2,
    "tta": 2,
    "device": "cpu",
}


@pytest.fixture(scope="session")
def snapshot(project_root: Path) -> Dataset:
    config = DataConfig(path="data/solubility.csv", target_column="logS", on_invalid="drop")
    return load_dataset((project_root / config.path).read_bytes(), config)


def head(part: Part, rows: int) -> Part:
    return Part(smiles=part.smiles[:rows], y=part.y[:rows], lines=part.lines[:rows])


@pytest.fixture(scope="session")
def small_split(snapshot: Dataset) -> SplitData:
    """160 training, 40 validation and 40 test molecules: enough to learn something in seconds."""
    split = snapshot.split
    return SplitData(train=head(split.train, 160), valid=head(split.valid, 40), test=head(split.test, 40))


def _tiny_params(**changes: object) -> transformer.Params:
    return transformer.Params.model_validate({**TINY, **changes})


@pytest.fixture(scope="session")
def tiny_params() -> Callable[..., transformer.Params]:
    """Builds the tiny hyperparameters, with any changes given as keywords."""
    return _tiny_params


class StepRecorder:
    """Collects what a family hands to log_step, as the pipeline's MLflow logger would receive it."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, dict[str, float]]] = []

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        self.steps.append((step, dict(metrics)))

    def series(self, name: str) -> np.ndarray:
        return np.array([metrics[name] for _, metrics in self.steps])


@pytest.fixture
def step_recorder() -> StepRecorder:
    return StepRecorder()


@pytest.fixture(scope="session")
def tiny_fit(small_split: SplitData) -> tuple[transformer.SmilesTransformer, StepRecorder]:
    recorder = StepRecorder()
    return transformer.train(_tiny_params(), small_split, 0, recorder), recorder
