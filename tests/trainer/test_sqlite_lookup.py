"""The direct SQLite skip look-up gives the same answers as MLflow's own search on the same store."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from trainer.sqlite_lookup import find_complete_run
from trainer.tracking import COMPLETE_TAG


def mlflow_answer(client: MlflowClient, experiment_id: str, key: str) -> str | None:
    runs = client.search_runs(
        [experiment_id],
        f"tags.run_key = '{key}' AND tags.{COMPLETE_TAG} = 'true' AND attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


# Each run key names the case it tests: (experiment, status, completion tag written, deleted).
def write_lookup_cases(client: MlflowClient, experiment: str, other: str) -> tuple[list[str], str]:
    """Runs of every kind a skip look-up must tell apart, plus a newer complete run of the first key; the keys and
    that newer run's id."""
    cases = {
        "finished-complete": (experiment, "FINISHED", True, False),
        "failed-complete": (experiment, "FAILED", True, False),
        "killed-complete": (experiment, "KILLED", True, False),
        "running-complete": (experiment, "RUNNING", True, False),
        "finished-incomplete": (experiment, "FINISHED", False, False),
        "deleted": (experiment, "FINISHED", True, True),
        "other-experiment": (other, "FINISHED", True, False),
    }
    for key, (experiment_id, status, complete, deleted) in cases.items():
        run = client.create_run(experiment_id, tags={"run_key": key, **({COMPLETE_TAG: "true"} if complete else {})})
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status)
        if deleted:
            client.delete_run(run.info.run_id)
    newer = client.create_run(experiment, tags={"run_key": "finished-complete", COMPLETE_TAG: "true"})
    client.set_terminated(newer.info.run_id, "FINISHED")
    return list(cases), newer.info.run_id


def test_sqlite_look_up_agrees_with_mlflow_search(tmp_path: Path) -> None:
    database = tmp_path / "mlflow.db"
    client = MlflowClient(f"sqlite:///{database}")
    experiment = client.create_experiment("ai-drug", artifact_location=(tmp_path / "a").as_uri())
    other = client.create_experiment("other", artifact_location=(tmp_path / "b").as_uri())
    cases, newer = write_lookup_cases(client, experiment, other)

    for key in [*cases, "never-seen"]:
        expected = mlflow_answer(client, experiment, key)
        assert find_complete_run(database, "ai-drug", key, COMPLETE_TAG) == expected, key
    assert find_complete_run(database, "ai-drug", "finished-complete", COMPLETE_TAG) == newer
    assert find_complete_run(database, "other", "other-experiment", COMPLETE_TAG) is not None


def test_a_store_that_does_not_exist_yet_holds_no_run(tmp_path: Path) -> None:
    assert find_complete_run(tmp_path / "absent.db", "ai-drug", "k", COMPLETE_TAG) is None
    assert not (tmp_path / "absent.db").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert find_complete_run(empty, "ai-drug", "k", COMPLETE_TAG) is None
