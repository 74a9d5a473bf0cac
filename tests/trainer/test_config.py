"""Configs: canonical form ignores formatting, every refusal names the file and the key."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.config import load_config
from trainer.errors import BadInput

BASE = {
    "data": {"path": "data/solubility.csv", "target_column": "logS", "on_invalid": "drop"},
    "seed": 3,
    "model": {"family": "xgb", "learning_rate": 0.001, "max_depth": 4, "features": {"morgan_size": 1024}},
}


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def shuffled(value: object, rng: random.Random) -> object:
    """The same mapping with its keys in another order, at every level."""
    if not isinstance(value, dict):
        return value
    keys = list(value)
    rng.shuffle(keys)
    return {key: shuffled(value[key], rng) for key in keys}


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    flow=st.booleans(),
    indent=st.integers(min_value=2, max_value=6),
)
def test_key_order_and_yaml_style_do_not_change_the_canonical_form(tmp_path_factory, seed, flow, indent) -> None:
    tmp_path = tmp_path_factory.mktemp("c")
    reference = load_config(write(tmp_path, yaml.safe_dump(BASE)))
    text = yaml.safe_dump(shuffled(BASE, random.Random(seed)), default_flow_style=flow, sort_keys=False, indent=indent)
    variant = write(tmp_path, text, "v.yaml")
    assert load_config(variant).key_json() == reference.key_json()


def test_number_spelling_comments_and_explicit_defaults_do_not_change_the_key(tmp_path: Path) -> None:
    plain = load_config(write(tmp_path, yaml.safe_dump(BASE)))
    spelled = write(
        tmp_path,
        """
# a comment
model:
  family: xgb
  max_depth: 4
  learning_rate: 1e-3        # same number, the spelling users write
  features: {morgan_size: 1024, morgan_radius: 2}   # radius 2 is the default
  n_estimators: 2000                                 # the default too
