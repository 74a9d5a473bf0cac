"""`invoke predict` on a file with valid and invalid rows, against models trained through the real pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from trainer.errors import BadInput
from trainer.predict import model_uris, predict_file

INPUT_COLUMNS = ["id", "name", "smiles", "note"]
TRUST = ("std", "lower", "upper", "similarity", "in_domain")


def group(base: str) -> list[str]:
    """A model's column group: its prediction and what says how far to trust it."""
    return [base, *(f"{base}_{name}" for name in TRUST)]


def pyfunc_predictions(uri: str, smiles: list[str]) -> np.ndarray:
    return mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"smiles": smiles}))["prediction"].to_numpy()


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_a_registered_champion_predicts_valid_rows_and_explains_the_invalid_ones(
    trained_store, molecules: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    said = predict_file("ai-drug-solubility-xgb@champion", str(molecules), str(output), "smiles").line()
    assert said.startswith(
        f"{output}: 5 rows (prediction = models:/ai-drug-solubility-xgb@champion); 2 with invalid SMILES"
    )
    written = read(output)
    assert list(written.columns) == [*INPUT_COLUMNS, *group("prediction"), "reason"]
    for column in group("prediction"):
        assert written[column].iloc[[1, 3]].tolist() == ["", ""], column
    assert written["prediction_in_domain"].iloc[[0, 2, 4]].isin(["True", "False"]).all()
    assert written[INPUT_COLUMNS].equals(read(molecules)), "input columns come back unchanged"
    assert written["prediction"].iloc[[1, 3]].tolist() == ["", ""]
    assert written["reason"].tolist() == ["", "SMILES does not parse", "", "SMILES is empty", ""]
    expected = pyfunc_predictions(
        f"runs:/{trained_store.run_ids['xgb']}/pyfunc", ["CCO", "CC(=O)Oc1ccccc1C(=O)O", "OCC"]
    )
    np.testing.assert_allclose(written["prediction"].iloc[[0, 2, 4]].astype(float), expected, rtol=1e-9)


def test_without_a_model_every_champion_predicts_side_by_side(trained_store, molecules: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    predict_file("", str(molecules), str(output), "smiles")
    written = read(output)
    columns = ["solubility_rf_logS", "solubility_transformer_logS", "solubility_xgb_logS"]
    assert list(written.columns) == [*INPUT_COLUMNS, *(name for column in columns for name in group(column)), "reason"]
    for column, family in zip(columns, ["rf", "transformer", "xgb"], strict=True):
        values = written[column].iloc[[0, 2, 4]].astype(float).to_numpy()
        uri = f"runs:/{trained_store.run_ids[family]}/pyfunc"
        np.testing.assert_allclose(values, pyfunc_predictions(uri, ["CCO", "CC(=O)Oc1ccccc1C(=O)O", "OCC"]), rtol=1e-6)
        assert written[column].iloc[[1, 3]].tolist() == ["", ""]
    # Every family canonicalises first, so both spellings of ethanol get one prediction.
    assert (written.loc[0, columns] == written.loc[4, columns]).all()


@pytest.mark.parametrize("form", ["runs", "models-version", "bare-name"])
def test_run_and_model_uris_and_a_bare_name_work_too(trained_store, molecules: Path, tmp_path: Path, form: str) -> None:
    spec = {
        "runs": f"runs:/{trained_store.run_ids['transformer']}/pyfunc",
        "models-version": "models:/ai-drug-solubility-transformer/1",
        "bare-name": "ai-drug-solubility-transformer",
    }[form]
    output = tmp_path / "out.csv"
    predict_file(spec, str(molecules), str(output), "smiles")
    values = read(output)["prediction"]
    expected = pyfunc_predictions(
        f"runs:/{trained_store.run_ids['transformer']}/pyfunc", ["CCO", "CC(=O)Oc1ccccc1C(=O)O", "OCC"]
    )
    np.testing.assert_allclose(values.iloc[[0, 2, 4]].astype(float), expected, rtol=1e-6)
    assert values.iloc[[1, 3]].tolist() == ["", ""]


def test_model_specs_resolve_to_uris(trained_store) -> None:
    assert model_uris("ai-drug-solubility-xgb@champion") == {"prediction": "models:/ai-drug-solubility-xgb@champion"}
    assert model_uris("ai-drug-rf") == {"prediction": "models:/ai-drug-rf@champion"}, "a name from an older store"
    assert model_uris("models:/ai-drug-rf/3") == {"prediction": "models:/ai-drug-rf/3"}
    assert model_uris("@challenger")["solubility_xgb_logS"] == "models:/ai-drug-solubility-xgb@challenger"
    assert set(model_uris("")) == {"solubility_rf_logS", "solubility_transformer_logS", "solubility_xgb_logS"}
    assert model_uris("", endpoint="solubility") == model_uris("")
    with pytest.raises(BadInput, match=r"^--endpoint solubility: give it without --model"):
        model_uris("ai-drug-solubility-xgb", endpoint="solubility")


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        ("no such model", "--model models:/ai-drug-nothing@champion: Registered Model with name=ai-drug-nothing"),
        (
            "no such alias",
            "--model models:/ai-drug-solubility-xgb@challenger: Registered model alias challenger not found",
        ),
        ("no such run", "--model runs:/0123456789abcdef0123456789abcdef/pyfunc: Run with id="),
        ("not a SMILES model", "not a SMILES-in model"),
        ("no such file", "--input {tmp}/absent.csv: no such file"),
        ("no SMILES column", "--input {input}: no column 'structure' (columns: id, name, smiles, note)"),
        ("no output folder", "--output {tmp}/nowhere/out.csv: folder {tmp}/nowhere does not exist"),
        ("output is the input", "--output {input}: is the --input file; write the predictions to another file"),
        ("input is a folder", "--input {tmp}: is a folder"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_writes_nothing(
    trained_store, molecules: Path, tmp_path: Path, case: str, complaint: str
) -> None:
    model, source, column = "ai-drug-solubility-xgb@champion", str(molecules), "smiles"
    if case == "no such model":
        model = "ai-drug-nothing@champion"
    elif case == "no such alias":
        model = "ai-drug-solubility-xgb@challenger"
    elif case == "no such run":
        model = "runs:/0123456789abcdef0123456789abcdef/pyfunc"
    elif case == "not a SMILES model":
        model = f"runs:/{trained_store.run_ids['xgb']}/model"
    elif case == "no such file":
        source = str(tmp_path / "absent.csv")
    elif case == "no SMILES column":
        column = "structure"
    elif case == "input is a folder":
        source = str(tmp_path)
    output = tmp_path / ("nowhere" if case == "no output folder" else "") / "out.csv"
    if case == "output is the input":
        output = molecules
    before = molecules.read_bytes()
    with pytest.raises(BadInput) as refusal:
        predict_file(model, source, str(output), column)
    assert "\n" not in str(refusal.value)
    assert complaint.format(tmp=tmp_path, input=molecules) in str(refusal.value)
    assert [path.name for path in tmp_path.iterdir()] == ["molecules.csv"]
    assert molecules.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"", "--input {input}: not a readable CSV file (No columns to parse from file)"),
        (b"smiles\nCCO\n\xe9thanol\n", "--input {input}: not UTF-8 text (byte 0xe9 on line 3)"),
    ],
)
def test_an_empty_or_non_utf8_input_is_refused_in_one_line(tmp_path: Path, content: bytes, complaint: str) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    with pytest.raises(BadInput) as refusal:
        predict_file("ai-drug-solubility-xgb@champion", str(source), str(tmp_path / "out.csv"), "smiles")
    assert str(refusal.value) == complaint.format(input=source)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


