"""The retrain matrix at the level of keys: which edits change which family's key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from trainer import runkey
from trainer.config import load_config
from trainer.data_file import content_hash

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's trainer, requirements, configs, data and README that tests may edit."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "trainer", copy / "trainer", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("requirements.txt", "README.md", "configs", "data"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, copy / name)
    monkeypatch.setattr(runkey, "PACKAGE", copy / "trainer")
    monkeypatch.setattr(runkey, "PROJECT", copy)
    monkeypatch.setattr(runkey, "REQUIREMENTS", copy / "requirements.txt")
    return copy


def keys(project: Path) -> dict[str, str]:
    result = {}
    for family in ("rf", "xgb"):
        config = load_config(project / "configs" / f"{family}.yaml")
        data = content_hash((project / config.data.path).read_bytes())
        result[family] = runkey.key_parts(family, config.key_json(), data).run_key
    return result


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {family for family in before if before[family] != after[family]}


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_a_hyperparameter_of_xgb_retrains_only_xgb(project: Path) -> None:
    before = keys(project)
    config = project / "configs" / "xgb.yaml"
    config.write_text(config.read_text().replace("max_depth: 6", "max_depth: 7"))
    assert changed(before, keys(project)) == {"xgb"}


def test_a_new_data_snapshot_retrains_everything(project: Path) -> None:
    before = keys(project)
    append(project / "data" / "solubility.csv", "9999,ethanol,CCO,1.1,train\n")
    assert changed(before, keys(project)) == {"rf", "xgb"}


def test_editing_the_rf_module_retrains_only_rf(project: Path) -> None:
    before = keys(project)
    append(project / "trainer" / "models" / "rf.py", "\n# tuned\n")
    assert changed(before, keys(project)) == {"rf"}


def test_editing_shared_code_or_requirements_retrains_everything(project: Path) -> None:
    before = keys(project)
    append(project / "trainer" / "models" / "_tabular.py", "\n# shared by rf and xgb\n")
    assert changed(before, keys(project)) == {"rf", "xgb"}
    middle = keys(project)
    append(project / "requirements.txt", "tqdm==4.70.1\n")
    assert changed(middle, keys(project)) == {"rf", "xgb"}


def test_readme_edits_and_yaml_reformatting_retrain_nothing(project: Path) -> None:
    before = keys(project)
    append(project / "README.md", "\nMore words.\n")
    for family in ("rf", "xgb"):
        path = project / "configs" / f"{family}.yaml"
        document = yaml.safe_load(path.read_text())
        reordered = dict(reversed(list(document.items())))
        path.write_text("# reformatted\n" + yaml.safe_dump(reordered, default_flow_style=True, sort_keys=False))
    assert changed(before, keys(project)) == set()


def test_code_files_are_what_the_pipeline_and_the_family_import() -> None:
    rf = {str(path.relative_to(ROOT)) for path in runkey.code_files("rf")}
    assert {
        "trainer/models/rf.py",
        "trainer/models/_tabular.py",
        "trainer/models/__init__.py",
        "trainer/pipeline.py",
        "trainer/features.py",
        "trainer/serving.py",
        "trainer/registry.py",
        "trainer/data_file.py",
        "trainer/strict.py",
        "trainer/paths.py",
        "trainer/chem.py",
        "trainer/table.py",
        "requirements.txt",
    } <= rf
    assert "trainer/models/xgb.py" not in rf
    assert not any("transformer" in name for name in rf)
    assert not {"trainer/cli.py", "trainer/__main__.py", "trainer/predict.py"} & rf
    transformer = {str(path.relative_to(ROOT)) for path in runkey.code_files("transformer")}
    assert {"trainer/models/transformer.py", "trainer/models/_transformer_net.py"} <= transformer
    assert "trainer/models/_tabular.py" not in transformer


def test_editing_the_command_line_or_predict_retrains_nothing(project: Path) -> None:
    before = keys(project)
    append(project / "trainer" / "cli.py", "\n# reworded output\n")
    append(project / "trainer" / "predict.py", "\n# another column\n")
    assert changed(before, keys(project)) == set()
