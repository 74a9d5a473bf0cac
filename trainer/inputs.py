"""The snapshot a run saw, as MLflow dataset inputs, so the UI shows which data each run trained and was tested on.

Both parts carry the snapshot's data hash as their digest (MLflow keeps 36 characters of it) and its location
(a path or an s3:// URI) as their source; the training part includes the validation carve.
"""

from __future__ import annotations

import time
import warnings
from pathlib import PurePosixPath

import numpy as np

from trainer.data import SplitData

DIGEST_LENGTH = 36


def log_snapshot(location: str, data_hash: str, split: SplitData, smiles_column: str, target_column: str) -> None:
    import mlflow
    import pandas as pd

    parts = {
        "train": ([*split.train.smiles, *split.valid.smiles], np.concatenate([split.train.y, split.valid.y])),
        "test": (split.test.smiles, split.test.y),
    }
    for context, (smiles, targets) in parts.items():
        frame = pd.DataFrame({smiles_column: smiles, target_column: targets})
        with warnings.catch_warnings():
            # A plain path matches two of MLflow's source types, which are the same class; it says so on stderr.
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_pandas(
                frame,
                source=location,
                targets=target_column,
                name=f"{PurePosixPath(location).name} ({context})",
                digest=data_hash[:DIGEST_LENGTH],
            )
        _log_input(dataset, context)


def _log_input(dataset: object, context: str) -> None:
    """Two runs that log the same snapshot at once race in the server's get-or-create of its dataset row, and one
    gets a unique-key error; the row exists then, so another try links it to the run."""
    import mlflow
    from mlflow.exceptions import MlflowException

    for attempt in range(3):
        try:
            mlflow.log_input(dataset, context=context)
            return
        except MlflowException as err:
            if attempt == 2 or "unique" not in str(err).lower():
                raise
            time.sleep(0.5 * (attempt + 1))
