"""The SMILES-in pyfunc model every family is logged as: `predict(pd.DataFrame({"smiles": [...]}))`.

Featurisation lives inside the model, and the trainer package travels with it (code_paths), so the model
loads and predicts on new molecules anywhere the pinned requirements are installed.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema

from trainer.models import TrainedModel
from trainer.paths import PACKAGE, REQUIREMENTS

SMILES_COLUMN = "smiles"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", SMILES_COLUMN)]),
    outputs=Schema([ColSpec("double", "prediction")]),
)


# At class creation MLflow asks for predict() type hints, under a warnings filter of its own that no caller
# can override; the explicit SIGNATURE is what validates input here, so the request is kept off stderr.
with contextlib.redirect_stderr(io.StringIO()):

    class SmilesModel(mlflow.pyfunc.PythonModel):
        """Wraps a trained model of any family; unparseable SMILES get NaN."""

        def __init__(self, model: TrainedModel) -> None:
            self.model = model

        def predict(self, context, model_input, params=None):
            smiles = pd.DataFrame(model_input)[SMILES_COLUMN].astype(str).tolist()
            return pd.DataFrame({"prediction": self.model.predict(smiles)})


def log_pyfunc(model: TrainedModel, name: str, sample_smiles: Sequence[str]) -> ModelInfo:
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=SmilesModel(model),
        code_paths=[str(PACKAGE)],
        signature=SIGNATURE,
        input_example=pd.DataFrame({SMILES_COLUMN: list(sample_smiles[:3])}),
        pip_requirements=str(REQUIREMENTS),
    )
