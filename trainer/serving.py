"""The SMILES-in pyfunc model every family is logged as: `predict(pd.DataFrame({"smiles": [...]}))`.

Each row comes back with its prediction (the replicates' mean), `std`, the 90% interval (`lower`, `upper`),
`similarity` to the training part and `in_domain`.

Featurisation lives inside the model, and the trainer package travels with it (code_paths), so the model
loads and predicts on new molecules anywhere the pinned requirements are installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema

from trainer.ensemble import Ensemble
from trainer.paths import PACKAGE, REQUIREMENTS

SMILES_COLUMN = "smiles"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", SMILES_COLUMN)]),
    outputs=Schema(
        [
            *(ColSpec("double", name) for name in ("prediction", "std", "lower", "upper", "similarity")),
            ColSpec("boolean", "in_domain"),
        ]
    ),
)


class SmilesModel(mlflow.pyfunc.PythonModel):
    """Wraps the replicates of any family; unparseable SMILES get NaN and an empty in_domain."""

    def __init__(self, model: Ensemble) -> None:
        self.model = model

    def predict(self, context: object, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        smiles = pd.DataFrame(model_input)[SMILES_COLUMN].astype(str).tolist()
        found = self.model.describe(smiles)
        known = np.isfinite(found.mean)
        return pd.DataFrame(
            {
                "prediction": found.mean,
                "std": found.std,
                "lower": found.lower,
                "upper": found.upper,
                "similarity": found.similarity,
                "in_domain": pd.array(np.where(known, found.in_domain, None), dtype="boolean"),
            }
        )


def log_pyfunc(model: Ensemble, name: str, sample_smiles: Sequence[str]) -> ModelInfo:
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=SmilesModel(model),
        code_paths=[str(PACKAGE)],
        signature=SIGNATURE,
        input_example=pd.DataFrame({SMILES_COLUMN: list(sample_smiles[:3])}),
        pip_requirements=str(REQUIREMENTS),
    )
