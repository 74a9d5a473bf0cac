"""`invoke predict`: registered or logged SMILES-in models applied to a CSV file, one prediction per row.

The input's columns are kept and each model adds a prediction column. A row whose SMILES RDKit cannot
parse gets an empty prediction and a reason; that is not an error. A missing model, file or SMILES column
is bad input (exit 2), and no output file is written then.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.chem import molecule
from trainer.errors import BadInput, say
from trainer.models import family_names
from trainer.registry import CHAMPION, registered_name
from trainer.table import read_table
from trainer.tracking import tracking_uri
from trainer.tracking_server import reach

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

REASON_COLUMN = "reason"


@dataclass(frozen=True)
class Report:
    output: Path
    rows: int
    invalid: int
    unpredicted: int
    models: dict[str, str]
    absent: list[str]

    def line(self) -> str:
        used = ", ".join(f"{column} = {uri}" for column, uri in self.models.items())
        text = f"{self.output}: {self.rows} rows ({used}); {self.invalid} with invalid SMILES"
        if self.unpredicted:
            text += f", {self.unpredicted} more the model could not use"
        if self.invalid or self.unpredicted:
            text += f" (empty prediction, see the {REASON_COLUMN} column)"
        if self.absent:
            text += f"; no model at {', '.join(self.absent)}"
        return text


def model_uris(spec: str) -> dict[str, str]:
    """Prediction column -> model URI.

    Empty: every family's champion, one column each; `@alias`: every family's version at that alias;
    `name@alias` or a bare registered name (its champion): that model; `runs:/` and `models:/` URIs as given.
    """
    spec = spec.strip()
    if not spec or spec.startswith("@"):
        alias = spec.removeprefix("@") or CHAMPION
        return {f"prediction_{family}": f"models:/{registered_name(family)}@{alias}" for family in family_names()}
    if spec.startswith(("runs:/", "models:/")):
        return {"prediction": spec}
    return {"prediction": f"models:/{spec if '@' in spec else f'{spec}@{CHAMPION}'}"}


def predict_file(model: str, input_path: str, output_path: str, smiles_column: str) -> Report:
    """Write the input's rows with one prediction column per model; raises BadInput naming the flag."""
    frame = _read_input(input_path, smiles_column)
    output = _checked_output(output_path, Path(input_path))
    wanted = model_uris(model)
    clashes = [column for column in [*wanted, REASON_COLUMN] if column in frame.columns]
    if clashes:
        raise BadInput(f"--input {input_path}: already has a column {clashes[0]!r}, which the output would overwrite")
    reach(tracking_uri(), say)
    loaded = _load_models(wanted, all_optional=not model.strip() or model.strip().startswith("@"))

    import numpy as np

    from trainer.serving import SMILES_COLUMN

    valid, reasons = _parse(frame[smiles_column].tolist())
    unpredicted = np.zeros(len(frame), dtype=bool)
    for column, pyfunc in loaded.items():
        values = np.full(len(frame), np.nan)
        if valid.any():
            batch = frame.loc[valid, smiles_column].str.strip().to_frame(SMILES_COLUMN)
            values[valid] = pyfunc.predict(batch)["prediction"].to_numpy(dtype=float)
        frame[column] = values
        unpredicted |= valid & np.isnan(values)
    for row in np.flatnonzero(unpredicted):
        missing = [column for column in loaded if np.isnan(frame[column].iat[row])]
        reasons[row] = f"no prediction from {', '.join(missing)}"
    frame[REASON_COLUMN] = reasons
    _write_atomically(frame, output)
    return Report(
        output=output,
        rows=len(frame),
        invalid=int((~valid).sum()),
        unpredicted=int(unpredicted.sum()),
        models={column: wanted[column] for column in loaded},
        absent=[wanted[column] for column in wanted if column not in loaded],
    )


def _read_input(input_path: str, smiles_column: str) -> pd.DataFrame:
    if not input_path:
        raise BadInput("--input: required (a CSV file with a SMILES column)")
    path = Path(input_path)
    if path.is_dir():
        raise BadInput(f"--input {path}: is a folder")
    if not path.is_file():
        raise BadInput(f"--input {path}: no such file")
    return read_table(path.read_bytes(), f"--input {path}", [smiles_column])


def _checked_output(output_path: str, input_path: Path) -> Path:
    if not output_path:
        raise BadInput("--output: required (where to write the predictions CSV)")
    path = Path(output_path)
    if path.exists() and path.resolve() == input_path.resolve():
        raise BadInput(f"--output {path}: is the --input file; write the predictions to another file")
    if not path.parent.is_dir():
        raise BadInput(f"--output {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise BadInput(f"--output {path}: is a folder")
    return path


def _load_models(wanted: dict[str, str], all_optional: bool) -> dict[str, object]:
    """Load each pyfunc model; a missing one is bad input unless others may stand in (all champions)."""
    loaded, absent = {}, []
    for column, uri in wanted.items():
        try:
            loaded[column] = _load(uri)
        except BadInput as err:
            if not all_optional:
                raise
            absent.append(str(err))
    if not loaded:
        raise BadInput(f"--model: no registered model found ({'; '.join(absent)}); train first")
    return loaded


def _load(uri: str):
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from trainer.serving import SMILES_COLUMN
    from trainer.tracking import NOT_FOUND_CODES, quiet_mlflow, sqlite_path, tracking_uri

    quiet_mlflow()
    store = tracking_uri()
    database = sqlite_path(store)
    if database is not None and not database.is_file():
        raise BadInput(f"--model {uri}: no tracking store at {database}")
    mlflow.set_tracking_uri(store)
    try:
        model = mlflow.pyfunc.load_model(uri)
    except MlflowException as err:
        if err.error_code in NOT_FOUND_CODES:
            raise BadInput(f"--model {uri}: {str(err).splitlines()[0]}") from err
        raise
    schema = model.metadata.get_input_schema()
    if schema is None or SMILES_COLUMN not in schema.input_names():
        raise BadInput(f"--model {uri}: not a SMILES-in model (its input has no {SMILES_COLUMN!r} column)")
    return model


def _parse(smiles: list[str]) -> tuple[np.ndarray, list[str]]:
    """A mask of the rows whose SMILES RDKit parses, and a reason for each row that does not."""
    import numpy as np

    valid = np.zeros(len(smiles), dtype=bool)
    reasons = [""] * len(smiles)
    for row, text in enumerate(smiles):
        text = text.strip()
        if not text:
            reasons[row] = "SMILES is empty"
        elif molecule(text) is None:
            reasons[row] = "SMILES does not parse"
        else:
            valid[row] = True
    return valid, reasons


def _write_atomically(frame: pd.DataFrame, output: Path) -> None:
    """Write beside the target and rename, so a failure never leaves half a file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            frame.to_csv(stream, index=False)
        Path(temporary).replace(output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