def test_invoke_predict_from_the_command_line(
    trained_store, molecules: Path, tmp_path: Path, project_root: Path
) -> None:
    output = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "predict", "--input", str(molecules), "--output", str(output)],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "2 with invalid SMILES" in done.stdout
    assert read(output).shape == (5, len(INPUT_COLUMNS) + 3 * len(group("x")) + 1)
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "predict", "--input", str(tmp_path / "absent.csv"), "--output", str(output)],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"error: --input {tmp_path / 'absent.csv'}: no such file"


def test_no_tracking_store_is_bad_input_and_creates_none(
    molecules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "store" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    with pytest.raises(BadInput, match="no tracking store at"):
        predict_file("", str(molecules), str(tmp_path / "out.csv"), "smiles")
    assert not database.parent.exists()


class OldStyle(mlflow.pyfunc.PythonModel):
    """A model as stores from before endpoints hold them: one `prediction` column, no uncertainty."""

    def predict(self, context: object, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return pd.DataFrame({"prediction": [1.5] * len(model_input)})


def test_a_model_registered_before_endpoints_still_predicts_and_stays_out_of_the_panel(
    trained_store, molecules: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    client = MlflowClient(trained_store.uri)
    mlflow.set_tracking_uri(trained_store.uri)
    signature = ModelSignature(Schema([ColSpec("string", "smiles")]), Schema([ColSpec("double", "prediction")]))
    with mlflow.start_run(experiment_id=client.get_experiment_by_name("ai-drug").experiment_id):
        logged = mlflow.pyfunc.log_model(
            name="pyfunc",
            python_model=OldStyle(),
            signature=signature,
            input_example=pd.DataFrame({"smiles": ["CCO"]}),
            pip_requirements=[],
        )
    client.create_registered_model("ai-drug-xgb")  # the old name: no endpoint, unit or family tags
    version = client.create_model_version("ai-drug-xgb", logged.model_uri, model_id=logged.model_id).version
    client.set_registered_model_alias("ai-drug-xgb", "champion", version)

    old = tmp_path / "old.csv"
    predict_file("ai-drug-xgb@champion", str(molecules), str(old), "smiles")
    written = read(old)
    assert list(written.columns) == [*INPUT_COLUMNS, "prediction", "reason"]
    assert written["prediction"].tolist() == ["1.5", "", "1.5", "", "1.5"]
    assert "ai-drug-xgb" not in str(model_uris("")), "the panel lists only models that name their endpoint"
