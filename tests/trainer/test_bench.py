"""`invoke bench` takes its quality figures from the pipeline's outcomes, not from printed lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from ops.bench import _train_every_config
from tests.trainer.conftest import TINY_PARAMS


def test_bench_trains_every_config_of_a_project_into_its_store(tmp_path: Path, tiny_csv: Path) -> None:
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    shutil.copy(tiny_csv, root / "tiny.csv")
    for family in ("rf", "xgb"):
        document = {
            "data": {"path": "tiny.csv", "target_column": "logS", "on_invalid": "drop"},
            "model": {"family": family, **TINY_PARAMS[family]},
        }
        (root / "configs" / f"{family}.yaml").write_text(yaml.safe_dump(document))
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"

    first = _train_every_config(root, uri)
    assert [(str(o.path), o.family, o.action) for o in first] == [
        ("configs/rf.yaml", "rf", "trained"),
        ("configs/xgb.yaml", "xgb", "trained"),
    ]
    assert all(0.2 < o.test_rmse < 3.0 and o.seconds > 0 for o in first)
    again = _train_every_config(root, uri)
    assert [(o.action, o.run_id, o.test_rmse) for o in again] == [("skipped", o.run_id, None) for o in first]
