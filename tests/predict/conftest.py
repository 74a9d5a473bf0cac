"""One SQLite store per session in which every family has been trained once, tiny, through the real pipeline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_PARAMS, write_tiny_snapshot


@dataclass(frozen=True)
class TrainedStore:
    uri: str
    run_ids: dict[str, str]


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory, project_root: Path) -> Iterator[TrainedStore]:
    """Every 16th molecule of the snapshot, each family trained on it as the solubility endpoint (a validation part
    of 13, enough to calibrate 90% intervals); MLFLOW_TRACKING_URI points here."""
    from trainer.models import family_names
    from trainer.pipeline import prepare, skip_or_train
    from trainer.tracking import Store

    home = tmp_path_factory.mktemp("predict-store")
    data = write_tiny_snapshot(home / "tiny.csv")
    uri = f"sqlite:///{home / 'store' / 'mlflow.db'}"
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        run_ids = {}
        for family in family_names():
            config = home / f"{family}.yaml"
            document = {
                "endpoint": {"name": "solubility", "unit": "logS"},
                "data": {"path": str(data), "target_column": "logS", "on_invalid": "drop", "validation_fraction": 0.2},
                "model": {"family": family, **TINY_PARAMS[family]},
            }
            config.write_text(yaml.safe_dump(document))
            prepared = prepare(config)
            outcome = skip_or_train(prepared, Store(uri, prepared.config.experiment), 60, print)
            run_ids[family] = outcome.run_id
        yield TrainedStore(uri=uri, run_ids=run_ids)
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved


@pytest.fixture
def molecules(tmp_path: Path) -> Path:
    """Three valid molecules (one written non-canonically), one unparseable, one empty, extra columns kept."""
    path = tmp_path / "molecules.csv"
    path.write_text(
        "id,name,smiles,note\n"
        "1,ethanol,CCO,a\n"
        "2,junk,C1CC(,b\n"
        "3,aspirin,CC(=O)Oc1ccccc1C(=O)O,c\n"
        "4,empty,,d\n"
        "5,ethanol again,OCC,e\n"
    )
    return path
