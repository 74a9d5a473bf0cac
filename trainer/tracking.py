"""MLflow: where the store is, finding a finished run by key, and the lifecycle of a training run.

A run counts as done only when it is FINISHED and carries the completion tag, which the pipeline writes
after the model and every artifact are stored: a failed, killed or half-logged run never blocks a new one.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.errors import RunKilled, Terminated, terminations
from trainer.paths import PROJECT
from trainer.rest_lookup import newest_finished_run
from trainer.sqlite_lookup import find_complete_run
from trainer.tracking_server import is_server

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

EMBEDDED_STORE = PROJECT / ".mlflow"
COMPLETE_TAG = "run_complete"
# MLflow's error codes for a run, model, version or alias that is not there: stores and servers differ.
NOT_FOUND_CODES = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE")


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, else the embedded SQLite store inside the project."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{EMBEDDED_STORE / 'mlflow.db'}"


def quiet_mlflow() -> None:
    """Keep MLflow's info logs and download progress bars off stderr, where the one-line outcomes go, and its
    "View run at" links (printed for a server store) off stdout."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # It logs every database error with its traceback before raising it (hundreds of lines on a full disk);
    # the caller reports the error itself in one line.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI; None for any other store."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def artifact_root(uri: str) -> str | None:
    """Artifacts of a SQLite store live beside it; a server store decides for itself."""
    database = sqlite_path(uri)
    return (database.parent / "artifacts").as_uri() if database else None


def server_command(host: str, port: int) -> list[str]:
    """`mlflow server` on the store that training writes to."""
    uri = tracking_uri()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    if root := artifact_root(uri):
        command += ["--default-artifact-root", root]
    return [*command, "--host", host, "--port", str(port)]


class Store:
    """One experiment in one tracking store; MLflow is imported only when a look-up needs it."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.uri = uri
        self.experiment = experiment

    @cached_property
    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

        if database := sqlite_path(self.uri):
            database.parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=self.uri)

    def _experiment_id(self) -> str | None:
        found = self.client.get_experiment_by_name(self.experiment)
        return found.experiment_id if found else None

    def ensure_experiment(self) -> str:
        """Create the experiment once; another process creating it first is success too (mlflow#12259)."""
        from mlflow.exceptions import MlflowException

        if existing := self._experiment_id():
            return existing
        try:
            return self.client.create_experiment(self.experiment, artifact_location=artifact_root(self.uri))
        except MlflowException:
            if existing := self._experiment_id():
                return existing
            raise

    def find_complete(self, run_key: str) -> str | None:
        """The id of the newest FINISHED run that holds `run_key` and the completion tag."""
        if database := sqlite_path(self.uri):
            return find_complete_run(database, self.experiment, run_key, COMPLETE_TAG)
        condition = f"tags.run_key = '{run_key}' AND tags.{COMPLETE_TAG} = 'true'"
        if is_server(self.uri):
            return newest_finished_run(self.uri, self.experiment, _finished(condition))
        found = self._newest(condition)
        return found.info.run_id if found else None

    def newest_of_family(self, family: str, endpoint: str) -> Run | None:
        condition = f"tags.model_family = '{family}' AND tags.endpoint = '{endpoint}'"
        return self._newest(f"{condition} AND tags.{COMPLETE_TAG} = 'true'")

    def _newest(self, condition: str) -> Run | None:
        if (database := sqlite_path(self.uri)) and not database.is_file():
            return None
        experiment_id = self._experiment_id()
        if experiment_id is None:
            return None
        runs = self.client.search_runs(
            [experiment_id],
            _finished(condition),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0] if runs else None


def _finished(condition: str) -> str:
    return f"{condition} AND attributes.status = 'FINISHED'"


@contextmanager
def training_run(store: Store, tags: dict[str, str]) -> Iterator[Run]:
    """An active MLflow run: FINISHED if the body returns, KILLED on SIGTERM or Ctrl-C (raised as RunKilled),
    FAILED otherwise."""
    import mlflow

    mlflow.set_tracking_uri(store.uri)
    run = mlflow.start_run(experiment_id=store.ensure_experiment(), tags=tags, log_system_metrics=False)
    signals_before = terminations()
    try:
        yield run
    except (Terminated, KeyboardInterrupt) as interrupt:
        mlflow.end_run("KILLED")
        raise RunKilled(run.info.run_id) from interrupt
    except BaseException as err:
        if terminations() > signals_before:  # a native callback swallowed the SIGTERM and failed instead
            mlflow.end_run("KILLED")
            raise RunKilled(run.info.run_id) from err
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def mark_complete() -> None:
    """The last write of a training run: its model and artifacts are all stored."""
    import mlflow

    mlflow.set_tag(COMPLETE_TAG, "true")