seed: 3
data: {target_column: logS, path: data/solubility.csv, on_invalid: drop, smiles_column: smiles}
""",
        "spelled.yaml",
    )
    assert load_config(spelled).key_json() == plain.key_json()


@pytest.mark.parametrize(
    ("spelling", "value"),
    [("1e-3", 0.001), ("1E-3", 0.001), ("1.0e-3", 0.001), ("+1e-3", 0.001), (".001", 0.001), ("1_0e-4", 0.001)],
)
def test_every_yaml_number_spelling_is_a_number(tmp_path: Path, spelling: str, value: float) -> None:
    text = yaml.safe_dump(BASE).replace("learning_rate: 0.001", f"learning_rate: {spelling}")
    assert f"learning_rate: {spelling}" in text
    config = load_config(write(tmp_path, text))
    assert config.params.learning_rate == value
    assert config.key_json() == load_config(write(tmp_path, yaml.safe_dump(BASE), "plain.yaml")).key_json()


def test_whole_numbers_with_underscores_and_exponents_read_as_numbers(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE).replace("max_depth: 4", "max_depth: 4\n  n_estimators: 1_500")
    assert load_config(write(tmp_path, text)).params.n_estimators == 1500
    exponent = yaml.safe_dump(BASE).replace("max_depth: 4", "max_depth: 4\n  n_estimators: 1E3")
    with pytest.raises(BadInput, match=r"model.n_estimators: Input should be a valid integer"):
        load_config(write(tmp_path, exponent, "e.yaml"))


def test_a_quoted_number_stays_a_string_and_is_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE).replace("learning_rate: 0.001", "learning_rate: '0.001'")
    with pytest.raises(BadInput, match=r"c.yaml: model.learning_rate: Input should be a valid number"):
        load_config(write(tmp_path, text))


def test_canonical_form_has_every_default_and_sorted_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, yaml.safe_dump(BASE)))
    canonical = json.loads(config.canonical_json())
    assert canonical["model"]["n_estimators"] == 2000
    assert canonical["model"]["features"] == {"descriptors": "all", "morgan_radius": 2, "morgan_size": 1024}
    assert canonical["data"]["split"] == {
        "column": "split",
        "method": "column",
        "test_value": "test",
        "train_value": "train",
    }
    assert config.canonical_json() == json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def test_location_keys_stay_out_of_the_key_but_not_out_of_the_canonical_form(tmp_path: Path) -> None:
    moved = {
        **BASE,
        "experiment": "elsewhere",
        "data": {**BASE["data"], "path": "s3://bucket/solubility.csv"},
    }
    a = load_config(write(tmp_path, yaml.safe_dump(BASE)))
    b = load_config(write(tmp_path, yaml.safe_dump(moved), "moved.yaml"))
    assert a.key_json() == b.key_json()
    assert a.canonical_json() != b.canonical_json()


def test_a_hyperparameter_change_changes_the_key(tmp_path: Path) -> None:
    changed = {**BASE, "model": {**BASE["model"], "max_depth": 5}}
    a = load_config(write(tmp_path, yaml.safe_dump(BASE)))
    b = load_config(write(tmp_path, yaml.safe_dump(changed), "b.yaml"))
    assert a.key_json() != b.key_json()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model: {family: xgb, max_dept: 4}\ndata: {path: d.csv, target_column: y}",
            "model.max_dept: Extra inputs are not permitted",
        ),
        (
            "model: {family: xgb, max_depth: '4'}\ndata: {path: d.csv, target_column: y}",
            "model.max_depth: Input should be a valid integer",
        ),
        (
            "model: {family: xgb, max_depth: 0}\ndata: {path: d.csv, target_column: y}",
            "model.max_depth: Input should be greater than or equal to 1",
        ),
        (
            "model: {family: rf, features: {morgan_size: 0, descriptors: none}}\ndata: {path: d.csv, target_column: y}",
            "model.features: Value error, morgan_size 0 and descriptors none leave no features",
        ),
        (
            "model: {family: gbm}\ndata: {path: d.csv, target_column: y}",
            "model.family: unknown family 'gbm' (known: ",
        ),
        ("model: {family: rf}\ndata: {path: d.csv}", "data.target_column: Field required"),
        (
            "model: {family: rf}\ndata: {path: d.csv, target_column: y, validation_fraction: 1.5}",
            "data.validation_fraction: Input should be less than 1",
        ),
        (
            "model: {family: rf}\ndata: {path: d.csv, target_column: y, split: {method: cluster}}",
            "data.split: Input tag 'cluster' found using 'method' does not match",
        ),
        (
            "model: {family: rf}\ndata: {path: d.csv, target_column: y, on_invalid: ignore}",
            "data.on_invalid: Input should be 'error' or 'drop'",
        ),
        (
            "model: {family: rf}\ndata: {path: d.csv, target_column: y}\nseeds: 1",
            "seeds: Extra inputs are not permitted",
        ),
        ("model: {family: rf}\nmodel: {family: xgb}", "invalid YAML at line 2: key 'model' appears twice"),
        ("model: [rf", "invalid YAML at line 1: expected ',' or ']'"),
        ("- rf\n- xgb", "expected a mapping of keys at the top level"),
        ("data: {path: d.csv, target_column: y}", "model: expected a mapping with a 'family' key"),
        ("", "the file is empty; expected a mapping of keys at the top level"),
        ("# only a comment\n", "the file is empty; expected a mapping of keys at the top level"),
        ("seed: 0\n\tdata: {}", "invalid YAML at line 2: found character '\\t' that cannot start any token"),
    ],
)
def test_bad_configs_are_refused_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as refused:
        load_config(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"nope\.yaml: cannot read config \(No such file or directory\)"):
        load_config(tmp_path / "nope.yaml")


def test_a_folder_given_as_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as refused:
        load_config(tmp_path)
    assert str(refused.value) == f"{tmp_path}: cannot read config (Is a directory)"


def test_a_config_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("model: {family: rf}\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(BadInput) as refused:
        load_config(path)
    assert str(refused.value) == f"{path}: not UTF-8 text (byte 0xe9 on line 2)"
