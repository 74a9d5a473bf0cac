"""The skip look-up for a SQLite store, read straight from MLflow's tables.

Opening MLflow's SQLAlchemy store costs `import mlflow` (~1 s) plus ~0.5 s of SQLAlchemy and Alembic set-up,
which would make a run that has nothing to train slower than the training-free work it does. This read-only
query answers the same question as `MlflowClient.search_runs` with the filter in `trainer.tracking`
(tests/trainer/test_sqlite_lookup.py holds the two to the same answers on real stores): the newest active
run of the experiment that is FINISHED and carries both the run key and the completion tag.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

QUERY = """
SELECT runs.run_uuid
FROM runs
JOIN experiments ON experiments.experiment_id = runs.experiment_id
JOIN tags AS key_tag ON key_tag.run_uuid = runs.run_uuid AND key_tag.key = 'run_key'
JOIN tags AS done_tag ON done_tag.run_uuid = runs.run_uuid AND done_tag.key = ?
WHERE experiments.name = ? AND experiments.lifecycle_stage = 'active'
  AND runs.lifecycle_stage = 'active' AND runs.status = 'FINISHED'
  AND key_tag.value = ? AND done_tag.value = 'true'
ORDER BY runs.start_time DESC
LIMIT 1
"""


def find_complete_run(database: Path, experiment: str, run_key: str, complete_tag: str) -> str | None:
    """The id of the newest complete run holding `run_key`, or None (also when the store is new)."""
    if not database.is_file():
        return None
    connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=20)
    try:
        row = connection.execute(QUERY, (complete_tag, experiment, run_key)).fetchone()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return None
        raise
    finally:
        connection.close()
    return row[0] if row else None
